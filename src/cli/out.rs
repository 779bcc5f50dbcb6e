//! Terminal output conventions shared by the CLI's commands: tables that fit the terminal
//! width, colour only on a TTY and never with `NO_COLOR`, machine output (`--json`) as one
//! line on stdout, progress and notes on stderr.

use std::io::IsTerminal;

use serde_json::Value;

/// Narrowest a column is squeezed to before the table is allowed to overflow.
const MIN_COLUMN: usize = 6;
/// Spaces between two columns.
const GAP: usize = 2;

/// Whether stdout gets ANSI colours: a terminal, `NO_COLOR` unset (or empty, as its
/// convention says), and a terminal that is not `dumb`.
pub fn color() -> bool {
    color_for(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR"), std::env::var_os("TERM"))
}

fn color_for(tty: bool, no_color: Option<std::ffi::OsString>, term: Option<std::ffi::OsString>) -> bool {
    tty && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// The width tables must fit: the terminal's when stdout is one, else `$COLUMNS`, else none
/// (output to a pipe or file is never cut).
pub fn width() -> Option<usize> {
    if std::io::stdout().is_terminal() {
        // SAFETY: TIOCGWINSZ fills the winsize struct we own; fd 1 is valid for the process.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&c| c > 0)
}

/// ANSI styles, applied only when colour is on.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    /// Colour as [`color`] decides for stdout.
    pub fn stdout() -> Self {
        Self { on: color() }
    }

    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }

    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
}

/// A progress note on stderr while something is awaited, shown only when stderr is a
/// terminal (never in logs or pipes) and wiped before real output.
pub struct Progress {
    shown: bool,
}

impl Progress {
    pub fn start(msg: &str) -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        if tty {
            eprint!("{msg}");
        }
        Self { shown: tty }
    }

    /// Wipes the note (once; later calls do nothing).
    pub fn clear(&mut self) {
        if std::mem::take(&mut self.shown) {
            eprint!("\r\x1b[K");
        }
    }
}

/// Machine output: the value as one line of JSON on stdout.
pub fn json(v: &Value) {
    println!("{v}");
}

/// A table with a header row, printed to fit [`width`].
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self { headers: headers.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text fitting `width` columns (when given): the widest columns give up
    /// characters first, cut cells end in `…`. Headers are bold when `paint` is on.
    pub fn render(&self, width: Option<usize>, paint: Paint) -> String {
        let n = self.headers.len();
        let cell = |r: &[String], i: usize| r.get(i).map(|s| sanitize(s)).unwrap_or_default();
        let mut widths: Vec<usize> = (0..n)
            .map(|i| {
                std::iter::once(&self.headers).chain(&self.rows).map(|r| cell(r, i).chars().count()).max().unwrap_or(0)
            })
            .collect();
        if let Some(limit) = width {
            let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * n.saturating_sub(1);
            while total(&widths) > limit {
                let (i, &w) = widths.iter().enumerate().max_by_key(|(_, w)| **w).expect("a column");
                if w <= MIN_COLUMN {
                    break;
                }
                widths[i] = w - 1;
            }
        }
        let mut out = String::new();
        for (k, r) in std::iter::once(&self.headers).chain(&self.rows).enumerate() {
            let mut line = String::new();
            for (i, &w) in widths.iter().enumerate() {
                let text = fit(&cell(r, i), w);
                let last = i + 1 == n;
                let padded = if last { text.clone() } else { format!("{text:<w$}") };
                line.push_str(&if k == 0 { paint.bold(&padded) } else { padded });
                if !last {
                    line.push_str(&" ".repeat(GAP));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table to stdout, fitted to the terminal, bold headers on a colour terminal.
    pub fn print(&self) {
        print!("{}", self.render(width(), Paint::stdout()));
    }
}

/// One line, no control characters (a job name or a message can hold anything).
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `s` cut to `w` characters, the cut marked with `…`.
fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// "3m ago", "in 2h", from Unix milliseconds relative to `now_ms`.
pub fn relative(ms: i64, now_ms: i64) -> String {
    let d = (ms - now_ms).abs() / 1000;
    let span = match d {
        0..60 => format!("{d}s"),
        60..3600 => format!("{}m", d / 60),
        3600..86_400 => format!("{}h", d / 3600),
        _ => format!("{}d", d / 86_400),
    };
    if ms >= now_ms { format!("in {span}") } else { format!("{span} ago") }
}

/// A JSON value as a table cell: strings bare, null as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&["ID", "NAME", "SCHEDULE"]);
        t.row(vec!["a1".into(), "nightly backup of everything".into(), "0 3 * * *".into()]);
        t.row(vec!["b2".into(), "short".into(), "every 1h".into()]);
        t
    }

    #[test]
    fn a_table_without_a_width_is_never_cut() {
        let s = table().render(None, Paint { on: false });
        assert_eq!(
            s,
            "ID  NAME                          SCHEDULE\n\
             a1  nightly backup of everything  0 3 * * *\n\
             b2  short                         every 1h\n"
        );
    }

    #[test]
    fn a_table_fits_the_width_by_cutting_its_widest_column() {
        let s = table().render(Some(30), Paint { on: false });
        assert!(s.lines().all(|l| l.chars().count() <= 30), "{s}");
        assert!(s.contains("nightly backup…"), "{s}");
        assert!(s.contains("0 3 * * *"), "the narrow column is kept whole: {s}");
    }

    #[test]
    fn headers_are_bold_only_when_painting() {
        assert!(table().render(None, Paint { on: true }).starts_with("\x1b[1mID"));
        assert!(!table().render(None, Paint { on: false }).contains('\x1b'));
    }

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(color_for(true, None, None));
        assert!(!color_for(false, None, None));
        assert!(!color_for(true, Some("1".into()), None));
        assert!(color_for(true, Some("".into()), None), "an empty NO_COLOR does not count");
        assert!(!color_for(true, None, Some("dumb".into())));
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(0, 90_000), "1m ago");
        assert_eq!(relative(7_200_000, 0), "in 2h");
        assert_eq!(relative(1000, 1000), "in 0s");
    }
}
