//! Search's pure parts: a query turned into an FTS5 trigram query (every term of three or
//! more characters; runs of CJK, written without spaces, as overlapping three-character
//! pieces), and the merge of keyword and vector candidates by reciprocal rank fusion, so a
//! keyword-only hit ranks by its keyword rank and is never filtered out by a weak vector score.

/// RRF's constant (the usual 60).
const K: f64 = 60.0;
/// Characters a snippet has at most.
pub const SNIPPET_CHARS: usize = 700;

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff | 0x20000..=0x2fa1f)
}

/// The query's terms: words split on whitespace and punctuation (CJK runs further split into
/// three-character pieces); each term lower-cased.
pub fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in query.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > 3 && chars.iter().any(|c| is_cjk(*c)) {
            for w in chars.windows(3) {
                out.push(w.iter().collect());
            }
        } else {
            out.push(word.to_lowercase());
        }
    }
    out.dedup();
    out
}

/// English words too common to find anything by (they match nearly every chunk, and ranking
/// every match is what makes a keyword search slow). Left out of keyword queries that have
/// other terms.
const STOP_WORDS: &[&str] = &[
    "about", "after", "again", "all", "also", "and", "any", "are", "because", "been", "before", "but", "can", "could",
    "did", "does", "doing", "down", "each", "for", "from", "had", "has", "have", "her", "here", "him", "his", "how",
    "into", "its", "just", "more", "most", "not", "now", "off", "once", "only", "other", "our", "out", "over", "own",
    "same", "she", "should", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "through", "too", "under", "until", "very", "was", "way", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// Terms in one keyword query at most (the longest, which are the rarest as a rule).
const MAX_TERMS: usize = 8;

/// The FTS5 query for `terms` (those trigrams can match), or None when no term is long enough.
pub fn fts_query(terms: &[String]) -> Option<String> {
    let long: Vec<&String> = terms.iter().filter(|t| t.chars().count() >= 3).collect();
    let mut kept: Vec<&String> = long.iter().copied().filter(|t| !STOP_WORDS.contains(&t.as_str())).collect();
    if kept.is_empty() {
        kept = long;
    }
    kept.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
    kept.truncate(MAX_TERMS);
    let quoted: Vec<String> = kept.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect();
    (!quoted.is_empty()).then(|| quoted.join(" OR "))
}

/// Fuses ranked lists of chunk ids (best first) into (id, score), best first. A score is the
/// RRF sum over `lists` divided by what a first place in every list would get, so it is in
/// 0..=1: 1 for the top hit of every list, 0.5 for the top hit of one of two.
pub fn fuse(lists: &[&[i64]]) -> Vec<(i64, f64)> {
    let mut scores: Vec<(i64, f64)> = Vec::new();
    for list in lists {
        for (rank, id) in list.iter().enumerate() {
            let s = 1.0 / (K + rank as f64 + 1.0);
            match scores.iter_mut().find(|(i, _)| i == id) {
                Some(e) => e.1 += s,
                None => scores.push((*id, s)),
            }
        }
    }
    let best = lists.iter().filter(|l| !l.is_empty()).count().max(1) as f64 / (K + 1.0);
    for s in &mut scores {
        s.1 /= best;
    }
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scores
}

/// At most [`SNIPPET_CHARS`] characters of a chunk.
pub fn snippet(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i - text[..i].chars().last().map_or(0, char::len_utf8)]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_cjk_runs_become_terms() {
        assert_eq!(terms("Where is the Deploy-Key?"), ["where", "is", "the", "deploy", "key"]);
        assert_eq!(terms("记忆索引"), ["记忆索", "忆索引"]);
        assert_eq!(terms("记忆"), ["记忆"]);
        assert_eq!(fts_query(&terms("is the key")).unwrap(), "\"key\"", "stop words go when others remain");
        assert_eq!(fts_query(&terms("the")).unwrap(), "\"the\"", "and stay when they are all there is");
        assert_eq!(fts_query(&terms("what did we decide about the budget")).unwrap(), "\"decide\" OR \"budget\"");
        assert_eq!(fts_query(&terms("is a")), None);
        assert_eq!(fts_query(&["a\"b\"c".into()]).unwrap(), "\"a\"\"b\"\"c\"");
    }

    #[test]
    fn fusion_ranks_by_both_lists_and_keeps_keyword_only_hits() {
        let keyword = [1, 2, 3];
        let vector = [4, 2, 5];
        let f = fuse(&[&keyword, &vector]);
        assert_eq!(f[0].0, 2, "in both lists");
        let one = f.iter().find(|(id, _)| *id == 1).unwrap().1;
        assert!((one - 0.5).abs() < 1e-9, "top of one list of two: {one}");
        assert_eq!(f.len(), 5);
        let alone = fuse(&[&keyword, &[]]);
        assert!((alone[0].1 - 1.0).abs() < 1e-9, "the only list's top hit scores 1");
    }

    #[test]
    fn snippets_are_cut_on_a_character_boundary() {
        let s = snippet(&"语".repeat(800));
        assert_eq!(s.chars().count(), SNIPPET_CHARS);
        assert!(s.ends_with('…'));
        assert_eq!(snippet("short"), "short");
    }
}
