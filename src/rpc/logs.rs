//! `logs.tail`: lines of the JSON-lines file log from a byte cursor.

use std::io::{Read, Seek, SeekFrom};

use serde_json::{Value, json};

use super::Params;
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

const DEFAULT_LIMIT: u64 = 200;
const DEFAULT_MAX_BYTES: u64 = 250_000;

pub fn tail(s: &Runtime, p: &Params<'_>) -> Result<Value, ErrorShape> {
    p.only(&["cursor", "limit", "maxBytes"])?;
    let cursor = p.opt_u64("cursor", 0, u64::MAX)?;
    let limit = p.opt_u64("limit", 1, 5000)?.unwrap_or(DEFAULT_LIMIT) as usize;
    let max_bytes = p.opt_u64("maxBytes", 1, 1_000_000)?.unwrap_or(DEFAULT_MAX_BYTES);
    let live = s.config();
    let Some(file) = crate::logging::log_file_path(&live.loaded.config, &s.options.paths) else {
        return Err(ErrorShape::unavailable("file logging is off (logging.file: false)"));
    };
    let mut f = match std::fs::File::open(&file) {
        Ok(f) => f,
        Err(e) => return Err(ErrorShape::unavailable(format!("cannot read the log file {}: {e}", file.display()))),
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    // No cursor: the last `maxBytes`. A cursor past the end means the file was rotated.
    let (start, reset) = match cursor {
        Some(c) if c <= size => (c, false),
        Some(_) => (0, true),
        None => (size.saturating_sub(max_bytes), false),
    };
    let want = (size - start).min(max_bytes);
    let mut buf = Vec::with_capacity(want as usize);
    f.seek(SeekFrom::Start(start)).map_err(|e| ErrorShape::unavailable(e.to_string()))?;
    f.take(want).read_to_end(&mut buf).map_err(|e| ErrorShape::unavailable(e.to_string()))?;
    let text = String::from_utf8_lossy(&buf);
    // Only whole lines: a partial last line waits for the next call.
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut lines: Vec<&str> = text[..complete].lines().collect();
    // Without a cursor the first line may be cut by the byte window.
    if cursor.is_none() && start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let truncated = lines.len() > limit || start + want < size;
    let skip = lines.len().saturating_sub(limit);
    let next = start + complete as u64;
    Ok(
        json!({"file": file, "cursor": next, "size": size, "lines": &lines[skip..], "truncated": truncated, "reset": reset}),
    )
}
