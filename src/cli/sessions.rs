//! `openclaw sessions [--active MIN]`, `sessions reset|delete KEY` and `openclaw models
//! list|status`: the agents' conversations and model catalogue through `sessions.*` and
//! `models.list`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::ConnectArgs;
use super::out::{self, Table};
use crate::config::LoadOptions;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SessionsCmd {
    #[command(subcommand)]
    pub sub: Option<SessionsSub>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    /// Only sessions active in the last MIN minutes.
    #[arg(long, value_name = "MIN", value_parser = clap::value_parser!(u64).range(1..=525_600))]
    pub active: Option<u64>,
    #[command(flatten)]
    pub common: AgentArgs,
}

#[derive(Subcommand, Debug)]
pub enum SessionsSub {
    /// List the sessions (what `openclaw sessions` alone does).
    List(ListArgs),
    /// Start the session over: a new transcript, the old one kept on disk.
    Reset(KeyArgs),
    /// Forget the session (--delete-transcript also removes its transcript file).
    Delete {
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long)]
        delete_transcript: bool,
    },
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    /// A full key (agent:main:work) or a short name (work) under --agent.
    pub key: String,
    #[command(flatten)]
    pub common: AgentArgs,
}

/// Whose sessions or models, how to print them, and where the gateway is.
#[derive(Args, Debug, Default)]
pub struct AgentArgs {
    /// The agent [default: main].
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// One line of JSON on stdout, for scripts.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Subcommand, Debug)]
pub enum ModelsCmd {
    /// The models the agent can use (models.json and the config's providers).
    List(AgentArgs),
    /// The model chain a run tries (primary, then fallbacks) and whether each is known.
    Status(AgentArgs),
}

pub fn sessions(cmd: SessionsCmd, opts: &LoadOptions) -> i32 {
    match cmd.sub.unwrap_or(SessionsSub::List(cmd.list)) {
        SessionsSub::List(ListArgs { active, common: a }) => super::remote::with_client(&a.conn, opts, |c| {
            let mut params = json!({});
            if let Some(m) = active {
                params["activeMinutes"] = json!(m);
            }
            if let Some(id) = &a.agent {
                params["agentId"] = json!(id);
            }
            let v = c.call("sessions.list", params)?;
            if a.json {
                out::json(&v);
            } else {
                print_sessions(&v, active);
            }
            Ok(())
        }),
        SessionsSub::Reset(k) => forget(&k, "sessions.reset", json!({}), opts),
        SessionsSub::Delete { key, delete_transcript } => {
            forget(&key, "sessions.delete", json!({"deleteTranscript": delete_transcript}), opts)
        }
    }
}

fn forget(KeyArgs { key, common: k }: &KeyArgs, method: &str, mut params: Value, opts: &LoadOptions) -> i32 {
    let key = super::agent::session_key(k.agent.as_deref(), key);
    params["key"] = json!(key);
    super::remote::with_client(&k.conn, opts, |c| {
        let v = c.call(method, params)?;
        if k.json {
            out::json(&v);
            return Ok(());
        }
        let aborted = v["abortedRuns"].as_array().map_or(0, Vec::len);
        let stopped = if aborted > 0 { format!("; {aborted} running turn(s) stopped") } else { String::new() };
        if method == "sessions.reset" {
            println!(
                "{key} starts over (the previous transcript {} is kept){stopped}",
                out::cell(&v["previousSessionId"])
            );
        } else if v["transcriptDeleted"] == true {
            println!("{key} deleted with its transcript{stopped}");
        } else {
            println!("{key} deleted (its transcript {} stays on disk){stopped}", out::cell(&v["previousSessionId"]));
        }
        Ok(())
    })
}

fn print_sessions(v: &Value, active: Option<u64>) {
    let now = crate::sys::now_ms();
    let mut t = Table::new(&["KEY", "UPDATED", "TURNS", "MODEL", "RUNNING", "SESSION ID"]);
    for s in v["sessions"].as_array().into_iter().flatten() {
        let running = s["activeRuns"].as_array().map_or(0, Vec::len);
        t.row(vec![
            out::cell(&s["key"]),
            s["updatedAt"].as_i64().map(|u| out::relative(u, now)).unwrap_or_else(|| "-".into()),
            out::cell(&s["turns"]),
            s.get("model").map(out::cell).unwrap_or_else(|| "-".into()),
            if running > 0 { format!("{running} run(s)") } else { "-".into() },
            out::cell(&s["sessionId"]),
        ]);
    }
    if t.is_empty() {
        match active {
            Some(m) => println!("no sessions active in the last {m} minute(s)"),
            None => println!("no sessions yet; start one with `openclaw agent --message hi`"),
        }
    } else {
        t.print();
    }
}

pub fn models(cmd: ModelsCmd, opts: &LoadOptions) -> i32 {
    let (a, status) = match cmd {
        ModelsCmd::List(a) => (a, false),
        ModelsCmd::Status(a) => (a, true),
    };
    super::remote::with_client(&a.conn, opts, |c| {
        let params = a.agent.as_ref().map(|id| json!({"agentId": id})).unwrap_or_else(|| json!({}));
        let v = c.call("models.list", params)?;
        if a.json && !status {
            out::json(&v);
            return Ok(());
        }
        let chain: Vec<String> = v["chain"].as_array().into_iter().flatten().map(out::cell).collect();
        let models = v["models"].as_array().cloned().unwrap_or_default();
        if status {
            let known = |m: &str| models.iter().any(|x| x["id"] == m);
            let s = json!({
                "default": chain.first(),
                "fallbacks": chain.iter().skip(1).collect::<Vec<_>>(),
                "catalogue": v["path"],
                "models": models.len(),
                "unknown": chain.iter().filter(|m| !known(m)).collect::<Vec<_>>(),
            });
            if a.json {
                out::json(&s);
                return Ok(());
            }
            let paint = out::Paint::stdout();
            println!("default:   {}", chain.first().map(String::as_str).unwrap_or("- (no model configured)"));
            println!("fallbacks: {}", if chain.len() > 1 { chain[1..].join(", ") } else { "-".into() });
            println!("catalogue: {} ({} models)", out::cell(&v["path"]), models.len());
            for m in &chain {
                if !known(m) {
                    println!(
                        "{} {m} is not in the catalogue; add it to models.json or fix agents.defaults.model",
                        paint.yellow("warning:")
                    );
                }
            }
            return Ok(());
        }
        let mut t = Table::new(&["MODEL", "NAME", "CONTEXT", "REASONING", "ROLE"]);
        for m in &models {
            let id = out::cell(&m["id"]);
            let role = match chain.iter().position(|c| *c == id) {
                Some(0) => "default".to_string(),
                Some(i) => format!("fallback {i}"),
                None => String::new(),
            };
            t.row(vec![
                id,
                out::cell(&m["name"]),
                out::cell(&m["contextWindow"]),
                if m["reasoning"] == true { "yes".into() } else { "no".into() },
                role,
            ]);
        }
        if t.is_empty() {
            println!("no models; the catalogue is {} (see the README's models.json section)", out::cell(&v["path"]));
        } else {
            t.print();
        }
        Ok(())
    })
}
