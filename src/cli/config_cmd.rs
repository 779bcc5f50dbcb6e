//! `openclaw config validate | show | path | schema`: the daemon's own loader, read-only.

use serde_json::json;

use super::ConfigCmd;
use crate::config::env::{TABLE, Target};
use crate::config::load::leaves;
use crate::config::redact::{REDACTED, is_secret_path, redact};
use crate::config::{LoadOptions, load, validate};
use crate::exit;

pub fn run(cmd: ConfigCmd, opts: &LoadOptions) -> i32 {
    let path = &opts.paths.config;
    match cmd {
        ConfigCmd::Path => {
            println!("{}", path.display());
            if !path.exists() {
                eprintln!("(no file there yet: the built-in defaults are in use)");
            }
            exit::OK
        }
        ConfigCmd::Schema => {
            println!("{}", serde_json::to_string_pretty(&validate::schema_value()).unwrap_or_default());
            exit::OK
        }
        ConfigCmd::Validate { json, .. } => match load(opts) {
            Ok(l) => {
                // Probed afresh, not remembered: the answer changes once bwrap is installed.
                let mode = l.config.agents.defaults.sandbox.mode;
                let warnings: Vec<String> = match mode {
                    crate::config::model::SandboxMode::Off => Vec::new(),
                    _ => crate::sandbox::unavailable_warning(mode, &crate::sandbox::probe()).into_iter().collect(),
                };
                if json {
                    println!(
                        "{}",
                        json!({"valid": true, "path": path, "exists": l.file_exists, "problems": [], "ignored": l.ignored,
                               "notes": l.notes, "warnings": warnings})
                    );
                    return exit::OK;
                } else if l.file_exists {
                    println!("config OK: {}", path.display());
                } else {
                    println!("config OK: no file at {} (built-in defaults)", path.display());
                }
                if let Some(line) = crate::config::upstream::ignored_line(&l.ignored) {
                    println!("{line}");
                }
                for note in &l.notes {
                    println!("note: {note}");
                }
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                exit::OK
            }
            Err(e) => {
                if json {
                    println!("{}", json!({"valid": false, "path": e.file, "problems": e.problems}));
                } else {
                    eprintln!("{e}");
                }
                exit::CONFIG
            }
        },
        ConfigCmd::Show { json, .. } => match load(opts) {
            Ok(l) => {
                let config = redact(&l.effective);
                let sources: serde_json::Map<String, serde_json::Value> = leaves(&l.effective)
                    .into_iter()
                    .map(|(p, _)| {
                        let s = l.source_of(&p).to_string();
                        (p, json!(s))
                    })
                    .collect();
                let credentials: serde_json::Map<String, serde_json::Value> = TABLE
                    .iter()
                    .filter(|(_, t, _)| matches!(t, Target::Credential))
                    .map(|(var, _, _)| (var.to_string(), json!(opts.env.get(var).is_some())))
                    .collect();
                if json {
                    let doc = json!({"path": path, "exists": l.file_exists, "config": config, "sources": sources, "credentials": credentials});
                    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
                } else {
                    println!("# config: {}{}", path.display(), if l.file_exists { "" } else { " (absent: defaults)" });
                    for (p, v) in leaves(&l.effective) {
                        let shown = if is_secret_path(&p) && !v.is_null() { json!(REDACTED) } else { v.clone() };
                        println!("{p} = {shown}  # {}", l.source_of(&p));
                    }
                    for (var, set) in &credentials {
                        println!("# {var}: {}", if set == &json!(true) { "set" } else { "not set" });
                    }
                }
                exit::OK
            }
            Err(e) => {
                eprintln!("{e}");
                exit::CONFIG
            }
        },
    }
}
