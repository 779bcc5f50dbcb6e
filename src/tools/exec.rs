//! `exec {command, workdir?, env?, timeout?, background?}` (alias `bash`). [`ExecBackend`] is
//! the seam for where a command runs: [`HostExec`] runs `sh -c` on the host; a sandbox backend
//! (bubblewrap) wraps the same command. Before anything starts: the policy's command denials,
//! then, on the host, the exec-approvals file. Output (stdout and stderr together) is capped
//! to its tail; a command over its timeout is killed with its process group.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{Output, Toolbox, Update, approval, command};

/// Output kept per command (its tail); the model sees at most this much.
pub const MAX_OUTPUT: usize = 32 * 1024;
/// Between two `update` events of a running command.
const UPDATE_EVERY: Duration = Duration::from_millis(250);
/// How long output is still read after the command exited (a background grandchild may hold
/// the pipe open forever).
const DRAIN_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Seconds; bounded by the tool timeout.
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub background: bool,
}

/// A command to start, as a backend receives it.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub command: String,
    /// The host directory to start in (resolved by the toolbox's [`super::FileRoot`]).
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
}

/// Where commands run. A backend builds the process; spawning, output and limits are shared.
pub trait ExecBackend: Send + Sync {
    /// For messages and `/health`: "host", "bwrap", ...
    fn name(&self) -> &'static str;
    /// Whether this backend runs commands on the host unconfined, so the approvals file
    /// applies.
    fn is_host(&self) -> bool;
    /// The process for `req`, not yet started (stdio and process group are set by the caller).
    fn command(&self, req: &ExecRequest) -> Result<Command, String>;
}

/// `sh -c <command>` on the host, with the gateway's environment minus its own secrets.
pub struct HostExec;

/// Whether a variable of the gateway's environment is one of its secrets (its token and
/// password, channel tokens, provider keys, the test-only overrides), which a command the
/// model wrote must not see.
pub fn is_gateway_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.starts_with("OPENCLAW_")
        || n.ends_with("_API_KEY")
        || n.ends_with("_BOT_TOKEN")
        || n.ends_with("_APP_TOKEN")
        || n == "OPENAI_KEY"
}

impl ExecBackend for HostExec {
    fn name(&self) -> &'static str {
        "host"
    }

    fn is_host(&self) -> bool {
        true
    }

    fn command(&self, req: &ExecRequest) -> Result<Command, String> {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&req.command).current_dir(&req.cwd);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_none_or(is_gateway_secret) {
                c.env_remove(&k);
            }
        }
        c.envs(&req.env);
        Ok(c)
    }
}

/// The last [`MAX_OUTPUT`] bytes of a stream, and how many there were in all.
#[derive(Debug, Default)]
pub struct Tail {
    buf: std::collections::VecDeque<u8>,
    /// Bytes ever pushed.
    pub total: u64,
}

impl Tail {
    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        self.buf.extend(bytes);
        let over = self.buf.len().saturating_sub(MAX_OUTPUT);
        self.buf.drain(..over);
    }

    /// Output from byte `offset` on (what is still kept of it), and whether some was lost.
    pub fn since(&self, offset: u64) -> (String, bool) {
        let kept_from = self.total - self.buf.len() as u64;
        let skip = offset.saturating_sub(kept_from) as usize;
        let bytes: Vec<u8> = self.buf.iter().skip(skip).copied().collect();
        (String::from_utf8_lossy(&bytes).into_owned(), offset < kept_from)
    }

    /// Everything kept, with a note when the start was cut.
    pub fn text(&self) -> String {
        let (text, _) = self.since(0);
        if self.total > self.buf.len() as u64 {
            format!("[output truncated: showing the last {} of {} bytes]\n{text}", self.buf.len(), self.total)
        } else {
            text
        }
    }
}

/// Kills a process group when dropped (a command's leftovers, or all of it on abort).
pub struct GroupKill(pub Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

/// Why a command may not run, before anything starts: the tool policy's command denials, then
/// for host commands the approvals file, asking an operator when it says so (the call waits).
async fn refused(tb: &Toolbox, a: &Args) -> Option<String> {
    let programs = command::programs(&a.command);
    for p in &programs {
        if let Some(rule) = tb.policy.denied_command(&p.name) {
            return Some(format!(
                "exec refused: `{}` is disabled by the tool policy (\"{rule}\" in agents.defaults.tools.disabled / tools.deny)",
                p.word
            ));
        }
    }
    if !tb.exec.is_host() {
        return None;
    }
    let path_var = a.env.get("PATH").cloned().or_else(|| std::env::var("PATH").ok());
    let policy = match approval::load(&tb.approvals_file, &tb.agent_id) {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    let (patterns, resolved, refusal, on_allowlist) =
        match approval::check(&policy, &programs, &tb.approvals_file, path_var.as_deref()) {
            approval::Verdict::Run => return None,
            approval::Verdict::Refuse(why) => return Some(why),
            approval::Verdict::Ask { patterns, resolved, refusal, on_allowlist } => {
                (patterns, resolved, refusal, on_allowlist)
            }
        };
    let Some(approver) = &tb.approver else { return Some(refusal) };
    let cwd =
        tb.files.resolve(a.workdir.as_deref().unwrap_or("")).unwrap_or_else(|_| tb.files.workspace().to_path_buf());
    let req = approval::AskRequest {
        command: a.command.clone(),
        cwd,
        agent_id: tb.agent_id.clone(),
        session_key: tb.session_key.clone(),
        resolved_path: resolved,
        security: policy.security,
        ask: policy.ask,
        patterns,
    };
    match approver.ask(req).await {
        approval::Decision::AllowOnce | approval::Decision::AllowAlways => None,
        approval::Decision::Deny => Some("exec denied by an operator (exec.approval.resolve)".into()),
        approval::Decision::TimedOut if policy.fallback_runs(on_allowlist) => None,
        approval::Decision::TimedOut => Some(format!(
            "exec refused: no operator answered the approval request within {} s (askFallback: {}); \
             answer with `openclaw approvals allow <id>` or the Control UI, or add the program to the allowlist",
            approver.timeout_secs(),
            policy.fallback.as_str()
        )),
    }
}

pub async fn run(tb: &Toolbox, a: Args, update: Update<'_>) -> Output {
    if a.command.trim().is_empty() {
        return Output::error("exec: command is empty");
    }
    if let Some(why) = refused(tb, &a).await {
        return Output::error(why);
    }
    let cwd = match tb.files.resolve(a.workdir.as_deref().unwrap_or("")) {
        Ok(p) if p.is_dir() => p,
        Ok(p) => return Output::error(format!("exec: workdir {} is not a directory", p.display())),
        Err(e) => return Output::error(format!("exec: workdir refused: {e}")),
    };
    let req = ExecRequest { command: a.command.clone(), cwd, env: a.env.clone() };
    let mut cmd = match tb.exec.command(&req) {
        Ok(c) => c,
        Err(e) => return Output::error(format!("exec ({}): {e}", tb.exec.name())),
    };
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).process_group(0);
    cmd.stdin(if a.background { Stdio::piped() } else { Stdio::null() });
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Output::error(format!("exec: cannot start the command: {e}")),
    };
    if a.background {
        let id = tb.processes.start(&tb.agent_id, &a.command, child);
        return Output::ok(format!(
            "started in the background as job {id}; use the process tool (action poll|log|write|kill, id \"{id}\")"
        ));
    }
    let limit = a.timeout.filter(|t| *t > 0.0).map_or(tb.timeout, |t| Duration::from_secs_f64(t).min(tb.timeout));
    foreground(child, limit, update).await
}

async fn foreground(mut child: tokio::process::Child, limit: Duration, update: Update<'_>) -> Output {
    let _group = GroupKill(child.id());
    let started = Instant::now();
    let tail = Arc::new(Mutex::new(Tail::default()));
    let last_update = Mutex::new(Instant::now());
    let on_data = |bytes: &[u8]| {
        let mut t = tail.lock();
        t.push(bytes);
        let mut last = last_update.lock();
        if last.elapsed() >= UPDATE_EVERY {
            *last = Instant::now();
            update(&t.text());
        }
    };
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let pumps = Box::pin(futures_util::future::join(pump(out, &on_data), pump(err, &on_data)));
    let work = async {
        match select(pumps, Box::pin(child.wait())).await {
            Either::Left((_, wait)) => wait.await,
            Either::Right((status, pumps)) => {
                let _ = tokio::time::timeout(DRAIN_GRACE, pumps).await;
                status
            }
        }
    };
    let status = tokio::time::timeout(limit, work).await;
    let text = tail.lock().text();
    match status {
        Err(_) => Output::error(format!("{text}\n[timed out after {limit:?}; the command was killed]")),
        Ok(Err(e)) => Output::error(format!("{text}\n[exec: waiting for the command failed: {e}]")),
        Ok(Ok(s)) => match s.code() {
            Some(0) => Output::ok(if text.is_empty() { "(no output)".to_string() } else { text }),
            Some(code) => Output::error(format!("{text}\n[exit code {code} after {:?}]", started.elapsed())),
            None => Output::error(format!("{text}\n[killed by a signal]")),
        },
    }
}

/// Reads a pipe to its end, handing each chunk to `on_data`.
pub async fn pump(r: Option<impl AsyncRead + Unpin>, on_data: &(impl Fn(&[u8]) + ?Sized)) {
    let Some(mut r) = r else { return };
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        on_data(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_secrets_are_recognised() {
        for s in ["OPENCLAW_GATEWAY_TOKEN", "OPENAI_API_KEY", "mock_api_key", "DISCORD_BOT_TOKEN", "SLACK_APP_TOKEN"] {
            assert!(is_gateway_secret(s), "{s}");
        }
        for s in ["PATH", "HOME", "GH_TOKEN", "LANG"] {
            assert!(!is_gateway_secret(s), "{s}");
        }
    }

    #[test]
    fn the_tail_keeps_the_end_and_says_how_much_was_cut() {
        let mut t = Tail::default();
        t.push(b"abc");
        assert_eq!(t.text(), "abc");
        t.push(&vec![b'x'; MAX_OUTPUT]);
        assert!(
            t.text()
                .starts_with(&format!("[output truncated: showing the last {MAX_OUTPUT} of {} bytes]", MAX_OUTPUT + 3))
        );
        let (since, lost) = t.since(1);
        assert!(lost && since.len() == MAX_OUTPUT);
        let (since, lost) = t.since(t.total - 2);
        assert_eq!((since.as_str(), lost), ("xx", false));
    }

    /// Nobody answers: every request times out.
    struct Unanswered;

    impl approval::Approver for Unanswered {
        fn ask(&self, _: approval::AskRequest) -> futures_util::future::BoxFuture<'static, approval::Decision> {
            Box::pin(async { approval::Decision::TimedOut })
        }
        fn timeout_secs(&self) -> u64 {
            0
        }
    }

    #[tokio::test]
    async fn an_unanswered_ask_under_askfallback_allowlist_runs_allowlisted_commands_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("exec-approvals.json");
        std::fs::write(
            &file,
            r#"{"defaults": {"security": "allowlist", "ask": "always", "askFallback": "allowlist"},
                "agents": {"main": {"allowlist": [{"pattern": "echo"}]}}}"#,
        )
        .unwrap();
        let tb = Toolbox {
            agent_id: "main".into(),
            files: Arc::new(crate::tools::HostRoot::new(dir.path().join("ws")).unwrap()),
            exec: Arc::new(HostExec),
            processes: Arc::default(),
            policy: Arc::default(),
            approvals_file: file,
            approver: Some(Arc::new(Unanswered)),
            session_key: "agent:main:main".into(),
            timeout: Duration::from_secs(5),
            allow_private_web: false,
            web_domains: None,
            memory: None,
        };
        let args = |command: &str| Args {
            command: command.into(),
            workdir: None,
            env: BTreeMap::new(),
            timeout: None,
            background: false,
        };
        assert_eq!(refused(&tb, &args("echo hi")).await, None, "on the allowlist: the fallback runs it");
        let why = refused(&tb, &args("echo hi; rm -f x")).await.expect("rm is not on the allowlist");
        assert!(why.contains("askFallback: allowlist"), "{why}");
    }
}
