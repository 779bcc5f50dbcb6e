//! `openclaw cron list|status|add|edit|rm|run|runs`: the gateway's scheduler through its
//! `cron.*` methods, with upstream's command and flag names; tables for people, `--json` for
//! scripts.

use clap::{ArgGroup, Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{Client, ClientError, ConnectArgs};
use super::out::{self, Table};
use crate::config::LoadOptions;

#[derive(Subcommand, Debug)]
pub enum CronCmd {
    /// The jobs, with their schedule, next run and last outcome.
    List {
        /// Disabled jobs too.
        #[arg(long)]
        all: bool,
        /// One line of JSON on stdout, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// The scheduler: enabled, where jobs are stored, what runs now, when it wakes next.
    Status {
        /// One line of JSON on stdout, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Add a job: one schedule (--cron, --every or --at) and what to do (--message,
    /// --system-event or --backup-sessions).
    Add(AddArgs),
    /// Change a job added with `cron add` (config-file jobs change in the config file).
    Edit(EditArgs),
    /// Remove a job added with `cron add`.
    #[command(visible_alias = "remove")]
    Rm {
        id: String,
        /// One line of JSON on stdout, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// Run a job now (with --due: only if it is due).
    Run {
        id: String,
        #[arg(long)]
        due: bool,
        /// One line of JSON on stdout, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectArgs,
    },
    /// A job's run history, newest last.
    Runs {
        #[arg(required_unless_present = "id_flag")]
        id: Option<String>,
        /// The job (upstream's spelling of the positional ID).
        #[arg(long = "id", value_name = "ID", conflicts_with = "id")]
        id_flag: Option<String>,
        /// How many runs, at most.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// One line of JSON on stdout, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectArgs,
    },
}

/// When a job runs: exactly one of these (add), at most one (edit).
#[derive(Args, Debug, Default)]
pub struct ScheduleArgs {
    /// A cron expression: 5 fields (min hour dom mon dow) or 6 (seconds first).
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// An interval: 30s, 5m, 2h, 1d.
    #[arg(long, value_name = "DUR")]
    pub every: Option<String>,
    /// Once: an RFC 3339 time (2026-12-24T18:00:00Z) or a delay from now (20m).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Time zone for --cron (IANA name, e.g. Europe/Berlin) [default: UTC].
    #[arg(long, value_name = "TZ")]
    pub tz: Option<String>,
}

/// What an agent-turn job runs with.
#[derive(Args, Debug, Default)]
pub struct TurnArgs {
    /// The agent that runs it [default: main].
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// "provider/model" instead of the agent's configured one.
    #[arg(long)]
    pub model: Option<String>,
    /// Thinking level for the run.
    #[arg(long, value_parser = super::agent::THINKING)]
    pub thinking: Option<String>,
    /// Longest a run may take, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout_seconds: Option<u64>,
}

/// How a job is named, for add and edit alike.
#[derive(Args, Debug, Default)]
pub struct LabelArgs {
    /// A name to recognise the job by.
    #[arg(long)]
    pub name: Option<String>,
    /// A longer description.
    #[arg(long)]
    pub description: Option<String>,
}

/// What a system-event job does, for add and edit alike.
#[derive(Args, Debug, Default)]
pub struct EventArgs {
    /// Leave this note for the agent's main session (a system event) instead: its next turn
    /// reads it first.
    #[arg(long, value_name = "TEXT")]
    pub system_event: Option<String>,
    /// With --system-event: `now` starts a turn at once to read it; `next-heartbeat` (the
    /// gateway's default) waits for the session's next message.
    #[arg(long, value_name = "MODE", value_parser = ["now", "next-heartbeat"])]
    pub wake: Option<String>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("when").required(true).args(["cron", "every", "at"])))]
#[command(group(ArgGroup::new("what").required(true).args(["message", "backup_sessions", "system_event"])))]
pub struct AddArgs {
    #[command(flatten)]
    pub label: LabelArgs,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// The message an agent runs on each run (an agent turn).
    #[arg(long, short)]
    pub message: Option<String>,
    /// Back up the session transcripts instead, keeping this many archives.
    #[arg(long, value_name = "KEEP")]
    pub backup_sessions: Option<u32>,
    #[command(flatten)]
    pub event: EventArgs,
    #[command(flatten)]
    pub turn: TurnArgs,
    /// `main`: run in the agent's main session; `isolated` (default): a session of its own.
    #[arg(long, value_parser = ["main", "isolated"])]
    pub session: Option<String>,
    /// Add it switched off.
    #[arg(long)]
    pub disabled: bool,
    /// Remove the job after its first run (for --at).
    #[arg(long)]
    pub delete_after_run: bool,
    /// Run once at start-up for the runs missed while the gateway was down.
    #[arg(long)]
    pub catch_up: bool,
    /// One line of JSON on stdout, for scripts.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("when").args(["cron", "every", "at"])))]
pub struct EditArgs {
    pub id: String,
    #[command(flatten)]
    pub label: LabelArgs,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// A new message for an agent-turn job.
    #[arg(long, short)]
    pub message: Option<String>,
    #[command(flatten)]
    pub event: EventArgs,
    #[command(flatten)]
    pub turn: TurnArgs,
    /// Switch the job on.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Switch the job off.
    #[arg(long)]
    pub disable: bool,
    /// One line of JSON on stdout, for scripts.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

pub fn run(cmd: CronCmd, opts: &LoadOptions) -> i32 {
    match cmd {
        CronCmd::List { all, json, conn } => with(&conn, opts, |c| {
            let v = c.call("cron.list", json!({"includeDisabled": all}))?;
            if json {
                out::json(&v);
            } else {
                print_jobs(&v);
            }
            Ok(())
        }),
        CronCmd::Status { json, conn } => with(&conn, opts, |c| {
            let v = c.call("cron.status", json!({}))?;
            if json {
                out::json(&v);
                return Ok(());
            }
            let now = crate::sys::now_ms();
            println!(
                "scheduler: {}",
                if v["enabled"] == true { "enabled" } else { "disabled (cron.enabled is false)" }
            );
            println!("jobs:      {}", v["jobs"]);
            println!("store:     {}", out::cell(&v["storePath"]));
            if let Some(e) = v["storeError"].as_str() {
                println!("store error: {e}");
            }
            let running: Vec<String> = v["running"].as_array().into_iter().flatten().map(out::cell).collect();
            println!("running:   {}", if running.is_empty() { "-".into() } else { running.join(", ") });
            let next = v["nextWakeAtMs"].as_i64().map(|t| when(t, now)).unwrap_or_else(|| "-".into());
            println!("next wake: {next}");
            Ok(())
        }),
        CronCmd::Add(a) => {
            let job = match add_params(&a, crate::sys::now_ms()) {
                Ok(j) => j,
                Err(e) => return usage(&e),
            };
            with(&a.conn, opts, |c| {
                let v = c.call("cron.add", job)?;
                saved(&v, a.json, "added");
                Ok(())
            })
        }
        CronCmd::Edit(a) => {
            if !changes_something(&a) {
                return usage("nothing to change: give --name, --cron/--every/--at, --tz, --message, --enable, ...");
            }
            with(&a.conn, opts, |c| {
                let list = c.call("cron.list", json!({"includeDisabled": true}))?;
                let Some(current) = list["jobs"].as_array().into_iter().flatten().find(|j| j["id"] == a.id.as_str())
                else {
                    return Err(refused(format!("no cron job {:?}; `openclaw cron list --all` shows the ids", a.id)));
                };
                let patch = edit_patch(&a, current, crate::sys::now_ms()).map_err(refused)?;
                let v = c.call("cron.update", json!({"id": a.id, "patch": patch}))?;
                saved(&v, a.json, "updated");
                Ok(())
            })
        }
        CronCmd::Rm { id, json, conn } => with(&conn, opts, |c| {
            let v = c.call("cron.remove", json!({"id": id}))?;
            if json {
                out::json(&v);
            } else {
                println!("removed {}", out::cell(&v["removed"]));
            }
            Ok(())
        }),
        CronCmd::Run { id, due, json, conn } => with(&conn, opts, |c| {
            let v = c.call("cron.run", json!({"id": id, "mode": if due { "due" } else { "force" }}))?;
            if json {
                out::json(&v);
            } else if v["ran"] == true {
                println!("started {id}; `openclaw cron runs {id}` shows how it went");
            } else {
                println!("{id} is not due; not run (leave out --due to run it anyway)");
            }
            Ok(())
        }),
        CronCmd::Runs { id, id_flag, limit, json, conn } => with(&conn, opts, |c| {
            let id = id.or(id_flag).unwrap_or_default();
            let v = c.call("cron.runs", json!({"id": id, "limit": limit}))?;
            if json {
                out::json(&v);
                return Ok(());
            }
            let now = crate::sys::now_ms();
            let mut t = Table::new(&["WHEN", "STATUS", "REASON", "DURATION", "OUTCOME"]);
            for r in v["runs"].as_array().into_iter().flatten() {
                let outcome = r["error"].as_str().or(r["summary"].as_str()).unwrap_or("");
                t.row(vec![
                    r["runAtMs"].as_i64().map(|t| when(t, now)).unwrap_or_default(),
                    out::cell(&r["status"]),
                    out::cell(&r["reason"]),
                    format!("{} ms", r["durationMs"]),
                    outcome.to_string(),
                ]);
            }
            if t.is_empty() {
                println!("no runs of {id} yet");
            } else {
                t.print();
            }
            Ok(())
        }),
    }
}

fn with(conn: &ConnectArgs, opts: &LoadOptions, f: impl FnOnce(&mut Client) -> Result<(), ClientError>) -> i32 {
    super::remote::with_client(conn, opts, f)
}

/// A request this command refuses before the gateway sees it (exit 1, as the gateway's own
/// refusals).
fn refused(message: String) -> ClientError {
    ClientError::Rpc { method: "cron edit".into(), code: "INVALID_REQUEST".into(), message, payload: None }
}

fn changes_something(a: &EditArgs) -> bool {
    let s = &a.schedule;
    let t = &a.turn;
    a.label.name.is_some()
        || a.label.description.is_some()
        || a.event.system_event.is_some()
        || a.event.wake.is_some()
        || s.cron.is_some()
        || s.every.is_some()
        || s.at.is_some()
        || s.tz.is_some()
        || a.message.is_some()
        || t.agent.is_some()
        || t.model.is_some()
        || t.thinking.is_some()
        || t.timeout_seconds.is_some()
        || a.enable
        || a.disable
}

fn usage(e: &str) -> i32 {
    eprintln!("openclaw: {e}");
    crate::exit::USAGE
}

fn saved(v: &Value, json: bool, what: &str) {
    if json {
        out::json(v);
        return;
    }
    let job = &v["job"];
    let next = job["nextRunAtMs"].as_i64().map(|t| when(t, crate::sys::now_ms())).unwrap_or_else(|| "-".into());
    println!("{what} {} ({}): {}, next run {next}", out::cell(&job["id"]), out::cell(&job["name"]), schedule(job));
}

/// A time as people read it: local RFC 3339 to the second, and how far from now.
fn when(ms: i64, now: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).map(|d| d.with_timezone(&chrono::Local));
    match t {
        Some(t) => format!("{} ({})", t.format("%Y-%m-%d %H:%M:%S"), out::relative(ms, now)),
        None => ms.to_string(),
    }
}

/// A job's schedule in one short line.
fn schedule(job: &Value) -> String {
    let s = &job["schedule"];
    let tz = job["tz"].as_str().or(s["tz"].as_str()).map(|t| format!(" ({t})")).unwrap_or_default();
    match s["kind"].as_str() {
        Some("cron") => format!("cron {}{tz}", out::cell(&s["expr"])),
        Some("every") => format!("every {}", duration(s["everyMs"].as_u64().unwrap_or(0))),
        Some("at") => format!("at {}", s["at"].as_str().map(str::to_string).unwrap_or_else(|| out::cell(&s["atMs"]))),
        _ => format!("{}{tz}", out::cell(s)),
    }
}

fn duration(ms: u64) -> String {
    for (unit, n) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= n && ms.is_multiple_of(n) {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}

fn print_jobs(v: &Value) {
    let now = crate::sys::now_ms();
    let mut t = Table::new(&["ID", "NAME", "SCHEDULE", "NEXT", "LAST", "STATE"]);
    for j in v["jobs"].as_array().into_iter().flatten() {
        let last = &j["lastRun"];
        let last = if last.is_null() {
            "-".into()
        } else {
            format!("{} {}", out::cell(&last["status"]), out::relative(last["runAtMs"].as_i64().unwrap_or(now), now))
        };
        let state = if j["scheduleError"].is_string() {
            "schedule error".to_string()
        } else if j["running"] == true {
            "running".to_string()
        } else if j["enabled"] == false {
            "disabled".to_string()
        } else {
            format!("enabled ({})", out::cell(&j["source"]))
        };
        t.row(vec![
            out::cell(&j["id"]),
            out::cell(&j["name"]),
            schedule(j),
            j["nextRunAtMs"].as_i64().map(|t| out::relative(t, now)).unwrap_or_else(|| "-".into()),
            last,
            state,
        ]);
    }
    if t.is_empty() {
        let note = if v["enabled"] == false { " (the scheduler is disabled: cron.enabled)" } else { "" };
        println!("no cron jobs{note}; add one with `openclaw cron add --every 1h --message ...`");
    } else {
        t.print();
    }
}

/// The schedule the flags give (`None` when they give none): what `cron.add` takes.
fn schedule_value(s: &ScheduleArgs, now_ms: i64) -> Result<Option<Value>, String> {
    if let Some(expr) = &s.cron {
        let mut v = json!({"kind": "cron", "expr": expr});
        if let Some(tz) = &s.tz {
            v["tz"] = json!(tz);
        }
        return Ok(Some(v));
    }
    if s.tz.is_some() {
        return Err("--tz applies to --cron schedules only".into());
    }
    if let Some(d) = &s.every {
        // The gateway parses "every <dur>" and names what is wrong with it.
        return Ok(Some(json!(format!("every {d}"))));
    }
    if let Some(at) = &s.at {
        if chrono::DateTime::parse_from_rfc3339(at).is_ok() {
            return Ok(Some(json!({"kind": "at", "at": at})));
        }
        return match crate::config::schedule::duration_ms(at) {
            Ok(ms) => Ok(Some(json!({"kind": "at", "atMs": now_ms + ms}))),
            Err(e) => Err(format!(
                "--at {at:?} is neither an RFC 3339 time like 2026-12-24T18:00:00Z nor a delay like 20m ({e})"
            )),
        };
    }
    Ok(None)
}

fn turn_payload(message: &str, t: &TurnArgs) -> Value {
    let mut p = json!({"kind": "agentTurn", "message": message});
    set_turn(&mut p, t);
    p
}

fn set_turn(p: &mut Value, t: &TurnArgs) {
    if let Some(a) = &t.agent {
        p["agentId"] = json!(a);
    }
    if let Some(m) = &t.model {
        p["model"] = json!(m);
    }
    if let Some(th) = &t.thinking {
        p["thinking"] = json!(th);
    }
    if let Some(s) = t.timeout_seconds {
        p["timeoutSeconds"] = json!(s);
    }
}

fn label(job: &mut Map<String, Value>, l: &LabelArgs) {
    if let Some(n) = &l.name {
        job.insert("name".into(), json!(n));
    }
    if let Some(d) = &l.description {
        job.insert("description".into(), json!(d));
    }
}

fn add_params(a: &AddArgs, now_ms: i64) -> Result<Value, String> {
    let schedule =
        schedule_value(&a.schedule, now_ms)?.ok_or("give a schedule: --cron EXPR, --every DUR or --at TIME")?;
    let t = &a.turn;
    if a.event.wake.is_some() && a.event.system_event.is_none() {
        return Err("--wake applies to --system-event jobs".into());
    }
    let mut job = json!({"schedule": schedule, "enabled": !a.disabled});
    job["payload"] = match (&a.message, a.backup_sessions, &a.event.system_event) {
        (Some(m), None, None) => turn_payload(m, t),
        (None, Some(keep), None) => json!({"kind": "backupSessions", "keep": keep}),
        (None, None, Some(text)) => {
            if t.model.is_some() || t.thinking.is_some() || t.timeout_seconds.is_some() {
                return Err("--model, --thinking and --timeout-seconds apply to --message jobs; \
                            a system event is read by the main session's next turn"
                    .into());
            }
            if let Some(agent) = &t.agent {
                job["agentId"] = json!(agent);
            }
            if let Some(w) = &a.event.wake {
                job["wakeMode"] = json!(w);
            }
            json!({"kind": "systemEvent", "text": text})
        }
        _ => {
            return Err("give what the job does: --message TEXT, --system-event TEXT or --backup-sessions KEEP".into());
        }
    };
    if let Value::Object(o) = &mut job {
        label(o, &a.label);
    }
    if let Some(s) = &a.session {
        job["sessionTarget"] = json!(s);
    }
    if a.delete_after_run {
        job["deleteAfterRun"] = json!(true);
    }
    if a.catch_up {
        job["catchUp"] = json!(true);
    }
    Ok(job)
}

/// The `cron.update` patch for the flags given, against the job as it is now (a payload is
/// replaced whole, so its other fields are kept from `current`).
fn edit_patch(a: &EditArgs, current: &Value, now_ms: i64) -> Result<Map<String, Value>, String> {
    let mut patch = Map::new();
    label(&mut patch, &a.label);
    if let Some(s) = schedule_value(&a.schedule, now_ms)? {
        patch.insert("schedule".into(), s);
    } else if let Some(tz) = &a.schedule.tz {
        patch.insert("tz".into(), json!(tz));
    }
    let turn = &a.turn;
    let turn_given =
        turn.agent.is_some() || turn.model.is_some() || turn.thinking.is_some() || turn.timeout_seconds.is_some();
    if a.message.is_some() || turn_given {
        let mut payload = current["payload"].clone();
        if payload["kind"] != "agentTurn" {
            return Err(format!(
                "job {} is not an agent turn ({}); --message, --agent, --model, --thinking and --timeout-seconds apply to agent turns",
                a.id,
                out::cell(&payload["kind"])
            ));
        }
        if let Some(m) = &a.message {
            payload["message"] = json!(m);
        }
        set_turn(&mut payload, turn);
        patch.insert("payload".into(), payload);
    }
    if a.event.system_event.is_some() || a.event.wake.is_some() {
        if current["payload"]["kind"] != "systemEvent" {
            return Err(format!(
                "job {} is not a system event ({}); --system-event and --wake apply to system events",
                a.id,
                out::cell(&current["payload"]["kind"])
            ));
        }
        if let Some(text) = &a.event.system_event {
            patch.insert("payload".into(), json!({"kind": "systemEvent", "text": text}));
        }
        if let Some(w) = &a.event.wake {
            patch.insert("wakeMode".into(), json!(w));
        }
    }
    if a.enable {
        patch.insert("enabled".into(), json!(true));
    }
    if a.disable {
        patch.insert("enabled".into(), json!(false));
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_from_flags_are_what_cron_add_takes() {
        let s = |cron: Option<&str>, every: Option<&str>, at: Option<&str>, tz: Option<&str>| ScheduleArgs {
            cron: cron.map(Into::into),
            every: every.map(Into::into),
            at: at.map(Into::into),
            tz: tz.map(Into::into),
        };
        assert_eq!(
            schedule_value(&s(Some("0 3 * * *"), None, None, Some("Europe/Berlin")), 0).unwrap(),
            Some(json!({"kind": "cron", "expr": "0 3 * * *", "tz": "Europe/Berlin"}))
        );
        assert_eq!(schedule_value(&s(None, Some("5m"), None, None), 0).unwrap(), Some(json!("every 5m")));
        assert_eq!(
            schedule_value(&s(None, None, Some("20m"), None), 1000).unwrap(),
            Some(json!({"kind": "at", "atMs": 1_201_000}))
        );
        assert_eq!(
            schedule_value(&s(None, None, Some("2026-12-24T18:00:00Z"), None), 0).unwrap(),
            Some(json!({"kind": "at", "at": "2026-12-24T18:00:00Z"}))
        );
        assert!(schedule_value(&s(None, None, Some("tomorrow"), None), 0).unwrap_err().contains("RFC 3339"));
        assert!(schedule_value(&s(None, Some("5m"), None, Some("UTC")), 0).unwrap_err().contains("--cron"));
    }

    #[test]
    fn schedules_read_short() {
        assert_eq!(schedule(&json!({"schedule": {"kind": "every", "everyMs": 3_600_000}})), "every 1h");
        assert_eq!(
            schedule(&json!({"schedule": {"kind": "cron", "expr": "0 3 * * *"}, "tz": "UTC"})),
            "cron 0 3 * * * (UTC)"
        );
        assert_eq!(schedule(&json!({"schedule": "every 1h"})), "every 1h");
    }
}
