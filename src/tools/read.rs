//! `read {path, offset?, limit?}`: a text file, from line `offset` (1-based), at most `limit`
//! lines, and never more than 2,000 lines or 50 KB at once; a note says how to go on.

use serde::Deserialize;

use super::{FileRoot, Output};

pub const MAX_LINES: usize = 2000;
pub const MAX_BYTES: usize = 50 * 1024;

#[derive(Debug, Deserialize)]
pub struct Args {
    pub path: String,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub limit: Option<usize>,
}

pub fn run(root: &dyn FileRoot, a: Args) -> Output {
    let bytes = match root.read(&a.path) {
        Ok(b) => b,
        Err(e) => return Output::error(format!("cannot read {}: {e}", a.path)),
    };
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Output::error(format!("{} is a binary file ({} bytes); not shown", a.path, bytes.len()));
    }
    Output::ok(window(&String::from_utf8_lossy(&bytes), a.offset.unwrap_or(1).max(1), a.limit))
}

/// Lines `start..` (1-based) of `text`, capped, with a note when anything was left out.
pub fn window(text: &str, start: usize, limit: Option<usize>) -> String {
    let total = text.lines().count();
    if start > total.max(1) {
        return format!("[offset {start} is past the end: the file has {total} lines]");
    }
    let want = limit.unwrap_or(MAX_LINES).min(MAX_LINES);
    let mut out = String::new();
    let mut shown = 0;
    let mut cut_by_size = false;
    for line in text.lines().skip(start - 1).take(want) {
        if out.len() + line.len() + 1 > MAX_BYTES {
            cut_by_size = true;
            break;
        }
        out.push_str(line);
        out.push('\n');
        shown += 1;
    }
    let last = start - 1 + shown;
    if last < total {
        let why = if cut_by_size {
            "50 KB"
        } else if shown == MAX_LINES {
            "2000 lines"
        } else {
            "limit"
        };
        out.push_str(&format!(
            "\n[truncated at {why}: showing lines {start}-{last} of {total}; read on with offset={}]",
            last + 1
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_files_are_cut_at_2000_lines_with_a_note() {
        let text: String = (1..=2500).map(|i| format!("{i}\n")).collect();
        let w = window(&text, 1, None);
        assert!(w.starts_with("1\n2\n"));
        assert!(
            w.ends_with("[truncated at 2000 lines: showing lines 1-2000 of 2500; read on with offset=2001]"),
            "{w}"
        );
        let w = window(&text, 2001, None);
        assert!(w.starts_with("2001\n") && w.ends_with("2500\n"), "the rest, no note");
        assert!(window(&text, 10, Some(2)).starts_with("10\n11\n\n[truncated at limit"));
        assert!(window(&text, 3000, None).contains("past the end"));
    }

    #[test]
    fn wide_files_are_cut_at_50_kb() {
        let text = format!("{}\n", "x".repeat(1000)).repeat(100);
        let w = window(&text, 1, None);
        assert!(w.len() < MAX_BYTES + 200);
        assert!(
            w.contains("[truncated at 50 KB: showing lines 1-51 of 100; read on with offset=52]"),
            "{}",
            &w[w.len() - 120..]
        );
    }
}
