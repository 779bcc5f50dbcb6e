//! `openclaw completion bash|zsh|fish` and `openclaw man [--out DIR]`: shell completions and
//! man pages generated from the command-line definition itself, so they never drift from it.

use std::path::{Path, PathBuf};

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

/// Where `gateway install --completions` puts the completion scripts and man pages: the
/// per-user locations the shells and man-db search (`home`), or the system ones.
pub struct Extras {
    pub bash: PathBuf,
    pub zsh: PathBuf,
    pub fish: PathBuf,
    pub man_dir: PathBuf,
}

impl Extras {
    pub fn locate(system: bool, home: &Path, below: impl Fn(&Path) -> PathBuf) -> Self {
        let at = |p: PathBuf| below(&p);
        if system {
            Self {
                bash: at(PathBuf::from("/usr/share/bash-completion/completions/openclaw")),
                zsh: at(PathBuf::from("/usr/local/share/zsh/site-functions/_openclaw")),
                fish: at(PathBuf::from("/usr/share/fish/vendor_completions.d/openclaw.fish")),
                man_dir: at(PathBuf::from("/usr/local/share/man/man1")),
            }
        } else {
            Self {
                bash: at(home.join(".local/share/bash-completion/completions/openclaw")),
                zsh: at(home.join(".local/share/zsh/site-functions/_openclaw")),
                fish: at(home.join(".config/fish/completions/openclaw.fish")),
                man_dir: at(home.join(".local/share/man/man1")),
            }
        }
    }

    fn scripts(&self) -> [(&Path, Shell); 3] {
        [(&self.bash, Shell::Bash), (&self.zsh, Shell::Zsh), (&self.fish, Shell::Fish)]
    }

    /// The files written or to remove (man pages: those `openclaw man` makes).
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.scripts().iter().map(|(p, _)| p.display().to_string()).collect();
        v.push(format!("{}/openclaw*.1", self.man_dir.display()));
        v
    }

    /// Writes the three completion scripts and the man pages (0644).
    pub fn install(&self) -> Result<(), String> {
        for (path, shell) in self.scripts() {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "openclaw", &mut buf);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            crate::state::atomic_write(path, &buf, 0o644).map_err(|e| e.to_string())?;
        }
        std::fs::create_dir_all(&self.man_dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), &self.man_dir))
            .map_err(|e| format!("cannot write man pages into {}: {e}", self.man_dir.display()))
    }

    /// Removes what [`Extras::install`] wrote; missing files are fine.
    pub fn remove(&self) -> Result<usize, String> {
        let mut paths: Vec<PathBuf> = self.scripts().iter().map(|(p, _)| p.to_path_buf()).collect();
        if let Ok(dir) = std::fs::read_dir(&self.man_dir) {
            paths.extend(dir.flatten().map(|e| e.path()).filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (name == "openclaw.1" || name.starts_with("openclaw-")) && name.ends_with(".1")
            }));
        }
        let mut removed = 0;
        for p in paths {
            match std::fs::remove_file(&p) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {}: {e}", p.display())),
            }
        }
        Ok(removed)
    }
}
