//! Background jobs (`exec` with `background: true`) and the `process` tool over them:
//! `list`, `poll` (new output and status), `log` (all that is kept), `write` (to stdin),
//! `kill`. The table is the one owner of every job; each job's reaper task writes only its
//! own job's output and exit. Jobs are scoped per agent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};

use super::Output;
use super::exec::{GroupKill, Tail, pump};

/// Finished jobs kept for `poll`/`log` (oldest dropped first).
const KEEP_FINISHED: usize = 32;

struct Job {
    agent_id: String,
    command: String,
    pid: Option<u32>,
    started: Instant,
    tail: Arc<Mutex<Tail>>,
    /// How it ended ("exit 0", "killed by signal 9"); `None` while it runs.
    exit: Arc<Mutex<Option<String>>>,
    stdin: Option<Arc<tokio::sync::Mutex<ChildStdin>>>,
    /// Output offset the last `poll` reached.
    polled: u64,
}

/// Every background job of the gateway.
#[derive(Default)]
pub struct ProcessTable {
    jobs: Mutex<BTreeMap<String, Job>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    pub action: String,
    /// The job (upstream calls it `sessionId`).
    #[serde(default, alias = "sessionId")]
    pub id: Option<String>,
    /// For `write`.
    #[serde(default)]
    pub data: Option<String>,
}

impl ProcessTable {
    /// Takes over a started child; returns its job id.
    pub fn start(&self, agent_id: &str, command: &str, mut child: Child) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let tail = Arc::new(Mutex::new(Tail::default()));
        let exit = Arc::new(Mutex::new(None));
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let stdin = child.stdin.take().map(|s| Arc::new(tokio::sync::Mutex::new(s)));
        let pid = child.id();
        let (t, x) = (tail.clone(), exit.clone());
        tokio::spawn(async move {
            let group = GroupKill(child.id());
            let on_data = |b: &[u8]| t.lock().push(b);
            let (_, _, status) =
                futures_util::future::join3(pump(out, &on_data), pump(err, &on_data), child.wait()).await;
            *x.lock() = Some(match status.map(|s| (s.code(), std::os::unix::process::ExitStatusExt::signal(&s))) {
                Ok((Some(c), _)) => format!("exit {c}"),
                Ok((None, Some(sig))) => format!("killed by signal {sig}"),
                Ok(_) | Err(_) => "ended".into(),
            });
            // Ended: its group (if anything is left in it) goes too, and the pid is not ours.
            drop(group);
        });
        let mut jobs = self.jobs.lock();
        jobs.insert(
            id.clone(),
            Job {
                agent_id: agent_id.into(),
                command: command.into(),
                pid,
                started: Instant::now(),
                tail,
                exit,
                stdin,
                polled: 0,
            },
        );
        let finished: Vec<String> =
            jobs.iter().filter(|(_, j)| j.exit.lock().is_some()).map(|(k, _)| k.clone()).collect();
        let mut by_age: Vec<(Instant, String)> = finished.into_iter().map(|k| (jobs[&k].started, k)).collect();
        by_age.sort();
        for (_, k) in by_age.iter().take(by_age.len().saturating_sub(KEEP_FINISHED)) {
            jobs.remove(k);
        }
        id
    }

    /// The `process` tool for `agent_id`.
    pub async fn call(&self, agent_id: &str, a: Args) -> Output {
        if a.action == "list" {
            let jobs = self.jobs.lock();
            let rows: Vec<String> = jobs
                .iter()
                .filter(|(_, j)| j.agent_id == agent_id)
                .map(|(id, j)| {
                    let status = j.exit.lock().clone().unwrap_or_else(|| "running".into());
                    format!("{id}  {status}  {}s  {}", j.started.elapsed().as_secs(), j.command)
                })
                .collect();
            return Output::ok(if rows.is_empty() { "no background jobs".into() } else { rows.join("\n") });
        }
        let Some(id) = a.id.as_deref() else {
            return Output::error(format!("process {}: id is required", a.action));
        };
        let (tail, exit, stdin, pid, polled) = {
            let jobs = self.jobs.lock();
            match jobs.get(id).filter(|j| j.agent_id == agent_id) {
                Some(j) => (j.tail.clone(), j.exit.clone(), j.stdin.clone(), j.pid, j.polled),
                None => return Output::error(format!("process: no job {id:?} (see action list)")),
            }
        };
        let status = || exit.lock().clone().unwrap_or_else(|| "running".into());
        match a.action.as_str() {
            "poll" => {
                let (text, total) = {
                    let t = tail.lock();
                    let (text, lost) = t.since(polled);
                    (if lost { format!("[earlier output dropped]\n{text}") } else { text }, t.total)
                };
                if let Some(j) = self.jobs.lock().get_mut(id) {
                    j.polled = total;
                }
                Output::ok(format!("[{}]\n{text}", status()))
            }
            "log" => Output::ok(format!("[{}]\n{}", status(), tail.lock().text())),
            "write" => {
                let Some(stdin) = stdin else { return Output::error("process write: this job has no stdin") };
                let data = a.data.unwrap_or_default();
                match stdin.lock().await.write_all(data.as_bytes()).await {
                    Ok(()) => Output::ok(format!("wrote {} bytes to job {id}", data.len())),
                    Err(e) => Output::error(format!("process write: {e} ({})", status())),
                }
            }
            "kill" => {
                if exit.lock().is_none() {
                    drop(GroupKill(pid));
                }
                Output::ok(format!("job {id} killed"))
            }
            other => Output::error(format!("process: unknown action {other:?} (list, poll, log, write, kill)")),
        }
    }
}
