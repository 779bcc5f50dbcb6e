//! `edit {path, oldText, newText}`: replaces one exact, unique occurrence; anything else (no
//! match, several) is an error that says which, so the model can widen its `oldText`.

use serde::Deserialize;

use super::{FileRoot, Output};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    pub path: String,
    pub old_text: String,
    pub new_text: String,
}

pub fn run(root: &dyn FileRoot, a: Args) -> Output {
    let text = match root.read(&a.path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => return Output::error(format!("{} is not UTF-8 text; not edited", a.path)),
        Err(e) => return Output::error(format!("cannot read {}: {e}", a.path)),
    };
    let new = match replace_unique(&text, &a.old_text, &a.new_text) {
        Ok(n) => n,
        Err(why) => return Output::error(format!("{} not edited: {why}", a.path)),
    };
    match root.write(&a.path, new.as_bytes()) {
        Ok(()) => Output::ok(format!("edited {}: replaced 1 occurrence", a.path)),
        Err(e) => Output::error(format!("cannot write {}: {e}", a.path)),
    }
}

/// `text` with its one occurrence of `old` replaced by `new`.
pub fn replace_unique(text: &str, old: &str, new: &str) -> Result<String, String> {
    if old.is_empty() {
        return Err("oldText is empty".into());
    }
    let mut hits = text.match_indices(old);
    match (hits.next(), hits.next()) {
        (None, _) => Err("oldText was not found (it must match exactly, whitespace included)".into()),
        (Some(_), Some(_)) => Err(format!(
            "oldText occurs {} times; it must be unique: include more surrounding lines",
            text.matches(old).count()
        )),
        (Some((at, _)), None) => Ok(format!("{}{new}{}", &text[..at], &text[at + old.len()..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_unique_exact_match_is_replaced() {
        assert_eq!(replace_unique("a b c", "b", "B").unwrap(), "a B c");
        assert!(replace_unique("a b b", "b", "B").unwrap_err().contains("occurs 2 times"));
        assert!(replace_unique("a b", "x", "B").unwrap_err().contains("not found"));
        assert!(replace_unique("a", "", "B").unwrap_err().contains("empty"));
    }
}
