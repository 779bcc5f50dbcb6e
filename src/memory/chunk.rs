//! Line-based chunking: a file becomes chunks of at most `tokens × 4` characters (upstream's
//! count of a "token"), each repeating up to `overlap × 4` characters of whole lines from the
//! end of the one before, with the 1-based line range it covers. A line longer than a chunk
//! is cut into pieces that keep its line number.

/// One chunk of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
}

/// Characters per "token", as upstream counts them.
pub const CHARS_PER_TOKEN: usize = 4;

fn split_at_chars(s: &str, n: usize) -> (&str, &str) {
    match s.char_indices().nth(n) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    }
}

/// Chunks `text`. Blank-only chunks are left out.
pub fn chunk(text: &str, tokens: u32, overlap: u32) -> Vec<Chunk> {
    let max = (tokens as usize * CHARS_PER_TOKEN).max(16);
    let overlap = (overlap as usize * CHARS_PER_TOKEN).min(max / 2);
    // (line number, piece, characters in it)
    let mut pieces: Vec<(u32, &str, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u32 + 1;
        let mut rest = line;
        loop {
            let (head, tail) = split_at_chars(rest, max);
            pieces.push((n, head, head.chars().count()));
            if tail.is_empty() {
                break;
            }
            rest = tail;
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < pieces.len() {
        let (mut end, mut size) = (start, 0);
        while end < pieces.len() {
            let add = pieces[end].2 + 1;
            if end > start && size + add > max {
                break;
            }
            size += add;
            end += 1;
        }
        let text = pieces[start..end].iter().map(|p| p.1).collect::<Vec<_>>().join("\n");
        if !text.trim().is_empty() {
            out.push(Chunk { start_line: pieces[start].0, end_line: pieces[end - 1].0, text });
        }
        if end == pieces.len() {
            break;
        }
        // Whole lines from the end, as many as fit the overlap; always move forward.
        let (mut next, mut carried) = (end, 0);
        while next > start + 1 && carried + pieces[next - 1].2 < overlap {
            carried += pieces[next - 1].2 + 1;
            next -= 1;
        }
        start = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(c: &[Chunk]) -> Vec<(u32, u32)> {
        c.iter().map(|c| (c.start_line, c.end_line)).collect()
    }

    #[test]
    fn lines_fill_a_chunk_and_the_next_repeats_whole_lines_of_overlap() {
        // Ten lines of 9 characters (10 with the newline); chunks of 8 tokens = 32 characters
        // hold three lines; an overlap of 3 tokens = 12 characters repeats one line.
        let text: String = (1..=10).map(|i| format!("line {i:04}\n")).collect();
        let c = chunk(&text, 8, 3);
        assert_eq!(ranges(&c), [(1, 3), (3, 5), (5, 7), (7, 9), (9, 10)]);
        assert_eq!(c[0].text, "line 0001\nline 0002\nline 0003");
        assert_eq!(c[1].text, "line 0003\nline 0004\nline 0005");
    }

    #[test]
    fn no_overlap_means_consecutive_ranges() {
        let text: String = (1..=7).map(|i| format!("line {i:04}\n")).collect();
        assert_eq!(ranges(&chunk(&text, 8, 0)), [(1, 3), (4, 6), (7, 7)]);
    }

    #[test]
    fn a_long_line_is_cut_into_pieces_that_keep_its_number() {
        let text = format!("short\n{}\nend", "x".repeat(70));
        let c = chunk(&text, 8, 0);
        assert_eq!(ranges(&c), [(1, 1), (2, 2), (2, 2), (2, 3)]);
        assert_eq!(c[1].text, "x".repeat(32));
        assert_eq!(c[3].text, format!("{}\nend", "x".repeat(6)));
        assert!(c.iter().all(|c| c.text.chars().count() <= 32), "{c:?}");
    }

    #[test]
    fn cjk_is_counted_in_characters_and_cut_on_their_boundaries() {
        let text = "记忆".repeat(40);
        let c = chunk(&text, 8, 0);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].text.chars().count(), 32);
        assert_eq!(c.iter().map(|c| c.text.as_str()).collect::<String>(), text);
    }

    #[test]
    fn blank_files_and_blank_stretches_make_no_chunks() {
        assert!(chunk("", 400, 80).is_empty());
        assert!(chunk("\n\n  \n", 400, 80).is_empty());
        let c = chunk("# Title\n\nbody", 400, 80);
        assert_eq!(ranges(&c), [(1, 3)]);
    }
}
