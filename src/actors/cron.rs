//! CronActor: schedules the jobs of config `cron.jobs[]` and of the store onto the cron
//! lane, catches up (or records as skipped) runs missed while the gateway was down, keeps
//! run history, and answers the `cron.*` methods. Runs are tasks of their own: a restart of
//! this actor neither stops them nor loses their records (they write their own).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};

use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use crate::actors::hub::Push;
use crate::agents::{self, RunRequest, RunStatus};
use crate::config::model::CronPayload;
use crate::cron::schedule::{self, Sched};
use crate::cron::{self as jobs, JobSpec, JobState, RunRecord, Source};
use crate::protocol::{ErrorShape, scope};
use crate::shared::Shared;

pub const ID: &str = "cron";
/// The timer never sleeps longer than this (clock changes, far-away jobs).
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Missed runs counted at most (a job every second, down for a day, is "86400+").
const MISSED_CAP: usize = 100_000;

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
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct CronCall(pub CronCommand);

/// Fact: config changed under `cron` (or `agents`): rebuild the job list.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CronConfigChanged;

/// Fact: a run ended (sent by the run's task).
#[derive(Message)]
#[rtype(result = "()")]
struct RunDone(RunRecord);

struct Entry {
    spec: JobSpec,
    source: Source,
    sched: Result<Sched, String>,
}

pub struct CronActor {
    shared: Arc<Shared>,
    jobs: Vec<Entry>,
    state: BTreeMap<String, JobState>,
    running: HashSet<String>,
    timer: Option<SpawnHandle>,
    store_error: Option<String>,
    enabled: bool,
    _watch: ExitWatch,
}

pub fn spec() -> ChildSpec {
    ChildSpec::permanent(ID, Duration::from_secs(5), start)
}

fn start(cx: &ChildContext) -> Result<Child, StartError> {
    let state = jobs::load_state(&cx.shared.load_options.paths.state_dir);
    let actor = CronActor {
        shared: cx.shared.clone(),
        jobs: Vec::new(),
        state,
        running: HashSet::new(),
        timer: None,
        store_error: None,
        enabled: cx.shared.config().loaded.config.cron.enabled,
        _watch: cx.watch(),
    };
    Ok(Child::actor(actor.start()))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn broadcast(shared: &Shared, payload: Value) {
    shared.sessions.broadcast(Push::Event {
        name: "cron",
        payload: Arc::new(payload),
        droppable: false,
        scope: Some(scope::READ),
    });
}

/// Records a run and tells clients; then tells the current CronActor, if there is one.
fn record(shared: &Shared, r: RunRecord, next_run_at_ms: Option<i64>) {
    if let Err(e) = jobs::append_run(&shared.load_options.paths.state_dir, &r) {
        tracing::warn!(job = %r.job_id, error = %e, "cron run history not written");
    }
    match r.status.as_str() {
        "error" => tracing::warn!(job = %r.job_id, error = ?r.error, "cron run failed"),
        "skipped" => tracing::warn!(job = %r.job_id, reason = ?r.error, "cron run skipped"),
        _ => tracing::info!(job = %r.job_id, duration_ms = r.duration_ms, "cron run finished"),
    }
    broadcast(
        shared,
        json!({"jobId": r.job_id, "action": "finished", "status": r.status, "error": r.error, "summary": r.summary,
               "runAtMs": r.run_at_ms, "durationMs": r.duration_ms, "reason": r.reason,
               "nextRunAtMs": next_run_at_ms}),
    );
    if let Some(a) = shared.registry.get::<CronActor>(ID) {
        a.do_send(RunDone(r));
    }
}

impl CronActor {
    fn state_dir(&self) -> std::path::PathBuf {
        self.shared.load_options.paths.state_dir.clone()
    }

    /// The job list from config and store, with a state entry for each.
    fn rebuild(&mut self) {
        let live = self.shared.config();
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
                self.store_error = Some(e);
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
        if let Err(e) = jobs::save_state(&self.state_dir(), &self.state) {
            tracing::warn!(error = %e, "cron state not saved; missed runs may be miscounted after a restart");
        }
    }

    fn next_run(&self, e: &Entry) -> Option<i64> {
        let sched = e.sched.as_ref().ok()?;
        let st = self.state.get(&e.spec.id)?;
        sched.next_after(st.last_scheduled_ms.unwrap_or(st.seen_at_ms))
    }

    /// Runs missed while the gateway was down: once now with `catchUp`, else recorded as skipped.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        if !self.enabled {
            return;
        }
        let now = now_ms();
        let mut due = Vec::new();
        for e in self.jobs.iter().filter(|e| e.spec.enabled) {
            let (Ok(sched), Some(st)) = (&e.sched, self.state.get(&e.spec.id)) else { continue };
            let from = st.last_scheduled_ms.unwrap_or(st.seen_at_ms);
            let (n, first, last) = sched.missed(from, now, MISSED_CAP);
            if n > 0 {
                due.push((e.spec.id.clone(), e.spec.catch_up, n, first, last));
            }
        }
        for (id, catch_up, n, first, last) in due {
            if let Some(st) = self.state.get_mut(&id) {
                st.last_scheduled_ms = last;
            }
            if catch_up {
                tracing::info!(job = %id, missed = n, "running a missed cron job once (catchUp)");
                self.fire(&id, "catch-up", last, ctx);
            } else {
                let more = if n >= MISSED_CAP { "+" } else { "" };
                self.skip(
                    &id,
                    "catch-up",
                    first,
                    format!("missed {n}{more} run(s) while the gateway was down (set catchUp to run once at start)"),
                );
            }
        }
        self.save_state();
    }

    fn skip(&mut self, id: &str, reason: &str, scheduled_for: Option<i64>, why: String) {
        let r = RunRecord {
            job_id: id.into(),
            run_at_ms: now_ms(),
            scheduled_for_ms: scheduled_for,
            status: "skipped".into(),
            duration_ms: 0,
            reason: reason.into(),
            error: Some(why),
            summary: None,
        };
        let next = self.jobs.iter().find(|e| e.spec.id == id).and_then(|e| self.next_run(e));
        if let Some(st) = self.state.get_mut(id) {
            st.last_run = Some(r.clone());
        }
        record(&self.shared, r, next);
    }

    /// Starts one run of `id` through the cron lane (skipped when it cannot be queued).
    fn fire(&mut self, id: &str, reason: &'static str, scheduled_for: Option<i64>, _: &mut Context<Self>) {
        let Some(spec) = self.jobs.iter().find(|e| e.spec.id == id).map(|e| e.spec.clone()) else { return };
        if self.running.contains(id) {
            return self.skip(id, reason, scheduled_for, "the previous run is still running".into());
        }
        let shared = self.shared.clone();
        let started = now_ms();
        let job_id = spec.id.clone();
        let begin = move |shared: &Shared| {
            broadcast(shared, json!({"jobId": job_id, "action": "started", "runAtMs": started, "reason": reason}));
        };
        let job_id = spec.id.clone();
        let done = move |status: &str, error: Option<String>, summary: Option<String>, took: Duration| RunRecord {
            job_id: job_id.clone(),
            run_at_ms: started,
            scheduled_for_ms: scheduled_for,
            status: status.into(),
            duration_ms: took.as_millis() as u64,
            reason: reason.into(),
            error,
            summary,
        };
        let next_of = {
            let spec = spec.clone();
            move || schedule::parse(&spec.schedule, spec.tz.as_deref(), spec.created_at_ms).ok()?.next_after(now_ms())
        };
        match &spec.payload {
            CronPayload::BackupSessions { keep } => {
                let lane = self.shared.lanes.get("cron").cloned().expect("the cron lane exists");
                let pending = match lane.enqueue(format!("cron job {id}")) {
                    Ok(p) => p,
                    Err(err) => return self.skip(id, reason, scheduled_for, err.to_error().message),
                };
                self.running.insert(id.to_string());
                let keep = *keep as usize;
                let dir = self.state_dir();
                actix_rt::spawn(async move {
                    let t0 = Instant::now();
                    let r = match pending.slot().await {
                        Err(err) => done("skipped", Some(err.to_error().message), None, t0.elapsed()),
                        Ok(_slot) => {
                            begin(&shared);
                            let out = tokio::task::spawn_blocking(move || jobs::backup::backup_sessions(&dir, keep))
                                .await
                                .unwrap_or_else(|e| Err(format!("backup task failed: {e}")));
                            match out {
                                Ok((path, n)) => {
                                    let s = format!("{n} file(s) into {}", path.display());
                                    done("ok", None, Some(s), t0.elapsed())
                                }
                                Err(e) => done("error", Some(e), None, t0.elapsed()),
                            }
                        }
                    };
                    record(&shared, r, next_of());
                });
            }
            CronPayload::AgentTurn { message, agent_id, session_key, model, thinking, timeout_seconds } => {
                let agent = agent_id.clone().or(spec.agent_id.clone()).unwrap_or_else(|| "main".into());
                let key = session_key.clone().unwrap_or_else(|| match spec.session_target.as_deref() {
                    Some("main") => format!("agent:{agent}:main"),
                    _ => format!("agent:{agent}:cron:{id}"),
                });
                let req = RunRequest {
                    agent_id: agent,
                    session_key: key,
                    message: message.clone(),
                    model: model.clone(),
                    thinking: *thinking,
                    timeout: timeout_seconds.map(Duration::from_secs),
                    lane: "cron",
                    origin: format!("cron:{id}"),
                };
                let run = match agents::submit(&self.shared, req) {
                    Ok(r) => r,
                    Err(err) => return self.skip(id, reason, scheduled_for, err.message),
                };
                self.running.insert(id.to_string());
                begin(&self.shared);
                actix_rt::spawn(async move {
                    let t0 = Instant::now();
                    let st = run.wait(Duration::MAX).await;
                    let summary = Some(format!("run {}: {}", run.id, st.text.chars().take(200).collect::<String>()));
                    let r = if st.status == RunStatus::Ok {
                        done("ok", None, summary, t0.elapsed())
                    } else {
                        done("error", st.error.clone(), summary, t0.elapsed())
                    };
                    record(&shared, r, next_of());
                });
            }
        }
    }

    /// Fires what is due and sets the timer for the next job.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.enabled {
            let now = now_ms();
            let mut due = Vec::new();
            for e in self.jobs.iter().filter(|e| e.spec.enabled) {
                let (Ok(sched), Some(st)) = (&e.sched, self.state.get(&e.spec.id)) else { continue };
                let (n, _, last) = sched.missed(st.last_scheduled_ms.unwrap_or(st.seen_at_ms), now, MISSED_CAP);
                if n > 0 {
                    due.push((e.spec.id.clone(), last));
                }
            }
            for (id, last) in &due {
                if let Some(st) = self.state.get_mut(id) {
                    st.last_scheduled_ms = *last;
                }
                self.fire(id, "schedule", *last, ctx);
            }
            if !due.is_empty() {
                self.save_state();
            }
        }
        self.reschedule(ctx);
    }

    fn next_wake(&self) -> Option<i64> {
        if !self.enabled {
            return None;
        }
        self.jobs.iter().filter(|e| e.spec.enabled).filter_map(|e| self.next_run(e)).min()
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

    fn describe(&self, e: &Entry) -> Value {
        let mut v = serde_json::to_value(&e.spec).unwrap_or_default();
        let st = self.state.get(&e.spec.id);
        v["source"] = json!(e.source);
        v["nextRunAtMs"] = json!(if e.spec.enabled && self.enabled { self.next_run(e) } else { None });
        v["lastRun"] = json!(st.and_then(|s| s.last_run.clone()));
        v["running"] = json!(self.running.contains(&e.spec.id));
        if let Err(err) = &e.sched {
            v["scheduleError"] = json!(err);
        }
        v
    }

    fn store_jobs(&self) -> Vec<JobSpec> {
        self.jobs.iter().filter(|e| e.source == Source::Store).map(|e| e.spec.clone()).collect()
    }

    /// Writes the store with `jobs`, then adopts it.
    fn write_store(&mut self, jobs: Vec<JobSpec>, ctx: &mut Context<Self>) -> Result<(), ErrorShape> {
        if let Some(e) = &self.store_error {
            return Err(ErrorShape::unavailable(format!("the cron store is unreadable, not overwritten: {e}")));
        }
        jobs::save_store(&self.state_dir(), &jobs)
            .map_err(|e| ErrorShape::unavailable(format!("cannot write the cron store: {e}")))?;
        self.rebuild();
        self.save_state();
        self.reschedule(ctx);
        Ok(())
    }

    fn find(&self, id: &str) -> Result<&Entry, ErrorShape> {
        self.jobs
            .iter()
            .find(|e| e.spec.id == id)
            .ok_or_else(|| ErrorShape::invalid(format!("unknown cron job {id:?}")))
    }

    fn store_only(&self, id: &str) -> Result<(), ErrorShape> {
        match self.find(id)?.source {
            Source::Store => Ok(()),
            Source::Config => Err(ErrorShape::invalid(format!(
                "cron job {id:?} is defined in the config file (cron.jobs); change it there"
            ))),
        }
    }

    fn command(&mut self, cmd: CronCommand, ctx: &mut Context<Self>) -> Result<Value, ErrorShape> {
        match cmd {
            CronCommand::List { include_disabled } => {
                let list: Vec<Value> =
                    self.jobs.iter().filter(|e| include_disabled || e.spec.enabled).map(|e| self.describe(e)).collect();
                Ok(json!({"enabled": self.enabled, "jobs": list}))
            }
            CronCommand::Status => Ok(json!({
                "enabled": self.enabled,
                "storePath": jobs::store_path(&self.state_dir()),
                "storeError": self.store_error,
                "jobs": self.jobs.len(),
                "running": self.running.iter().collect::<Vec<_>>(),
                "nextWakeAtMs": self.next_wake(),
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
                Ok(json!({"ok": true, "job": self.describe(self.find(&id)?)}))
            }
            CronCommand::Update { id, patch } => {
                self.store_only(&id)?;
                let Value::Object(patch) = patch else {
                    return Err(ErrorShape::invalid("invalid cron.update params: at /patch: must be object"));
                };
                if patch.contains_key("id") || patch.contains_key("createdAtMs") {
                    return Err(ErrorShape::invalid("invalid cron.update params: id and createdAtMs cannot change"));
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
                Ok(json!({"ok": true, "job": self.describe(self.find(&id)?)}))
            }
            CronCommand::Remove { id } => {
                self.store_only(&id)?;
                let all = self.store_jobs().into_iter().filter(|j| j.id != id).collect();
                self.write_store(all, ctx)?;
                Ok(json!({"ok": true, "removed": id}))
            }
            CronCommand::Run { id, force } => {
                let e = self.find(&id)?;
                if !force {
                    let due = self.next_run(e).is_some_and(|t| t <= now_ms());
                    if !due || !e.spec.enabled || !self.enabled {
                        return Ok(json!({"ok": true, "ran": false, "reason": "not due"}));
                    }
                }
                self.fire(&id, "manual", None, ctx);
                Ok(json!({"ok": true, "ran": true, "jobId": id}))
            }
            CronCommand::Runs { id, limit } => {
                Ok(json!({"jobId": id, "runs": jobs::runs(&self.state_dir(), &id, limit)}))
            }
        }
    }
}

fn spec_entry(spec: JobSpec, source: Source) -> Entry {
    let sched = schedule::parse(&spec.schedule, spec.tz.as_deref(), spec.created_at_ms);
    Entry { spec, source, sched }
}

/// A stored job from RPC params, checked all the way (schedule included).
fn parse_spec(v: Value) -> Result<JobSpec, ErrorShape> {
    let spec: JobSpec = serde_json::from_value(v).map_err(|e| ErrorShape::invalid(format!("invalid cron job: {e}")))?;
    schedule::parse(&spec.schedule, spec.tz.as_deref(), spec.created_at_ms)
        .map_err(|e| ErrorShape::invalid(format!("invalid cron job: schedule: {e}")))?;
    if let Some(a) = &spec.agent_id
        && !agents::valid_agent_id(a)
    {
        return Err(ErrorShape::invalid("invalid cron job: agentId must match ^[A-Za-z0-9_-]{1,64}$"));
    }
    Ok(spec)
}

impl Actor for CronActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rebuild();
        self.catch_up(ctx);
        self.save_state();
        self.reschedule(ctx);
        tracing::info!(jobs = self.jobs.len(), enabled = self.enabled, next_wake_ms = ?self.next_wake(), "cron ready");
    }
}

impl Handler<CronCall> for CronActor {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, msg: CronCall, ctx: &mut Context<Self>) -> Self::Result {
        self.command(msg.0, ctx)
    }
}

impl Handler<CronConfigChanged> for CronActor {
    type Result = ();

    fn handle(&mut self, _: CronConfigChanged, ctx: &mut Context<Self>) {
        let enabled = self.shared.config().loaded.config.cron.enabled;
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

    fn handle(&mut self, RunDone(r): RunDone, ctx: &mut Context<Self>) {
        self.running.remove(&r.job_id);
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
                tracing::warn!(job = %r.job_id, error = %e.message, "finished one-shot job not removed");
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
