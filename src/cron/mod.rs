//! Cron jobs: their model (from config `cron.jobs[]` and from the store), the files under
//! `<state>/cron/` (`jobs.json` for jobs added by RPC, `state.json` for what ran when,
//! `runs/<jobId>.jsonl` for run history), and the config check of schedules.

pub mod backup;
pub mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Problem;
use crate::config::model::{Config, CronJob, CronPayload, Schedule};
use crate::state::{self, FILE_MODE, StateError};

/// A job as stored in `jobs.json` (and as config jobs are shown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub delete_after_run: bool,
    pub schedule: Schedule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    pub payload: CronPayload,
    #[serde(default)]
    pub catch_up: bool,
    /// `main`: the agent's main session; `isolated` (default): a session of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_target: Option<String>,
    /// Accepted for compatibility; runs always start when due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub created_at_ms: i64,
}

fn yes() -> bool {
    true
}

/// Where a job is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Store,
}

/// The id of config job `i` unless it names its own.
pub fn config_id(job: &CronJob, i: usize) -> String {
    job.id.clone().unwrap_or_else(|| format!("config-{i}"))
}

/// A config job in the store's shape.
pub fn from_config(job: &CronJob, i: usize) -> Result<JobSpec, String> {
    let payload = match (&job.command, &job.payload) {
        (Some(c), None) if c == "backup-sessions" => CronPayload::BackupSessions { keep: 7 },
        (Some(c), None) => return Err(format!("unknown command {c:?} (built-in: backup-sessions; or give a payload)")),
        (None, Some(p)) => p.clone(),
        (Some(_), Some(_)) => return Err("give either command or payload, not both".into()),
        (None, None) => return Err("needs a command (e.g. \"backup-sessions\") or a payload".into()),
    };
    Ok(JobSpec {
        id: config_id(job, i),
        name: job.name.clone(),
        description: None,
        enabled: job.enabled,
        delete_after_run: false,
        schedule: job.schedule.clone(),
        tz: job.tz.clone(),
        payload,
        catch_up: job.catch_up,
        session_target: None,
        wake_mode: None,
        agent_id: None,
        created_at_ms: 0,
    })
}

/// Config problems the schema cannot see: schedules that do not parse, unknown commands,
/// duplicate ids.
pub fn check_config(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (i, job) in cfg.cron.jobs.iter().enumerate() {
        if let Err(e) = schedule::parse(&job.schedule, job.tz.as_deref(), 0) {
            out.push(Problem::new(format!("cron.jobs.{i}.schedule"), e));
        }
        if let Err(e) = from_config(job, i) {
            out.push(Problem::new(format!("cron.jobs.{i}"), e));
        }
        if !ids.insert(config_id(job, i)) {
            out.push(Problem::new(format!("cron.jobs.{i}.id"), format!("duplicate job id {:?}", config_id(job, i))));
        }
    }
    out
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("cron")
}

pub fn store_path(state_dir: &Path) -> PathBuf {
    dir(state_dir).join("jobs.json")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    jobs: Vec<JobSpec>,
}

/// Jobs added through RPC. A missing file is an empty store; an unreadable one is an error
/// (never silently replaced).
pub fn load_store(state_dir: &Path) -> Result<Vec<JobSpec>, String> {
    let file = store_path(state_dir);
    match std::fs::read(&file) {
        Ok(b) => serde_json::from_slice::<StoreFile>(&b)
            .map(|s| s.jobs)
            .map_err(|e| format!("{}: {e} (fix or move the file; jobs added by RPC are kept there)", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

pub fn save_store(state_dir: &Path, jobs: &[JobSpec]) -> Result<(), StateError> {
    let body = serde_json::to_vec_pretty(&StoreFile { version: 1, jobs: jobs.to_vec() }).unwrap_or_default();
    state::write_file(&store_path(state_dir), &body, FILE_MODE)
}

/// What the scheduler remembers per job across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// When the job was first seen (the start of its schedule if it never ran).
    pub seen_at_ms: i64,
    /// The last scheduled time that was handled (run or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scheduled_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunRecord>,
}

pub fn load_state(state_dir: &Path) -> BTreeMap<String, JobState> {
    std::fs::read(dir(state_dir).join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub fn save_state(state_dir: &Path, st: &BTreeMap<String, JobState>) -> Result<(), StateError> {
    let body = serde_json::to_vec_pretty(st).unwrap_or_default();
    state::write_file(&dir(state_dir).join("state.json"), &body, FILE_MODE)
}

/// One run (or skipped run) of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub job_id: String,
    pub run_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for_ms: Option<i64>,
    /// ok, error or skipped.
    pub status: String,
    pub duration_ms: u64,
    /// schedule, catch-up or manual.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

fn runs_file(state_dir: &Path, job_id: &str) -> PathBuf {
    // Job ids are checked to a safe alphabet, so they are file names as they are.
    dir(state_dir).join("runs").join(format!("{job_id}.jsonl"))
}

pub fn append_run(state_dir: &Path, r: &RunRecord) -> Result<(), StateError> {
    let v = serde_json::to_value(r).unwrap_or(Value::Null);
    crate::agents::transcript::append(&runs_file(state_dir, &r.job_id), &v)
}

/// The newest `limit` runs of a job, newest last.
pub fn runs(state_dir: &Path, job_id: &str, limit: usize) -> Vec<Value> {
    let (mut entries, _) = crate::agents::transcript::read(&runs_file(state_dir, job_id));
    let skip = entries.len().saturating_sub(limit);
    entries.drain(..skip);
    entries
}

/// Job ids become file names.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_jobs_are_checked_beyond_the_schema() {
        let cfg: Config = serde_json::from_value(serde_json::json!({"cron": {"jobs": [
            {"schedule": "0 */6 * * *", "command": "backup-sessions"},
            {"schedule": "every 5 weeks", "command": "backup-sessions"},
            {"schedule": "0 * * * *", "command": "make-coffee"},
            {"id": "config-0", "schedule": "0 * * * *", "payload": {"kind": "agentTurn", "message": "hi"}},
        ]}}))
        .unwrap();
        let p: Vec<String> = check_config(&cfg).into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("cron.jobs.1.schedule: every:"), "{p:?}");
        assert!(p[1].contains("cron.jobs.2: unknown command \"make-coffee\""), "{p:?}");
        assert!(p[2].contains("duplicate job id \"config-0\""), "{p:?}");
    }
}
