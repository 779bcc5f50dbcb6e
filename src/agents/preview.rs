//! Session previews (`sessions.preview`): the last few messages of a transcript as short
//! `{role, text}` items, upstream's shape.

use serde_json::{Value, json};

/// Upstream's defaults: 12 items of at most 240 characters.
pub const DEFAULT_LIMIT: usize = 12;
pub const DEFAULT_MAX_CHARS: usize = 240;

/// The text of a message's `content`: a string, or the text parts of an array of blocks.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str)))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `text` cut to `max` characters (an ellipsis marks the cut), whitespace collapsed so a
/// preview stays one line.
fn clip(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The last `limit` messages with text, oldest first, each `{role, text}` (roles upstream
/// does not know become "other").
pub fn items(messages: &[Value], limit: usize, max_chars: usize) -> Vec<Value> {
    let mut out: Vec<Value> = messages
        .iter()
        .rev()
        .filter_map(|m| {
            let text = clip(&text_of(m.get("content")?), max_chars);
            if text.is_empty() {
                return None;
            }
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .filter(|r| matches!(*r, "user" | "assistant" | "tool" | "system"))
                .unwrap_or("other");
            Some(json!({"role": role, "text": text}))
        })
        .take(limit)
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_messages_oldest_first_clipped_and_with_known_roles() {
        let msgs = [
            json!({"role": "user", "content": "one"}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "two\n  lines"}]}),
            json!({"role": "weird", "content": "x".repeat(30)}),
            json!({"role": "user", "content": ""}),
        ];
        assert_eq!(
            items(&msgs, 2, 20),
            [
                json!({"role": "assistant", "text": "two lines"}),
                json!({"role": "other", "text": format!("{}…", "x".repeat(19))})
            ]
        );
        assert!(items(&[], 5, 20).is_empty());
    }
}
