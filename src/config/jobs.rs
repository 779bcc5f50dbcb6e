//! What a config `cron.jobs[]` entry means (its id, its payload) and the checks the schema
//! cannot make: schedules that do not parse, unknown commands, duplicate ids. Here, not in
//! `cron`, because every config load runs these checks and config sits below cron.

use std::collections::HashSet;

use super::Problem;
use super::model::{Config, CronJob, CronPayload};
use super::schedule;

/// The id of config job `i` unless it names its own.
pub fn id(job: &CronJob, i: usize) -> String {
    job.id.clone().unwrap_or_else(|| format!("config-{i}"))
}

/// Why a config job names nothing it can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("unknown command {0:?} (built-in: backup-sessions; or give a payload)")]
    UnknownCommand(String),
    #[error("give either command or payload, not both")]
    Both,
    #[error("needs a command (e.g. \"backup-sessions\") or a payload")]
    Neither,
}

/// What the job runs: its payload, or the built-in command it names.
pub fn payload(job: &CronJob) -> Result<CronPayload, PayloadError> {
    match (&job.command, &job.payload) {
        (Some(c), None) if c == "backup-sessions" => Ok(CronPayload::BackupSessions { keep: 7 }),
        (Some(c), None) => Err(PayloadError::UnknownCommand(c.clone())),
        (None, Some(p)) => Ok(p.clone()),
        (Some(_), Some(_)) => Err(PayloadError::Both),
        (None, None) => Err(PayloadError::Neither),
    }
}

/// Config problems the schema cannot see, in job order.
pub fn check(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for (i, job) in cfg.cron.jobs.iter().enumerate() {
        if let Err(e) = schedule::parse(&job.schedule, job.tz.as_deref(), 0) {
            out.push(Problem::new(format!("cron.jobs.{i}.schedule"), e.to_string()));
        }
        if let Err(e) = payload(job) {
            out.push(Problem::new(format!("cron.jobs.{i}"), e.to_string()));
        }
        if !ids.insert(id(job, i)) {
            out.push(Problem::new(format!("cron.jobs.{i}.id"), format!("duplicate job id {:?}", id(job, i))));
        }
    }
    out
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
        let p: Vec<String> = check(&cfg).into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("cron.jobs.1.schedule: every:"), "{p:?}");
        assert!(p[1].contains("cron.jobs.2: unknown command \"make-coffee\""), "{p:?}");
        assert!(p[2].contains("duplicate job id \"config-0\""), "{p:?}");
    }
}
