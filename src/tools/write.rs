//! `write {path, content}`: creates or replaces a file (parents created).

use serde::Deserialize;

use super::{FileRoot, Output};

#[derive(Debug, Deserialize)]
pub struct Args {
    pub path: String,
    pub content: String,
}

pub fn run(root: &dyn FileRoot, a: Args) -> Output {
    match root.write(&a.path, a.content.as_bytes()) {
        Ok(()) => Output::ok(format!("wrote {} bytes to {}", a.content.len(), a.path)),
        Err(e) => Output::error(format!("cannot write {}: {e}", a.path)),
    }
}
