//! `openclaw completion bash|zsh|fish` and `openclaw man [--out DIR]`: shell completions and
//! man pages generated from the command-line definition itself, so they never drift from it.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// The shells `openclaw completion` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Writes the completion script for `shell` to stdout.
pub fn completion(shell: CompletionShell) -> i32 {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "openclaw", &mut std::io::stdout());
    crate::exit::OK
}

/// Without `out`: the `openclaw(1)` page on stdout. With it: a page per command
/// (`openclaw.1`, `openclaw-cron-add.1`, ...) written into that directory.
pub fn man(out: Option<&Path>) -> i32 {
    let Some(dir) = out else {
        let mut buf = Vec::new();
        if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut buf) {
            eprintln!("openclaw: cannot render the man page: {e}");
            return crate::exit::SOFTWARE;
        }
        use std::io::Write;
        return match std::io::stdout().write_all(&buf) {
            Ok(()) => crate::exit::OK,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => crate::exit::OK,
            Err(e) => {
                eprintln!("openclaw: cannot write the man page: {e}");
                crate::exit::SOFTWARE
            }
        };
    };
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir)) {
        eprintln!("openclaw: cannot write man pages into {}: {e} (pick a writable --out directory)", dir.display());
        return crate::exit::CANTCREAT;
    }
    let pages = std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "1")).count())
        .unwrap_or(0);
    eprintln!("wrote {pages} man pages into {}; read one with `man -l {}/openclaw.1`", dir.display(), dir.display());
    crate::exit::OK
}
