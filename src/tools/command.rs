//! The programs a shell command runs, as far as its text shows: segments split on `;`, `&&`,
//! `||`, `|`, `&`, newlines and subshell/substitution brackets (outside quotes); in each,
//! leading `NAME=value` assignments and wrappers (`sudo`, `env`, `nohup`, ...) skipped, and
//! `sh -c '...'` looked into. A guard for the operator's denials, not a sandbox: a program
//! started by a script or an interpreter is out of its sight.

/// Commands that run the next word as the program.
const WRAPPERS: &[&str] = &["sudo", "env", "nohup", "nice", "time", "command", "exec", "xargs", "doas", "stdbuf"];
/// Wrapper options that take the next word as their value (`sudo -u root`, `nice -n 5`).
const VALUE_OPTIONS: &[&str] = &["-u", "-g", "-n", "-C", "-p", "-U", "-h", "-r", "-t", "-D", "-S", "-I", "-L", "-P"];
/// Shell words that come before a program.
const KEYWORDS: &[&str] = &["{", "}", "!", "if", "then", "else", "elif", "do", "while", "until", "fi", "done"];
/// Shells whose `-c` argument is itself a command.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "fish"];
/// `sh -c` inside `sh -c` inside ...: enough for any real command.
const MAX_DEPTH: usize = 4;

/// One program a command runs: the word as written and its basename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub word: String,
    pub name: String,
}

/// The programs `command` runs, in order.
pub fn programs(command: &str) -> Vec<Program> {
    let mut out = Vec::new();
    collect(command, 0, &mut out);
    out
}

fn collect(command: &str, depth: usize, out: &mut Vec<Program>) {
    for seg in segments(command) {
        // An unbalanced quote: fall back to whitespace words rather than seeing nothing.
        let words = shlex::split(&seg).unwrap_or_else(|| seg.split_whitespace().map(str::to_string).collect());
        let mut it = words.iter().skip_while(|w| is_assignment(w) || KEYWORDS.contains(&w.as_str())).peekable();
        while let Some(w) = it.next() {
            let name = basename(w);
            out.push(Program { word: w.clone(), name: name.clone() });
            if SHELLS.contains(&name.as_str()) {
                if let Some(pos) = words.iter().position(|x| x == "-c")
                    && let Some(inner) = words.get(pos + 1)
                    && depth < MAX_DEPTH
                {
                    collect(inner, depth + 1, out);
                }
                break;
            }
            if !WRAPPERS.contains(&name.as_str()) {
                break;
            }
            // The wrapper's options (with their values) and assignments, then its program.
            while let Some(n) = it.peek() {
                if VALUE_OPTIONS.contains(&n.as_str()) {
                    it.next();
                    it.next();
                } else if n.starts_with('-') || is_assignment(n) {
                    it.next();
                } else {
                    break;
                }
            }
        }
    }
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn basename(w: &str) -> String {
    w.rsplit('/').next().unwrap_or(w).to_ascii_lowercase()
}

/// The command's segments: split on control operators and brackets outside quotes.
fn segments(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if !single => {
                escaped = true;
                cur.push(c);
            }
            '\'' if !double => {
                single = !single;
                cur.push(c);
            }
            '"' if !single => {
                double = !double;
                cur.push(c);
            }
            // Command substitution runs even inside double quotes.
            '`' if !single => out.push(std::mem::take(&mut cur)),
            '$' if !single && chars.peek() == Some(&'(') => {
                chars.next();
                out.push(std::mem::take(&mut cur));
            }
            ')' if !single && !double => out.push(std::mem::take(&mut cur)),
            ';' | '&' | '|' | '\n' | '(' if !single && !double => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: &str) -> Vec<String> {
        programs(c).into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn every_segment_is_seen() {
        assert_eq!(
            names("ls -la; rm -rf x && echo ok || /bin/RM y | wc\nfalse & true"),
            ["ls", "rm", "echo", "rm", "wc", "false", "true"]
        );
    }

    #[test]
    fn assignments_and_wrappers_are_skipped_and_shells_looked_into() {
        assert_eq!(names("FOO=1 BAR='a b' rm x"), ["rm"]);
        assert_eq!(names("sudo -u root env A=1 nice -n 5 /usr/bin/rm x"), ["sudo", "env", "nice", "rm"]);
        assert_eq!(names("bash -c 'cd /tmp && rm -f y'"), ["bash", "cd", "rm"]);
        assert_eq!(names("echo $(rm z) `rm w`"), ["echo", "rm", "rm"]);
        assert_eq!(names("(cd a; rm b)"), ["cd", "rm"]);
        assert_eq!(names("{ rm a; } && if true; then ! rm b; fi"), ["rm", "true", "rm"]);
        assert_eq!(names("echo ${HOME}"), ["echo"]);
    }

    #[test]
    fn quoted_operators_and_words_are_not_programs() {
        assert_eq!(names("echo 'rm; rm' \"a && rm\""), ["echo"]);
        assert_eq!(names("grep -r 'x|y' ."), ["grep"]);
        assert_eq!(names("echo \"unbalanced"), ["echo"]);
    }
}
