//! Cron jobs: their model (from config `cron.jobs[]` and from the store), the files under
//! `<state>/cron/` (`jobs.json` for jobs added by RPC, `state.json` for what ran when,
//! `runs/<jobId>.jsonl` for run history), and the planning of what is due ([`plan`]).
//! Schedules are parsed by `config::schedule`: config loading checks them too.

pub mod backup;
pub mod plan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::jobs as config_jobs;
use crate::config::model::{CronJob, CronPayload, Schedule, WakeMode};
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
    /// For a `systemEvent` payload: whether a turn starts at once to read it (other payloads
    /// run when due; upstream clients send it with every job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_mode: Option<WakeMode>,
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

/// A config job in the store's shape.
pub fn from_config(job: &CronJob, i: usize) -> Result<JobSpec, config_jobs::PayloadError> {
    let payload = config_jobs::payload(job)?;
    Ok(JobSpec {
        id: config_jobs::id(job, i),
        name: job.name.clone(),
        description: None,
        enabled: job.enabled,
        delete_after_run: false,
        schedule: job.schedule.clone(),
        tz: job.tz.clone(),
        payload,
        catch_up: job.catch_up,
        session_target: None,
        wake_mode: job.wake_mode,
        agent_id: None,
        created_at_ms: 0,
    })
}

/// Why a job's fields do not go together (the schedule is checked by `config::schedule`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("sessionTarget must be \"main\" or \"isolated\", not {0:?}")]
    SessionTarget(String),
    #[error("a systemEvent job writes to the agent's main session: drop sessionTarget or set it to \"main\"")]
    SystemEventIsolated,
}

/// The checks serde cannot make on a job's fields.
pub fn check(spec: &JobSpec) -> Result<(), SpecError> {
    match spec.session_target.as_deref() {
        None | Some("main") => {}
        Some("isolated") if matches!(spec.payload, CronPayload::SystemEvent { .. }) => {
            return Err(SpecError::SystemEventIsolated);
        }
        Some("isolated") => {}
        Some(other) => return Err(SpecError::SessionTarget(other.into())),
    }
    Ok(())
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

/// Why the store cannot be read; the scheduler then refuses to overwrite it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}: {source} (fix or move the file; jobs added by RPC are kept there)", file.display())]
    Corrupt { file: PathBuf, source: serde_json::Error },
}

/// Jobs added through RPC. A missing file is an empty store; an unreadable one is an error
/// (never silently replaced).
pub fn load_store(state_dir: &Path) -> Result<Vec<JobSpec>, StoreError> {
    let file = store_path(state_dir);
    match std::fs::read(&file) {
        Ok(b) => serde_json::from_slice::<StoreFile>(&b)
            .map(|s| s.jobs)
            .map_err(|source| StoreError::Corrupt { file, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(StoreError::Read { file, source }),
    }
}

pub fn save_store(state_dir: &Path, jobs: &[JobSpec]) -> Result<(), StateError> {
    let body = serde_json::to_vec_pretty(&StoreFile { version: 1, jobs: jobs.to_vec() }).unwrap_or_default();
    state::write_file(&store_path(state_dir), &body, FILE_MODE)
}

/// What the scheduler remembers per job across restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    pub status: RunStatus,
    pub duration_ms: u64,
    /// schedule, catch-up or manual.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// How a run ended; stored and sent as `ok`, `error` or `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Ok,
    Error,
    /// Not run: missed while the gateway was down, or it could not start.
    Skipped,
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
    fn a_missing_store_is_empty_and_a_corrupt_one_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load_store(d.path()).unwrap(), Vec::new());
        std::fs::create_dir_all(dir(d.path())).unwrap();
        std::fs::write(store_path(d.path()), "{not json").unwrap();
        let e = load_store(d.path()).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }));
        let text = e.to_string();
        assert!(text.starts_with(&format!("{}: ", store_path(d.path()).display())), "{text}");
        assert!(text.ends_with(" (fix or move the file; jobs added by RPC are kept there)"), "{text}");
    }

    #[test]
    fn run_records_keep_their_stored_shape() {
        // History lines and state.json written before the status was an enum.
        for status in ["ok", "error", "skipped"] {
            let line = format!(
                r#"{{"jobId":"bk","runAtMs":5,"scheduledForMs":4,"status":"{status}","durationMs":1,"reason":"schedule"}}"#
            );
            let r: RunRecord = serde_json::from_str(&line).unwrap();
            assert_eq!(serde_json::to_string(&r).unwrap(), line);
        }
        let r: RunRecord = serde_json::from_str(
            r#"{"jobId":"x","runAtMs":1,"status":"error","durationMs":0,"reason":"manual","error":"boom"}"#,
        )
        .unwrap();
        assert_eq!((r.status, r.error.as_deref()), (RunStatus::Error, Some("boom")));
        assert!(
            serde_json::from_str::<RunRecord>(
                r#"{"jobId":"x","runAtMs":1,"status":"OK","durationMs":0,"reason":"manual"}"#
            )
            .is_err()
        );
    }
}
