//! Outbound text split to a platform's limits (Discord: 2,000 characters and 17 lines per
//! message; Slack: 4,000 characters), on line boundaries, and never leaving a code fence open:
//! a cut is made before a fence when the message has room to end there, and a fence longer
//! than a message is closed at the cut and reopened (with its language) in the next.

/// How much one message may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub chars: usize,
    pub lines: Option<usize>,
}

pub const DISCORD: Limits = Limits { chars: 2000, lines: Some(17) };
pub const SLACK: Limits = Limits { chars: 4000, lines: None };

fn fence_marker(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    ["```", "~~~"].into_iter().find(|m| t.starts_with(m))
}

/// Pieces of `line` of at most `max` characters, cut at a space where one is near the end.
fn hard_cut(line: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: Vec<char> = line.chars().collect();
    while rest.len() > max {
        let cut = rest[..max].iter().rposition(|c| *c == ' ').filter(|&i| i >= max / 2).map_or(max, |i| i + 1);
        out.push(rest[..cut].iter().collect::<String>().trim_end().to_string());
        rest.drain(..cut);
    }
    out.push(rest.into_iter().collect());
    out
}

/// The fence open after `lines` (its opening line and marker), if any.
fn open_fence<'a>(lines: impl IntoIterator<Item = &'a String>) -> Option<(String, &'static str)> {
    let mut open: Option<(String, &'static str)> = None;
    for l in lines {
        if let Some(m) = fence_marker(l) {
            open = match open {
                Some((_, o)) if o == m => None,
                Some(keep) => Some(keep),
                None => Some((l.clone(), m)),
            };
        }
    }
    open
}

fn chars(lines: &[String]) -> usize {
    lines.iter().map(|l| l.chars().count()).sum::<usize>() + lines.len().saturating_sub(1)
}

/// Splits `text` into messages within `limits`. Empty text gives no message.
pub fn split(text: &str, limits: Limits) -> Vec<String> {
    let max_lines = limits.lines.unwrap_or(usize::MAX).max(4);
    // A line must fit beside a reopened fence line and a closing one.
    let line_max = limits.chars.saturating_sub(24).max(16);
    let mut pending: std::collections::VecDeque<String> = text.lines().flat_map(|l| hard_cut(l, line_max)).collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    // Whether `cur` began by reopening a fence cut in the message before.
    let mut reopened = false;
    while let Some(line) = pending.pop_front() {
        let mut next = cur.clone();
        next.push(line.clone());
        let fence = open_fence(&next);
        let closing = fence.as_ref().map_or(0, |(_, m)| m.len() + 1);
        if chars(&next) + closing <= limits.chars && next.len() + usize::from(fence.is_some()) <= max_lines {
            cur = next;
            continue;
        }
        // `line` does not fit: end the message before it.
        pending.push_front(line);
        match open_fence(&cur) {
            None => {
                out.push(cur.join("\n"));
                cur = Vec::new();
                reopened = false;
            }
            Some((opener, marker)) => {
                let start = cur.iter().rposition(|l| *l == opener).unwrap_or(0);
                if reopened && cur.len() == 1 {
                    // Only the reopened fence line is here (a very long opener): make the next
                    // line fit beside it, so every message carries something.
                    let room = limits.chars.saturating_sub(chars(&cur) + marker.len() + 2).max(1);
                    let l = pending.pop_front().expect("just pushed");
                    let mut pieces = hard_cut(&l, room).into_iter();
                    cur.push(pieces.next().unwrap_or_default());
                    for p in pieces.rev() {
                        pending.push_front(p);
                    }
                } else if start > 0 {
                    // Cut before the fence: it goes whole into the next message.
                    for l in cur.drain(start..).rev() {
                        pending.push_front(l);
                    }
                    out.push(cur.join("\n"));
                    cur = Vec::new();
                    reopened = false;
                } else {
                    // The fence is longer than a message: close it here, reopen it there.
                    cur.push(marker.to_string());
                    out.push(cur.join("\n"));
                    cur = vec![opener];
                    reopened = true;
                }
            }
        }
    }
    if cur.iter().any(|l| !l.trim().is_empty()) && !(reopened && cur.len() == 1) {
        out.push(cur.join("\n"));
    }
    out.retain(|m| !m.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(m: &str) -> bool {
        m.lines().filter(|l| fence_marker(l).is_some()).count() % 2 == 0
    }

    #[test]
    fn short_text_is_one_message_and_empty_text_none() {
        assert_eq!(split("hello", DISCORD), ["hello"]);
        assert!(split("", DISCORD).is_empty());
        assert!(split("\n\n", DISCORD).is_empty());
    }

    #[test]
    fn discord_messages_hold_17_lines_and_2000_characters() {
        let text: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let m = split(&text, DISCORD);
        assert_eq!(m.iter().map(|m| m.lines().count()).collect::<Vec<_>>(), [17, 17, 6]);
        assert_eq!(m.join("\n"), text.trim_end());
        let long: String = (0..30).map(|i| format!("{i:03} {}\n", "x".repeat(95))).collect();
        let m = split(&long, Limits { chars: 2000, lines: None });
        assert!(m.iter().all(|m| m.chars().count() <= 2000), "{:?}", m.iter().map(|m| m.len()).collect::<Vec<_>>());
        assert_eq!(m.join("\n"), long.trim_end());
    }

    #[test]
    fn a_cut_goes_before_a_fence_rather_than_inside_it() {
        let code: String = (1..=6).map(|i| format!("let x{i} = {i};\n")).collect();
        let text = format!("{}```rust\n{code}```\nafter", (1..=10).map(|i| format!("para {i}\n")).collect::<String>());
        let m = split(&text, DISCORD);
        assert_eq!(m.len(), 2, "{m:#?}");
        assert!(m[0].ends_with("para 10"), "{m:#?}");
        assert!(m[1].starts_with("```rust\n") && m[1].ends_with("```\nafter"), "{m:#?}");
        assert!(m.iter().all(|m| balanced(m)));
    }

    #[test]
    fn a_fence_longer_than_a_message_is_closed_and_reopened() {
        let code: String = (1..=40).map(|i| format!("print({i})\n")).collect();
        let text = format!("```python\n{code}```");
        let m = split(&text, DISCORD);
        assert!(m.len() >= 3, "{m:#?}");
        for part in &m {
            assert!(balanced(part), "unbalanced: {part}");
            assert!(part.starts_with("```python"), "{part}");
            assert!(part.lines().count() <= 17 && part.chars().count() <= 2000);
        }
        let body: Vec<&str> = m.iter().flat_map(|p| p.lines()).filter(|l| !l.starts_with("```")).collect();
        assert_eq!(body.len(), 40, "every code line once");
    }

    #[test]
    fn one_huge_line_is_cut_at_spaces_within_the_limit() {
        let words = "word ".repeat(2000);
        let m = split(&words, SLACK);
        assert!(m.len() >= 3);
        assert!(m.iter().all(|p| p.chars().count() <= 4000));
        assert_eq!(m.join(" ").split_whitespace().count(), 2000);
    }
}
