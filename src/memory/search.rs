//! Search's pure parts: a query turned into keyword queries, and the merge of keyword and
//! vector candidates by reciprocal rank fusion, so a keyword-only hit ranks by its keyword rank
//! and is never filtered out by a weak vector score.
//!
//! Words go to a word index (FTS5 `unicode61`): each term a token or, from three letters on, a
//! token prefix ("deploy" finds "deployment"); common English words are left out when the
//! query has others, and at most 8 terms (the longest) are kept. CJK, written without spaces,
//! goes to a trigram index of the CJK text: a run of three or more characters as its
//! overlapping three-character pieces; shorter runs by substring.

/// RRF's constant (the usual 60).
const K: f64 = 60.0;
/// Characters a snippet has at most.
pub const SNIPPET_CHARS: usize = 700;

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff | 0x20000..=0x2fa1f)
}

/// The CJK runs of `text`, one per line: what the trigram index holds.
pub fn cjk_text(text: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in text.chars() {
        if is_cjk(c) {
            out.push(c);
            in_run = true;
        } else if in_run {
            out.push('\n');
            in_run = false;
        }
    }
    out.trim_end().to_string()
}

/// English words too common to find anything by (they match nearly every chunk, and ranking
/// every match is what makes a keyword search slow). Left out of keyword queries that have
/// other terms.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "an", "and", "any", "are", "as", "at", "be", "because", "been",
    "before", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "each", "for", "from", "had", "has",
    "have", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "more",
    "most", "my", "no", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "out", "over", "own",
    "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "way", "we", "were",
    "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// Word terms in one query at most (the longest, which are the rarest as a rule).
const MAX_WORDS: usize = 8;
/// CJK pieces in one query at most.
const MAX_CJK: usize = 16;

/// A query as the keyword indexes take it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Keywords {
    /// For the word index.
    pub words: Option<String>,
    /// The word terms that query is made of (lower-case, longest first).
    pub terms: Vec<String>,
    /// For the CJK trigram index.
    pub cjk: Option<String>,
    /// CJK runs too short for trigrams, found by substring.
    pub substrings: Vec<String>,
}

fn quote(t: &str) -> String {
    format!("\"{}\"", t.replace('"', "\"\""))
}

/// Splits `query` for the keyword indexes.
pub fn keywords(query: &str) -> Keywords {
    let mut words: Vec<String> = Vec::new();
    let mut pieces: Vec<String> = Vec::new();
    let mut substrings: Vec<String> = Vec::new();
    for word in query.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        // A word may mix scripts ("API密钥"): its CJK runs and the rest apart.
        let mut run = String::new();
        let mut latin = String::new();
        let flush_run = |run: &mut String, pieces: &mut Vec<String>, substrings: &mut Vec<String>| {
            let chars: Vec<char> = run.chars().collect();
            if chars.len() >= 3 {
                pieces.extend(chars.windows(3).map(|w| w.iter().collect::<String>()));
            } else if !chars.is_empty() {
                substrings.push(run.clone());
            }
            run.clear();
        };
        for c in word.chars() {
            if is_cjk(c) {
                if !latin.is_empty() {
                    words.push(std::mem::take(&mut latin).to_lowercase());
                }
                run.push(c);
            } else {
                flush_run(&mut run, &mut pieces, &mut substrings);
                latin.push(c);
            }
        }
        flush_run(&mut run, &mut pieces, &mut substrings);
        if !latin.is_empty() {
            words.push(latin.to_lowercase());
        }
    }
    let mut kept: Vec<&String> = words.iter().filter(|w| !STOP_WORDS.contains(&w.as_str())).collect();
    if kept.is_empty() {
        kept = words.iter().collect();
    }
    kept.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
    kept.dedup();
    kept.truncate(MAX_WORDS);
    let terms: Vec<String> = kept.into_iter().cloned().collect();
    pieces.dedup();
    pieces.truncate(MAX_CJK);
    let pieces: Vec<String> = pieces.iter().map(|p| quote(p)).collect();
    Keywords {
        words: word_query(&terms.iter().map(String::as_str).collect::<Vec<_>>()),
        terms,
        cjk: (!pieces.is_empty()).then(|| pieces.join(" OR ")),
        substrings,
    }
}

/// Whether a word term matches as a prefix (three letters or more) or as a whole token.
pub fn is_prefix(term: &str) -> bool {
    term.chars().count() >= 3
}

/// The word-index query for `terms`: chunks with any of them.
pub fn word_query(terms: &[&str]) -> Option<String> {
    joined(terms, " OR ")
}

/// The word-index query for chunks with every one of `terms`.
pub fn all_words_query(terms: &[&str]) -> Option<String> {
    joined(terms, " AND ")
}

fn joined(terms: &[&str], op: &str) -> Option<String> {
    let q: Vec<String> = terms.iter().map(|w| if is_prefix(w) { format!("{}*", quote(w)) } else { quote(w) }).collect();
    (!q.is_empty()).then(|| q.join(op))
}

/// Of `terms` with their document counts among `total` chunks, the ones worth ranking: a term
/// in more than a tenth of the chunks says little and costs a score per chunk it is in, so it
/// is left out while a rarer term remains.
pub fn selective<'a>(terms: &'a [String], doc_counts: &[u64], total: u64) -> Vec<&'a str> {
    let rare: Vec<&str> =
        terms.iter().zip(doc_counts).filter(|(_, d)| **d * 10 <= total).map(|(t, _)| t.as_str()).collect();
    if rare.is_empty() { terms.iter().map(String::as_str).collect() } else { rare }
}

/// Whether no term is rare: each is in more than a tenth of the `total` chunks.
pub fn all_common(doc_counts: &[u64], total: u64) -> bool {
    doc_counts.iter().all(|d| *d * 10 > total)
}

/// `more` appended to `ids` (those not in it yet), up to `limit` in all.
pub fn top_up(ids: &mut Vec<i64>, more: Vec<i64>, limit: usize) {
    for id in more {
        if ids.len() >= limit {
            break;
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
}

/// Lists merged by taking each one's next in turn (ids once), for candidates of one kind from
/// several indexes.
pub fn interleave(lists: &[Vec<i64>]) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for l in lists {
            if let Some(id) = l.get(i)
                && !out.contains(id)
            {
                out.push(*id);
            }
        }
    }
    out
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
    fn words_go_to_the_word_index_and_cjk_to_the_trigram_one() {
        let k = keywords("Where is the Deploy-Key?");
        assert_eq!(k.words.as_deref(), Some("\"deploy\"* OR \"key\"*"), "stop words go when others remain");
        assert_eq!((k.cjk, k.substrings.len()), (None, 0));
        assert_eq!(
            keywords("what did we decide about the budget").words.as_deref(),
            Some("\"decide\"* OR \"budget\"*")
        );
        assert_eq!(keywords("the").words.as_deref(), Some("\"the\"*"), "stop words stay when they are all there is");
        assert_eq!(keywords("CI db").words.as_deref(), Some("\"ci\" OR \"db\""), "short terms are whole tokens");
        let k = keywords("记忆索引");
        assert_eq!((k.words, k.cjk.as_deref()), (None, Some("\"记忆索\" OR \"忆索引\"")));
        let k = keywords("API密钥");
        assert_eq!((k.words.as_deref(), k.substrings), (Some("\"api\"*"), vec!["密钥".to_string()]));
        assert_eq!(keywords("\"quoted\"").words.as_deref(), Some("\"quoted\"*"));
        assert_eq!(cjk_text("The 部署密钥 is in 仓库."), "部署密钥\n仓库");
        assert_eq!(interleave(&[vec![1, 2, 3], vec![4, 1]]), [1, 4, 2, 3]);
        let t: Vec<String> = ["budget".into(), "zorblat".into()].to_vec();
        assert_eq!(selective(&t, &[4_000, 3], 10_000), ["zorblat"], "the common term goes");
        assert_eq!(selective(&t, &[4_000, 5_000], 10_000), ["budget", "zorblat"], "all common: all stay");
        assert!(all_common(&[4_000, 5_000], 10_000) && !all_common(&[4_000, 3], 10_000));
        let both: Vec<&str> = t.iter().map(String::as_str).collect();
        assert_eq!(all_words_query(&both).as_deref(), Some("\"budget\"* AND \"zorblat\"*"));
        let mut ids = vec![7, 3];
        top_up(&mut ids, vec![3, 9, 1, 4], 4);
        assert_eq!(ids, [7, 3, 9, 1], "new ones after, none twice, at most the limit");
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
