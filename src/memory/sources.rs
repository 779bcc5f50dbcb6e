//! What an agent's memory index holds: the workspace's `MEMORY.md` and `memory/**/*.md`,
//! the configured extra paths (Markdown files, directories walked for `.md`), and, when
//! configured, the session transcripts rendered as `User:` / `Assistant:` lines. Symbolic
//! links are not followed: memory is what the agent's own files say.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One file to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The name results and memory_get use: relative to the workspace when inside it,
    /// `sessions/<file>` for transcripts, else the absolute path.
    pub key: String,
    pub abs: PathBuf,
    /// "memory" or "sessions".
    pub source: &'static str,
}

/// Where an agent's sources are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub workspace: PathBuf,
    /// Resolved extra paths.
    pub extra: Vec<PathBuf>,
    /// The transcripts directory, when sessions are a source.
    pub sessions: Option<PathBuf>,
    /// Whether the memory files are a source.
    pub memory: bool,
}

fn is_md(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("md"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            walk(&e.path(), out);
        } else if t.is_file() && is_md(&e.path()) {
            out.push(e.path());
        }
    }
}

impl Roots {
    /// The name of `abs` in results.
    pub fn key(&self, abs: &Path) -> String {
        match abs.strip_prefix(&self.workspace) {
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => abs.to_string_lossy().into_owned(),
        }
    }

    /// Every source file now, sorted by key, each once.
    pub fn list(&self) -> Vec<SourceFile> {
        let mut md = Vec::new();
        if self.memory {
            let main = self.workspace.join("MEMORY.md");
            if std::fs::symlink_metadata(&main).is_ok_and(|m| m.is_file()) {
                md.push(main);
            }
            walk(&self.workspace.join("memory"), &mut md);
            for p in &self.extra {
                match std::fs::symlink_metadata(p) {
                    Ok(m) if m.is_dir() => walk(p, &mut md),
                    Ok(m) if m.is_file() && is_md(p) => md.push(p.clone()),
                    _ => {}
                }
            }
        }
        let mut out: Vec<SourceFile> =
            md.into_iter().map(|abs| SourceFile { key: self.key(&abs), abs, source: "memory" }).collect();
        if let Some(dir) = &self.sessions
            && let Ok(rd) = std::fs::read_dir(dir)
        {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".jsonl") && e.file_type().is_ok_and(|t| t.is_file()) {
                    out.push(SourceFile { key: format!("sessions/{name}"), abs: e.path(), source: "sessions" });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        out
    }

    /// Whether `key` names a memory file or extra path memory_get may read (a Markdown file
    /// in the memory sources; never a path climbing out).
    pub fn readable(&self, key: &str) -> Option<PathBuf> {
        if key.split('/').any(|s| s == "..") || !is_md(Path::new(key)) || !self.memory {
            return None;
        }
        let abs = if Path::new(key).is_absolute() { PathBuf::from(key) } else { self.workspace.join(key) };
        let inside = |root: &Path| abs.starts_with(root);
        let allowed = abs == self.workspace.join("MEMORY.md")
            || inside(&self.workspace.join("memory"))
            || self.extra.iter().any(|p| abs == *p || inside(p));
        // The file itself must be a regular file, not a link out.
        let ok = allowed && std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_file());
        ok.then_some(abs)
    }
}

/// A source file's text: Markdown as it is; a transcript as `User:` / `Assistant:` lines.
pub fn text(file: &SourceFile) -> std::io::Result<String> {
    let bytes = std::fs::read(&file.abs)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if file.source != "sessions" {
        return Ok(text);
    }
    let mut out = String::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
        let m = &entry["message"];
        let who = match m["role"].as_str() {
            Some("user") => "User",
            Some("assistant") => "Assistant",
            _ => continue,
        };
        let content = match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
            _ => continue,
        };
        if content.trim().is_empty() {
            continue;
        }
        // One line per message: chunk line numbers then count messages.
        out.push_str(&format!("{who}: {}\n", content.replace('\n', " ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_files_extra_paths_and_transcripts_are_listed_and_links_are_not() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir_all(ws.join("memory/2026")).unwrap();
        std::fs::write(ws.join("MEMORY.md"), "m").unwrap();
        std::fs::write(ws.join("memory/2026/12-01.md"), "a").unwrap();
        std::fs::write(ws.join("memory/notes.txt"), "not markdown").unwrap();
        std::fs::write(ws.join("README.md"), "not memory").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", ws.join("memory/link.md")).unwrap();
        let extra = d.path().join("extra");
        std::fs::create_dir_all(&extra).unwrap();
        std::fs::write(extra.join("x.md"), "x").unwrap();
        let sessions = d.path().join("sessions");
        std::fs::create_dir_all(&sessions).unwrap();
        std::fs::write(
            sessions.join("s1.jsonl"),
            "{\"message\":{\"role\":\"user\",\"content\":\"hi\\nthere\"}}\n{\"message\":{\"role\":\"tool\",\"content\":\"x\"}}\n\
             {\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}\n",
        )
        .unwrap();
        let roots = Roots { workspace: ws.clone(), extra: vec![extra.clone()], sessions: Some(sessions), memory: true };
        let keys: Vec<String> = roots.list().into_iter().map(|f| f.key).collect();
        let x = extra.join("x.md").to_string_lossy().into_owned();
        assert_eq!(keys, [x.as_str(), "MEMORY.md", "memory/2026/12-01.md", "sessions/s1.jsonl"]);
        let t = roots.list().into_iter().find(|f| f.source == "sessions").unwrap();
        assert_eq!(text(&t).unwrap(), "User: hi there\nAssistant: hello\n");
        assert!(roots.readable("memory/2026/12-01.md").is_some());
        assert!(roots.readable(&x).is_some());
        for bad in ["README.md", "memory/../README.md", "memory/link.md", "memory/notes.txt", "/etc/passwd"] {
            assert!(roots.readable(bad).is_none(), "{bad}");
        }
    }
}
