//! CronActor: owns the job list (config `cron.jobs[]` and the store), what ran when, and the
//! timer; carries out `cron::plan` (due runs onto the cron lane, missed ones caught up or
//! recorded as skipped) and the `cron.*` commands, answering with typed views that
//! `rpc::cron` shapes into payloads. Runs are tasks of their own: a restart of this actor
//! neither stops them nor loses their records (they write their own).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};

use super::children::ChildRegistry;
use super::hub::SessionHub;
use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use crate::actors::hub::Push;
use crate::agents::Agents;
use crate::agents::{self, RunRequest};
use crate::config::LoadOptions;
use crate::config::live::LiveConfig;
use crate::config::model::{CronPayload, WakeMode};
use crate::config::schedule::{self, Sched};
use crate::cron::plan::{self, Action, Pass};
use crate::cron::{self as jobs, JobSpec, JobState, RunRecord, RunStatus, Source};
use crate::lanes::Lanes;
use crate::protocol::scope;
use crate::sys::now_ms;

pub const ID: &str = "cron";
/// The timer never sleeps longer than this (clock changes, far-away jobs).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A `cron.*` method call.
#[derive(Debug)]
pub enum CronCommand {
    List { include_disabled: bool },
    Status,
    Add(Value),
    Update { id: String, patch: Value },
    Remove { id: String },
    Run { id: String, force: bool },
    Runs { id: String, limit: usize },
}

#[derive(Message)]
#[rtype(result = "Result<CronReply, CronError>")]
pub struct CronCall(pub CronCommand);

/// What a `cron.*` command found or did.
#[derive(Debug)]
pub enum CronReply {
    List {
        enabled: bool,
        jobs: Vec<JobView>,
    },
    Status(StatusView),
    /// The job as it is after `cron.add` or `cron.update`.
    Saved(Box<JobView>),
    Removed(String),
    /// `Some(id)` when a run started, `None` when the job was not due.
    Ran(Option<String>),
    Runs {
        id: String,
        runs: Vec<Value>,
    },
}

/// One job with what the scheduler knows of it.
#[derive(Debug)]
pub struct JobView {
    pub spec: JobSpec,
    pub source: Source,
    /// `None` while the job or cron is disabled.
    pub next_run_at_ms: Option<i64>,
    pub last_run: Option<RunRecord>,
    pub running: bool,
    pub schedule_error: Option<String>,
}

#[derive(Debug)]
pub struct StatusView {
    pub enabled: bool,
    pub store_path: std::path::PathBuf,
    pub store_error: Option<String>,
    pub jobs: usize,
    pub running: Vec<String>,
    pub next_wake_at_ms: Option<i64>,
}

/// Fact: config changed under `cron` (or `agents`): rebuild the job list.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CronConfigChanged;

/// Fact: a run ended (sent by the run's task) or was skipped, with the job's next run time.
#[derive(Message)]
#[rtype(result = "()")]
struct RunDone {
    record: RunRecord,
    next_run_at_ms: Option<i64>,
    /// The run held the job's running mark (a skip never does).
    ran: bool,
}

struct Entry {
    spec: JobSpec,
    source: Source,
    sched: Result<Sched, String>,
}

/// Why a cron command was refused: the request's fault, or the store's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("unknown cron job {0:?}")]
    UnknownJob(String),
    #[error("cron job {0:?} is defined in the config file (cron.jobs); change it there")]
    ConfigOwned(String),
    /// Bad parameters or job definition.
    #[error("{0}")]
    Invalid(String),
    #[error("the cron store is unreadable, not overwritten: {0}")]
    StoreUnreadable(String),
    #[error("cannot write the cron store: {0}")]
    StoreWrite(String),
}

/// What the CronActor reads and reaches.
pub struct CronHandles {
    pub config: LiveConfig,
    /// The state directory (job store, run history, backups).
    pub options: Arc<LoadOptions>,
    /// `cron` events.
    pub sessions: Arc<SessionHub>,
    /// To tell the current incarnation that a run ended (runs outlive an incarnation).
    pub registry: Arc<ChildRegistry>,
    /// The `cron` lane for jobs that are not agent runs.
    pub lanes: Arc<Lanes>,
    pub agents: Arc<Agents>,
}

pub struct CronActor {
    h: Arc<CronHandles>,
    jobs: Vec<Entry>,
    state: BTreeMap<String, JobState>,
    /// What state.json holds (as loaded or last written): a save that would not change it is
    /// skipped, so a start or a stop with nothing run costs no write and no fsync.
    saved: BTreeMap<String, JobState>,
    running: HashSet<String>,
    timer: Option<SpawnHandle>,
    store_error: Option<String>,
    enabled: bool,
    _watch: ExitWatch,
}

pub fn spec(handles: CronHandles) -> ChildSpec {
    let handles = Arc::new(handles);
    ChildSpec::permanent(ID, Duration::from_secs(5), move |cx| start(cx, &handles))
}

fn start(cx: &ChildContext, h: &Arc<CronHandles>) -> Result<Child, StartError> {
    let state = jobs::load_state(&h.options.paths.state_dir);
    let actor = CronActor {
        h: h.clone(),
        jobs: Vec::new(),
        saved: state.clone(),
        state,
        running: HashSet::new(),
        timer: None,
        store_error: None,
        enabled: h.config.get().loaded.config.cron.enabled,
        _watch: cx.watch(),
    };
    Ok(cx.spawn(|_| actor))
}

fn broadcast(h: &CronHandles, payload: Value) {
    h.sessions.broadcast(Push::Event {
        name: "cron",
        payload: Arc::new(payload),
        droppable: false,
        scope: Some(scope::READ),
    });
}

/// Writes `r` to the job's history and logs it.
fn write_history(h: &CronHandles, r: &RunRecord) {
    if let Err(e) = jobs::append_run(&h.options.paths.state_dir, r) {
        tracing::warn!(job = %r.job_id, error = %e, "cron run history not written");
    }
    match r.status {
        RunStatus::Error => tracing::warn!(job = %r.job_id, error = ?r.error, "cron run failed"),
        RunStatus::Skipped => tracing::warn!(job = %r.job_id, reason = ?r.error, "cron run skipped"),
        RunStatus::Ok => tracing::info!(job = %r.job_id, duration_ms = r.duration_ms, "cron run finished"),
    }
}

/// The `finished` event: sent once the history has the run.
fn announce(h: &CronHandles, r: &RunRecord, next_run_at_ms: Option<i64>) {
    broadcast(
        h,
        json!({"jobId": r.job_id, "action": "finished", "status": r.status, "error": r.error, "summary": r.summary,
               "runAtMs": r.run_at_ms, "durationMs": r.duration_ms, "reason": r.reason,
               "nextRunAtMs": next_run_at_ms}),
    );
}

/// The end of a run: the actor clears the job's running mark before announcing it, so a client that
/// starts the next run on hearing `finished` is not told the previous one is still running.
fn finish(h: &CronHandles, record: RunRecord, next_run_at_ms: Option<i64>, ran: bool) {
    write_history(h, &record);
    match h.registry.get::<CronActor>(ID) {
        Some(a) => a.do_send(RunDone { record, next_run_at_ms, ran }),
        None => announce(h, &record, next_run_at_ms),
    }
}

impl CronActor {
    fn state_dir(&self) -> std::path::PathBuf {
        self.h.options.paths.state_dir.clone()
    }

    /// The job list from config and store, with a state entry for each.
    fn rebuild(&mut self) {
        let live = self.h.config.get();
        let now = now_ms();
        let mut out = Vec::new();
        for (i, job) in live.loaded.config.cron.jobs.iter().enumerate() {
            match jobs::from_config(job, i) {
                Ok(spec) => out.push(spec_entry(spec, Source::Config)),
                Err(e) => tracing::warn!(job = i, error = %e, "cron job ignored"),
            }
        }
        match jobs::load_store(&self.state_dir()) {
            Ok(stored) => {
                self.store_error = None;
                out.extend(stored.into_iter().map(|s| spec_entry(s, Source::Store)));
            }
            Err(e) => {
                tracing::error!(error = %e, "cron store unreadable; its jobs are not scheduled");
                self.store_error = Some(e.to_string());
            }
        }
        for e in &out {
            if let Err(err) = &e.sched {
                tracing::warn!(job = %e.spec.id, error = %err, "cron job not scheduled");
            }
            self.state.entry(e.spec.id.clone()).or_insert_with(|| JobState {
                seen_at_ms: now,
                last_scheduled_ms: None,
                last_run: None,
            });
        }
        self.jobs = out;
    }

    fn save_state(&mut self) {
        let ids: HashSet<&str> = self.jobs.iter().map(|e| e.spec.id.as_str()).collect();
        self.state.retain(|k, _| ids.contains(k.as_str()));
        if self.state == self.saved {
            return;
        }
        match jobs::save_state(&self.state_dir(), &self.state) {
            Ok(()) => self.saved = self.state.clone(),
            Err(e) => tracing::warn!(error = %e, "cron state not saved; missed runs may be miscounted after a restart"),
        }
    }

    /// A job as the planner sees it; `enabled` folds in whether cron as a whole is.
    fn planned<'a>(&'a self, e: &'a Entry) -> plan::Job<'a> {
        plan::Job {
            id: &e.spec.id,
            enabled: e.spec.enabled && self.enabled,
            catch_up: e.spec.catch_up,
            sched: e.sched.as_ref().ok(),
            state: self.state.get(&e.spec.id),
        }
    }

    fn all_planned(&self) -> Vec<plan::Job<'_>> {
        self.jobs.iter().map(|e| self.planned(e)).collect()
    }

    fn next_run(&self, e: &Entry) -> Option<i64> {
        plan::next_run(&self.planned(e))
    }

    /// Carries out what `pass` finds due now; whether anything was.
    fn run_due(&mut self, pass: Pass, ctx: &mut Context<Self>) -> bool {
        let due = plan::due(&self.all_planned(), now_ms(), pass);
        for d in &due {
            if let Some(st) = self.state.get_mut(&d.id) {
                st.last_scheduled_ms = Some(d.last_ms);
            }
            match &d.action {
                Action::Run => {
                    if pass == Pass::Startup {
                        tracing::info!(job = %d.id, missed = d.missed, "running a missed cron job once (catchUp)");
                    }
                    self.fire(&d.id, pass.reason(), Some(d.last_ms), ctx);
                }
                Action::Skip { first_ms, why } => self.skip(&d.id, pass.reason(), Some(*first_ms), why.clone()),
            }
        }
        !due.is_empty()
    }

    fn skip(&mut self, id: &str, reason: &str, scheduled_for: Option<i64>, why: String) {
        let r = RunRecord {
            job_id: id.into(),
            run_at_ms: now_ms(),
            scheduled_for_ms: scheduled_for,
            status: RunStatus::Skipped,
            duration_ms: 0,
            reason: reason.into(),
            error: Some(why),
            summary: None,
        };
        let next = self.jobs.iter().find(|e| e.spec.id == id).and_then(|e| self.next_run(e));
        if let Some(st) = self.state.get_mut(id) {
            st.last_run = Some(r.clone());
        }
        finish(&self.h, r, next, false);
    }

    /// Starts one run of `id` through the cron lane (skipped when it cannot be queued).
    fn fire(&mut self, id: &str, reason: &'static str, scheduled_for: Option<i64>, _: &mut Context<Self>) {
        let Some(spec) = self.jobs.iter().find(|e| e.spec.id == id).map(|e| e.spec.clone()) else { return };
        if self.running.contains(id) {
            return self.skip(id, reason, scheduled_for, "the previous run is still running".into());
        }
        let handles = self.h.clone();
        let started = now_ms();
        let job_id = spec.id.clone();
        let begin = move |h: &CronHandles| {
            broadcast(h, json!({"jobId": job_id, "action": "started", "runAtMs": started, "reason": reason}));
        };
        let job_id = spec.id.clone();
        let done = move |status: RunStatus, error: Option<String>, summary: Option<String>, took: Duration| RunRecord {
            job_id: job_id.clone(),
            run_at_ms: started,
            scheduled_for_ms: scheduled_for,
            status,
            duration_ms: took.as_millis() as u64,
            reason: reason.into(),
            error,
            summary,
        };
        let next_of = {
            let spec = spec.clone();
            move || schedule::parse(&spec.schedule, spec.tz.as_deref(), spec.created_at_ms).ok()?.next_after(now_ms())
        };
        let req = match &spec.payload {
            CronPayload::BackupSessions { keep } => {
                let lane = self.h.lanes.get("cron").cloned().expect("the cron lane exists");
                let pending = match lane.enqueue(format!("cron job {id}")) {
                    Ok(p) => p,
                    Err(err) => return self.skip(id, reason, scheduled_for, err.to_string()),
                };
                self.running.insert(id.to_string());
                let keep = *keep as usize;
                let dir = self.state_dir();
                actix_rt::spawn(async move {
                    let t0 = Instant::now();
                    let r = match pending.slot().await {
                        Err(err) => done(RunStatus::Skipped, Some(err.to_string()), None, t0.elapsed()),
                        Ok(_slot) => {
                            begin(&handles);
                            let out = tokio::task::spawn_blocking(move || {
                                jobs::backup::backup_sessions(&dir, keep).map_err(|e| e.to_string())
                            })
                            .await
                            .unwrap_or_else(|e| Err(format!("backup task failed: {e}")));
                            match out {
                                Ok((path, n)) => {
                                    let s = format!("{n} file(s) into {}", path.display());
                                    done(RunStatus::Ok, None, Some(s), t0.elapsed())
                                }
                                Err(e) => done(RunStatus::Error, Some(e), None, t0.elapsed()),
                            }
                        }
                    };
                    finish(&handles, r, next_of(), true);
                });
                return;
            }
            CronPayload::AgentTurn { message, agent_id, session_key, model, thinking, timeout_seconds } => {
                let agent = agent_id.clone().or(spec.agent_id.clone()).unwrap_or_else(|| "main".into());
                let key = session_key.clone().unwrap_or_else(|| match spec.session_target.as_deref() {
                    Some("main") => format!("agent:{agent}:main"),
                    _ => format!("agent:{agent}:cron:{id}"),
                });
                RunRequest {
                    agent_id: agent,
                    session_key: key,
                    message: message.clone(),
                    model: model.clone(),
                    thinking: *thinking,
                    timeout: timeout_seconds.map(Duration::from_secs),
                    lane: "cron",
                    origin: format!("cron:{id}"),
                }
            }
            CronPayload::SystemEvent { text } => {
                let agent = spec.agent_id.clone().unwrap_or_else(|| "main".into());
                let key = format!("agent:{agent}:main");
                let waiting = match self.h.agents.queue_system_event(&self.state_dir(), &agent, &key, text) {
                    Ok(n) => n,
                    Err(e) => {
                        let r = done(RunStatus::Error, Some(e.to_string()), None, Duration::ZERO);
                        return finish(&self.h, r, next_of(), false);
                    }
                };
                if spec.wake_mode != Some(WakeMode::Now) {
                    let summary = format!("queued for the next turn of {key} ({waiting} waiting)");
                    return finish(&self.h, done(RunStatus::Ok, None, Some(summary), Duration::ZERO), next_of(), false);
                }
                // The turn reads the waiting events as its message.
                RunRequest {
                    agent_id: agent,
                    session_key: key,
                    message: String::new(),
                    model: None,
                    thinking: None,
                    timeout: None,
                    lane: "cron",
                    origin: format!("cron:{id}"),
                }
            }
        };
        let run = match agents::submit(&self.h.agents, req) {
            Ok(r) => r,
            Err(err) => return self.skip(id, reason, scheduled_for, err.to_string()),
        };
        self.running.insert(id.to_string());
        begin(&self.h);
        actix_rt::spawn(async move {
            let t0 = Instant::now();
            let st = run.wait(Duration::MAX).await;
            let summary = Some(format!("run {}: {}", run.id, st.text.chars().take(200).collect::<String>()));
            let r = if st.status == agents::RunStatus::Ok {
                done(RunStatus::Ok, None, summary, t0.elapsed())
            } else {
                done(RunStatus::Error, st.error.clone(), summary, t0.elapsed())
            };
            finish(&handles, r, next_of(), true);
        });
    }

    /// Fires what is due and sets the timer for the next job.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.run_due(Pass::Timer, ctx) {
            self.save_state();
        }
        self.reschedule(ctx);
    }

    fn next_wake(&self) -> Option<i64> {
        plan::next_wake(&self.all_planned())
    }

    fn reschedule(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let Some(next) = self.next_wake() else { return };
        let delay = Duration::from_millis((next - now_ms()).max(0) as u64).min(MAX_SLEEP);
        self.timer = Some(ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.tick(ctx);
        }));
    }

    fn view(&self, e: &Entry) -> JobView {
        let job = self.planned(e);
        JobView {
            spec: e.spec.clone(),
            source: e.source,
            next_run_at_ms: if job.enabled { plan::next_run(&job) } else { None },
            last_run: job.state.and_then(|s| s.last_run.clone()),
            running: self.running.contains(&e.spec.id),
            schedule_error: e.sched.as_ref().err().cloned(),
        }
    }

    fn store_jobs(&self) -> Vec<JobSpec> {
        self.jobs.iter().filter(|e| e.source == Source::Store).map(|e| e.spec.clone()).collect()
    }

    /// Writes the store with `jobs`, then adopts it.
    fn write_store(&mut self, jobs: Vec<JobSpec>, ctx: &mut Context<Self>) -> Result<(), CronError> {
        if let Some(e) = &self.store_error {
            return Err(CronError::StoreUnreadable(e.clone()));
        }
        jobs::save_store(&self.state_dir(), &jobs).map_err(|e| CronError::StoreWrite(e.to_string()))?;
        self.rebuild();
        self.save_state();
        self.reschedule(ctx);
        Ok(())
    }

    fn find(&self, id: &str) -> Result<&Entry, CronError> {
        self.jobs.iter().find(|e| e.spec.id == id).ok_or_else(|| CronError::UnknownJob(id.to_string()))
    }

    fn store_only(&self, id: &str) -> Result<(), CronError> {
        match self.find(id)?.source {
            Source::Store => Ok(()),
            Source::Config => Err(CronError::ConfigOwned(id.to_string())),
        }
    }

    fn command(&mut self, cmd: CronCommand, ctx: &mut Context<Self>) -> Result<CronReply, CronError> {
        match cmd {
            CronCommand::List { include_disabled } => {
                let jobs =
                    self.jobs.iter().filter(|e| include_disabled || e.spec.enabled).map(|e| self.view(e)).collect();
                Ok(CronReply::List { enabled: self.enabled, jobs })
            }
            CronCommand::Status => Ok(CronReply::Status(StatusView {
                enabled: self.enabled,
                store_path: jobs::store_path(&self.state_dir()),
                store_error: self.store_error.clone(),
                jobs: self.jobs.len(),
                running: self.running.iter().cloned().collect(),
                next_wake_at_ms: self.next_wake(),
            })),
            CronCommand::Add(mut params) => {
                let id = uuid::Uuid::new_v4().to_string();
                if let Some(o) = params.as_object_mut() {
                    o.insert("id".into(), json!(id));
                    o.insert("createdAtMs".into(), json!(now_ms()));
                }
                let spec = parse_spec(params)?;
                let mut all = self.store_jobs();
                all.push(spec);
                self.write_store(all, ctx)?;
                Ok(CronReply::Saved(Box::new(self.view(self.find(&id)?))))
            }
            CronCommand::Update { id, patch } => {
                self.store_only(&id)?;
                let Value::Object(patch) = patch else {
                    return Err(CronError::Invalid("invalid cron.update params: at /patch: must be object".into()));
                };
                if patch.contains_key("id") || patch.contains_key("createdAtMs") {
                    return Err(CronError::Invalid(
                        "invalid cron.update params: id and createdAtMs cannot change".into(),
                    ));
                }
                let mut all = self.store_jobs();
                let job = all.iter_mut().find(|j| j.id == id).expect("store job exists");
                let mut v = serde_json::to_value(&*job).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    for (k, val) in patch {
                        if val.is_null() {
                            o.remove(&k);
                        } else {
                            o.insert(k, val);
                        }
                    }
                }
                *job = parse_spec(v)?;
                self.write_store(all, ctx)?;
                Ok(CronReply::Saved(Box::new(self.view(self.find(&id)?))))
            }
            CronCommand::Remove { id } => {
                self.store_only(&id)?;
                let all = self.store_jobs().into_iter().filter(|j| j.id != id).collect();
                self.write_store(all, ctx)?;
                Ok(CronReply::Removed(id))
            }
            CronCommand::Run { id, force } => {
                let e = self.find(&id)?;
                if !force && !plan::is_due(&self.planned(e), now_ms()) {
                    return Ok(CronReply::Ran(None));
                }
                self.fire(&id, "manual", None, ctx);
                Ok(CronReply::Ran(Some(id)))
            }
            CronCommand::Runs { id, limit } => {
                let runs = jobs::runs(&self.state_dir(), &id, limit);
                Ok(CronReply::Runs { id, runs })
            }
        }
    }
}

fn spec_entry(spec: JobSpec, source: Source) -> Entry {
    let sched = schedule::parse(&spec.schedule, spec.tz.as_deref(), spec.created_at_ms).map_err(|e| e.to_string());
    Entry { spec, source, sched }
}

/// A stored job from RPC params, checked all the way (schedule included).
fn parse_spec(v: Value) -> Result<JobSpec, CronError> {
    let spec: JobSpec = serde_json::from_value(v).map_err(|e| CronError::Invalid(format!("invalid cron job: {e}")))?;
    schedule::parse(&spec.schedule, spec.tz.as_deref(), spec.created_at_ms)
        .map_err(|e| CronError::Invalid(format!("invalid cron job: schedule: {e}")))?;
    if let Some(a) = &spec.agent_id
        && !agents::valid_agent_id(a)
    {
        return Err(CronError::Invalid("invalid cron job: agentId must match ^[A-Za-z0-9_-]{1,64}$".into()));
    }
    jobs::check(&spec).map_err(|e| CronError::Invalid(format!("invalid cron job: {e}")))?;
    Ok(spec)
}

impl Actor for CronActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rebuild();
        // Runs missed while the gateway was down.
        self.run_due(Pass::Startup, ctx);
        self.save_state();
        self.reschedule(ctx);
        tracing::info!(jobs = self.jobs.len(), enabled = self.enabled, next_wake_ms = ?self.next_wake(), "cron ready");
    }
}

impl Handler<CronCall> for CronActor {
    type Result = Result<CronReply, CronError>;

    fn handle(&mut self, msg: CronCall, ctx: &mut Context<Self>) -> Self::Result {
        self.command(msg.0, ctx)
    }
}

impl Handler<CronConfigChanged> for CronActor {
    type Result = ();

    fn handle(&mut self, _: CronConfigChanged, ctx: &mut Context<Self>) {
        let enabled = self.h.config.get().loaded.config.cron.enabled;
        self.rebuild();
        if enabled && !self.enabled {
            // Runs not made while cron was switched off are not "missed".
            let now = now_ms();
            for st in self.state.values_mut() {
                st.last_scheduled_ms = Some(now);
            }
        }
        self.enabled = enabled;
        self.save_state();
        self.reschedule(ctx);
    }
}

impl Handler<RunDone> for CronActor {
    type Result = ();

    fn handle(&mut self, RunDone { record: r, next_run_at_ms, ran }: RunDone, ctx: &mut Context<Self>) {
        if ran {
            self.running.remove(&r.job_id);
        }
        announce(&self.h, &r, next_run_at_ms);
        let one_shot_done = self
            .jobs
            .iter()
            .find(|e| e.spec.id == r.job_id)
            .is_some_and(|e| e.spec.delete_after_run && e.source == Source::Store && self.next_run(e).is_none());
        if let Some(st) = self.state.get_mut(&r.job_id) {
            st.last_run = Some(r.clone());
        }
        if one_shot_done {
            let all = self.store_jobs().into_iter().filter(|j| j.id != r.job_id).collect();
            if let Err(e) = self.write_store(all, ctx) {
                tracing::warn!(job = %r.job_id, error = %e, "finished one-shot job not removed");
            }
        }
        self.save_state();
    }
}

impl Handler<StopChild> for CronActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        self.save_state();
        ctx.stop();
    }
}

#[cfg(feature = "fault-injection")]
impl Handler<crate::actors::config::InjectPanic> for CronActor {
    type Result = ();

    fn handle(&mut self, _: crate::actors::config::InjectPanic, _: &mut Context<Self>) {
        panic!("injected fault in the cron actor");
    }
}
