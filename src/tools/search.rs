//! `grep {pattern, path?, glob?}`, `find {glob, path?}`, `ls {path?}`, in process with
//! ripgrep's libraries: walks skip hidden files and whatever .gitignore, .ignore and the
//! global git excludes name (in a git repository or not); binary files are skipped.

use std::path::Path;

use grep_regex::RegexMatcherBuilder;
use grep_searcher::sinks::UTF8;
use grep_searcher::{BinaryDetection, SearcherBuilder};
use ignore::WalkBuilder;
use serde::Deserialize;

use super::policy::glob;
use super::{FileRoot, Output};

/// Matching lines `grep` reports, then it stops.
pub const MAX_MATCHES: usize = 100;
/// Paths `find` reports, and entries `ls` lists.
pub const MAX_PATHS: usize = 1000;
/// A long matching line is cut to this many characters.
const MAX_LINE: usize = 500;

#[derive(Debug, Deserialize)]
pub struct GrepArgs {
    pub pattern: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub glob: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FindArgs {
    pub glob: String,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LsArgs {
    #[serde(default)]
    pub path: Option<String>,
}

fn walker(base: &Path) -> WalkBuilder {
    let mut w = WalkBuilder::new(base);
    // .gitignore applies outside a git checkout too: a workspace is often not one.
    w.require_git(false).follow_links(false);
    w
}

/// `p` relative to `base` for display (itself when it is `base`, a file searched directly).
fn shown(p: &Path, base: &Path) -> String {
    match p.strip_prefix(base) {
        Ok(r) if !r.as_os_str().is_empty() => r.display().to_string(),
        _ => p.display().to_string(),
    }
}

pub fn grep(root: &dyn FileRoot, a: GrepArgs) -> Output {
    let base = match root.resolve(a.path.as_deref().unwrap_or("")) {
        Ok(b) => b,
        Err(e) => return Output::error(format!("grep: {e}")),
    };
    let matcher = match RegexMatcherBuilder::new().line_terminator(Some(b'\n')).build(&a.pattern) {
        Ok(m) => m,
        Err(e) => return Output::error(format!("grep: bad pattern: {e}")),
    };
    let filter = match a.glob.as_deref().map(|g| glob(g).ok_or(g)) {
        Some(Err(g)) => return Output::error(format!("grep: bad glob {g:?}")),
        Some(Ok(m)) => Some(m),
        None => None,
    };
    let mut searcher = SearcherBuilder::new().binary_detection(BinaryDetection::quit(0)).line_number(true).build();
    let mut out = Vec::new();
    'files: for entry in walker(&base).build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let rel = shown(path, &base);
        if let Some(m) = &filter
            && !m.is_match(&rel)
            && !path.file_name().is_some_and(|n| m.is_match(n))
        {
            continue;
        }
        // Opened through the root (in a sandboxed session: beneath it, race-free).
        let Ok(file) = root.open(path) else { continue };
        let mut full = false;
        let _ = searcher.search_file(
            &matcher,
            &file,
            UTF8(|line_no, line| {
                let line: String = line.trim_end().chars().take(MAX_LINE).collect();
                out.push(format!("{rel}:{line_no}:{line}"));
                full = out.len() >= MAX_MATCHES;
                Ok(!full)
            }),
        );
        if full {
            break 'files;
        }
    }
    if out.is_empty() {
        return Output::ok("no matches");
    }
    if out.len() >= MAX_MATCHES {
        out.push(format!("[stopped at {MAX_MATCHES} matches; narrow the pattern, path or glob]"));
    }
    Output::ok(out.join("\n"))
}

pub fn find(root: &dyn FileRoot, a: FindArgs) -> Output {
    let base = match root.resolve(a.path.as_deref().unwrap_or("")) {
        Ok(b) => b,
        Err(e) => return Output::error(format!("find: {e}")),
    };
    let Some(m) = glob(&a.glob) else { return Output::error(format!("find: bad glob {:?}", a.glob)) };
    let mut out = Vec::new();
    for entry in walker(&base).build().flatten() {
        let rel = shown(entry.path(), &base);
        if entry.depth() == 0 || !(m.is_match(&rel) || entry.path().file_name().is_some_and(|n| m.is_match(n))) {
            continue;
        }
        let dir = if entry.file_type().is_some_and(|t| t.is_dir()) { "/" } else { "" };
        out.push(format!("{rel}{dir}"));
        if out.len() >= MAX_PATHS {
            out.push(format!("[stopped at {MAX_PATHS} paths]"));
            break;
        }
    }
    Output::ok(if out.is_empty() { "no paths found".into() } else { out.join("\n") })
}

pub fn ls(root: &dyn FileRoot, a: LsArgs) -> Output {
    let dir = match root.resolve(a.path.as_deref().unwrap_or("")) {
        Ok(d) => d,
        Err(e) => return Output::error(format!("ls: {e}")),
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => return Output::error(format!("ls {}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| {
            let slash = if e.file_type().is_ok_and(|t| t.is_dir()) { "/" } else { "" };
            format!("{}{slash}", e.file_name().to_string_lossy())
        })
        .collect();
    names.sort();
    let total = names.len();
    names.truncate(MAX_PATHS);
    if total > MAX_PATHS {
        names.push(format!("[{} more entries not shown]", total - MAX_PATHS));
    }
    Output::ok(if names.is_empty() { "(empty directory)".into() } else { names.join("\n") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::HostRoot;

    #[test]
    fn grep_and_find_skip_what_gitignore_names_outside_a_git_checkout() {
        let d = tempfile::tempdir().unwrap();
        let root = HostRoot::new(d.path().to_path_buf()).unwrap();
        std::fs::write(d.path().join(".gitignore"), "ignored/\n*.log\n").unwrap();
        std::fs::create_dir_all(d.path().join("ignored")).unwrap();
        std::fs::create_dir_all(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("ignored/a.txt"), "needle\n").unwrap();
        std::fs::write(d.path().join("x.log"), "needle\n").unwrap();
        std::fs::write(d.path().join("src/b.rs"), "one\nneedle here\n").unwrap();
        let g = grep(&root, GrepArgs { pattern: "need+le".into(), path: None, glob: None });
        assert_eq!(g, Output::ok("src/b.rs:2:needle here"));
        let g = grep(&root, GrepArgs { pattern: "needle".into(), path: None, glob: Some("*.txt".into()) });
        assert_eq!(g, Output::ok("no matches"));
        assert!(grep(&root, GrepArgs { pattern: "(".into(), path: None, glob: None }).is_error);
        assert_eq!(find(&root, FindArgs { glob: "*.rs".into(), path: None }), Output::ok("src/b.rs"));
        assert_eq!(find(&root, FindArgs { glob: "*.log".into(), path: None }), Output::ok("no paths found"));
        assert_eq!(ls(&root, LsArgs { path: None }).text, ".gitignore\nignored/\nsrc/\nx.log");
    }
}
