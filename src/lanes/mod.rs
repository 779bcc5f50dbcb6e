//! Work lanes: FIFO queues with a bounded length and a live-adjustable concurrency limit.
//!
//! A lane hands out [`Slot`]s: a submitter is admitted (or rejected at once when the queue is
//! full or the gateway is draining), waits for its slot, runs its work in its own task and
//! releases the slot by dropping it (also on panic or abort). The queue lives in a [`Lane`]
//! owned by [`Lanes`] (a handle the gateway gives producers and LaneActors), not in the LaneActor that dispatches it, so a lane
//! actor restarted after a panic adopts the queue as it was.
//!
//! Guarantee across a lane-actor restart: every admitted job is granted its slot at most
//! once (a waiter is removed from the queue under the lock before it is granted), and no
//! admitted job is lost: it is either started, or answered with a [`LaneError`] (drain), or
//! was abandoned by its submitter (abort). Running jobs are not tasks of the lane actor and
//! keep running through its restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use crate::topic::{Publisher, Subscription, Topic, topic};

/// Queue waits longer than this are logged.
pub const SLOW_WAIT: Duration = Duration::from_secs(2);

/// Why a lane did not (or will not) run a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    /// The queue is at its capacity.
    #[error("lane {lane} is full ({capacity} queued); retry later or raise lanes.{lane}.queueCapacity")]
    Full { lane: String, capacity: usize, retry_after_ms: u64 },
    /// The gateway is stopping; the reason says what happened to the job.
    #[error("lane {lane}: {reason}")]
    Draining { lane: String, reason: String },
}

impl LaneError {
    /// When a client may try again.
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            LaneError::Full { retry_after_ms, .. } => *retry_after_ms,
            LaneError::Draining { .. } => 1500,
        }
    }
}

struct Waiter {
    tx: oneshot::Sender<Result<Slot, LaneError>>,
    enqueued: Instant,
    label: String,
}

/// Counters shown in `/health`, `status` and `lanes.status`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LaneStats {
    pub queued: usize,
    pub active: usize,
    pub limit: usize,
    pub capacity: usize,
    pub submitted: u64,
    pub rejected: u64,
    pub started: u64,
    pub completed: u64,
    /// Jobs that waited longer than [`SLOW_WAIT`].
    pub slow_waits: u64,
    pub max_wait_ms: u64,
    /// Moving average of run times (for `retryAfterMs`).
    pub avg_run_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draining: Option<String>,
}

/// Every lane's counters: the named lanes' (in [`NAMED`]'s order), and the session lanes'
/// count, queued and active jobs summed, and queue capacity.
#[derive(Debug, PartialEq)]
pub struct Figures {
    pub named: Vec<LaneStats>,
    pub session: [usize; 4],
}

/// The queue and counters of one lane. Pure bookkeeping: no I/O, no actors.
pub struct LaneBook {
    queue: VecDeque<Waiter>,
    stats: LaneStats,
}

impl LaneBook {
    fn new(limit: usize, capacity: usize) -> Self {
        let stats = LaneStats { limit: limit.max(1), capacity, ..Default::default() };
        Self { queue: VecDeque::new(), stats }
    }

    /// Waiters to grant now (removed from the queue, counted active, their wait recorded),
    /// oldest first, each with how long it waited.
    fn take_ready(&mut self) -> Vec<(Waiter, Duration)> {
        let mut out = Vec::new();
        while self.stats.active < self.stats.limit {
            let Some(w) = self.queue.pop_front() else { break };
            if w.tx.is_closed() {
                continue; // its submitter gave up (abort) while it waited
            }
            let waited = w.enqueued.elapsed();
            self.stats.active += 1;
            self.stats.started += 1;
            self.stats.max_wait_ms = self.stats.max_wait_ms.max(waited.as_millis() as u64);
            if waited >= SLOW_WAIT {
                self.stats.slow_waits += 1;
            }
            out.push((w, waited));
        }
        self.stats.queued = self.queue.len();
        out
    }

    fn retry_after_ms(&self) -> u64 {
        let per = self.stats.avg_run_ms.max(100);
        (per * (self.queue.len() as u64 + 1) / self.stats.limit as u64).clamp(100, 60_000)
    }
}

/// Fact: there may be work to start on a lane.
pub struct WorkReady;

pub struct Lane {
    pub name: String,
    book: Mutex<LaneBook>,
    /// Where "there may be work to start" goes once a dispatcher (its LaneActor) subscribed;
    /// until then (and always for session lanes) whoever changed the lane dispatches inline.
    work: Publisher<WorkReady>,
    work_topic: Topic<WorkReady>,
    dispatched: AtomicBool,
    idle: Notify,
}

impl Lane {
    pub fn new(name: impl Into<String>, limit: usize, capacity: usize) -> Arc<Self> {
        let (work, work_topic) = topic();
        Arc::new(Self {
            name: name.into(),
            book: Mutex::new(LaneBook::new(limit, capacity)),
            work,
            work_topic,
            dispatched: AtomicBool::new(false),
            idle: Notify::new(),
        })
    }

    /// Admits a job or rejects it at once; the receiver yields its slot when its turn comes.
    pub fn enqueue(self: &Arc<Self>, label: impl Into<String>) -> Result<Pending, LaneError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut b = self.book.lock();
            b.stats.submitted += 1;
            if let Some(reason) = b.stats.draining.clone() {
                b.stats.rejected += 1;
                return Err(LaneError::Draining { lane: self.name.clone(), reason });
            }
            if b.queue.len() >= b.stats.capacity {
                b.stats.rejected += 1;
                return Err(LaneError::Full {
                    lane: self.name.clone(),
                    capacity: b.stats.capacity,
                    retry_after_ms: b.retry_after_ms(),
                });
            }
            b.queue.push_back(Waiter { tx, enqueued: Instant::now(), label: label.into() });
            b.stats.queued = b.queue.len();
            if b.stats.active >= b.stats.limit {
                return Ok(Pending { rx });
            }
        }
        self.dispatch();
        Ok(Pending { rx })
    }

    /// Rejects now (and counts it) what this lane would reject if submitted now: admission
    /// for work that waits on another lane first.
    pub fn admit(&self) -> Result<(), LaneError> {
        let mut b = self.book.lock();
        let err = if let Some(reason) = &b.stats.draining {
            LaneError::Draining { lane: self.name.clone(), reason: reason.clone() }
        } else if b.queue.len() >= b.stats.capacity {
            LaneError::Full { lane: self.name.clone(), capacity: b.stats.capacity, retry_after_ms: b.retry_after_ms() }
        } else {
            return Ok(());
        };
        b.stats.submitted += 1;
        b.stats.rejected += 1;
        Err(err)
    }

    /// Starts what the limit allows: through the LaneActor once one subscribed (a restarting
    /// one picks the queue up when it starts), else here.
    fn dispatch(self: &Arc<Self>) {
        if self.dispatched.load(Ordering::Acquire) {
            self.work.publish(&WorkReady);
        } else {
            self.grant_ready();
        }
    }

    /// Grants slots to the waiters the limit allows (the LaneActor's pump).
    pub fn grant_ready(self: &Arc<Self>) {
        let ready = self.book.lock().take_ready();
        for (w, waited) in ready {
            if waited >= SLOW_WAIT {
                tracing::warn!(lane = %self.name, job = %w.label, waited_ms = waited.as_millis() as u64, "lane wait exceeded 2 s");
            }
            let slot = Slot { lane: self.clone(), started: Instant::now() };
            // A submitter gone since the check drops the slot here, which releases it.
            let _ = w.tx.send(Ok(slot));
        }
    }

    fn release(self: &Arc<Self>, ran: Duration) {
        let idle = {
            let mut b = self.book.lock();
            b.stats.active = b.stats.active.saturating_sub(1);
            b.stats.completed += 1;
            let ms = ran.as_millis() as u64;
            b.stats.avg_run_ms = if b.stats.completed == 1 { ms } else { (b.stats.avg_run_ms * 7 + ms) / 8 };
            b.stats.active == 0
        };
        if idle {
            self.idle.notify_waiters();
        }
        self.dispatch();
    }

    /// A new limit, applied at once: more slots start now; fewer let running jobs finish.
    pub fn set_limits(self: &Arc<Self>, limit: usize, capacity: usize) {
        {
            let mut b = self.book.lock();
            b.stats.limit = limit.max(1);
            b.stats.capacity = capacity;
        }
        self.dispatch();
    }

    /// Makes the subscriber (a LaneActor incarnation) this lane's dispatcher: from now on it
    /// is told when work may start, for as long as it keeps the subscription.
    pub fn subscribe(&self, f: impl Fn(&WorkReady) + Send + Sync + 'static) -> Subscription {
        let sub = self.work_topic.subscribe(f);
        self.dispatched.store(true, Ordering::Release);
        sub
    }

    /// Stops admitting, answers every queued job with `reason`, and returns how many.
    pub fn drain(&self, reason: &str) -> usize {
        let waiters: Vec<Waiter> = {
            let mut b = self.book.lock();
            b.stats.draining = Some(reason.to_string());
            b.stats.queued = 0;
            b.queue.drain(..).collect()
        };
        let n = waiters.len();
        for w in waiters {
            let _ = w.tx.send(Err(LaneError::Draining { lane: self.name.clone(), reason: reason.to_string() }));
        }
        n
    }

    /// Waits until nothing runs, or `deadline`; returns whether it got there.
    pub async fn idle_within(&self, deadline: Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.idle.notified();
            if self.book.lock().stats.active == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return self.book.lock().stats.active == 0;
            }
        }
    }

    pub fn stats(&self) -> LaneStats {
        self.book.lock().stats.clone()
    }

    fn is_unused(&self) -> bool {
        let b = self.book.lock();
        b.stats.active == 0 && b.queue.is_empty()
    }
}

/// An admitted job waiting for its slot.
pub struct Pending {
    rx: oneshot::Receiver<Result<Slot, LaneError>>,
}

impl Pending {
    /// The slot, if it was granted already (a lane with room grants at once).
    pub fn granted(&mut self) -> Option<Result<Slot, LaneError>> {
        self.rx.try_recv().ok()
    }

    pub async fn slot(self) -> Result<Slot, LaneError> {
        self.rx.await.unwrap_or_else(|_| {
            Err(LaneError::Draining { lane: "?".into(), reason: "the lane was torn down; retry".into() })
        })
    }
}

/// The right to run one job on a lane; dropping it frees the slot.
pub struct Slot {
    lane: Arc<Lane>,
    started: Instant,
}

impl Slot {
    pub fn lane(&self) -> &str {
        &self.lane.name
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.lane.release(self.started.elapsed());
    }
}

/// The named lanes and the per-session lanes of one gateway.
pub struct Lanes {
    named: HashMap<&'static str, Arc<Lane>>,
    sessions: Mutex<HashMap<String, Arc<Lane>>>,
    /// Unused session lanes are swept when the map grows past this (then it doubles from
    /// what is left), so a busy gateway does not scan the map on every run.
    sweep_at: Mutex<usize>,
    session_capacity: Mutex<usize>,
}

const SWEEP_MIN: usize = 1024;

/// The named lanes, in the order they are shown.
pub const NAMED: [&str; 3] = ["main", "subagent", "cron"];

/// Limit and queue capacity of each named lane under `cfg`.
pub fn limits(cfg: &crate::config::model::Config, name: &str) -> (usize, usize) {
    let l = &cfg.lanes;
    match name {
        "main" => (cfg.agents.defaults.max_concurrent as usize, l.main.queue_capacity as usize),
        "subagent" => (cfg.agents.defaults.subagent.max_concurrent as usize, l.subagent.queue_capacity as usize),
        "cron" => (cfg.cron.max_concurrent_runs as usize, l.cron.queue_capacity as usize),
        _ => (1, l.session.queue_capacity as usize),
    }
}

impl Lanes {
    pub fn new(cfg: &crate::config::model::Config) -> Self {
        let named = NAMED
            .iter()
            .map(|n| {
                let (limit, cap) = limits(cfg, n);
                (*n, Lane::new(*n, limit, cap))
            })
            .collect();
        Self {
            named,
            sessions: Mutex::new(HashMap::new()),
            sweep_at: Mutex::new(SWEEP_MIN),
            session_capacity: Mutex::new(cfg.lanes.session.queue_capacity as usize),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Lane>> {
        self.named.get(name)
    }

    /// The concurrency-1 lane of one session (made on first use, dropped when unused).
    pub fn session(&self, key: &str) -> Arc<Lane> {
        let mut map = self.sessions.lock();
        let mut sweep_at = self.sweep_at.lock();
        if map.len() > *sweep_at {
            map.retain(|_, l| !l.is_unused());
            *sweep_at = (map.len() * 2).max(SWEEP_MIN);
        }
        drop(sweep_at);
        map.entry(key.to_string())
            .or_insert_with(|| Lane::new(format!("session:{key}"), 1, *self.session_capacity.lock()))
            .clone()
    }

    /// Drops a session's lane once nothing holds, runs or waits on it (a run calls this when it
    /// ends), so one lane per session ever used does not pile up between sweeps. Checked under
    /// the map's lock, where `session` hands out lanes: a lane just handed out is kept.
    pub fn release_session(&self, key: &str) {
        let mut map = self.sessions.lock();
        if map.get(key).is_some_and(|l| Arc::strong_count(l) == 1 && l.is_unused()) {
            map.remove(key);
            if map.capacity() > 64 && map.len() * 4 < map.capacity() {
                map.shrink_to_fit();
            }
        }
    }

    /// Applies lane limits from a new config.
    pub fn apply(&self, cfg: &crate::config::model::Config) {
        for (name, lane) in &self.named {
            let (limit, cap) = limits(cfg, name);
            lane.set_limits(limit, cap);
        }
        let cap = cfg.lanes.session.queue_capacity as usize;
        *self.session_capacity.lock() = cap;
        for lane in self.sessions.lock().values() {
            lane.set_limits(1, cap);
        }
    }

    /// Per-lane counters; session lanes summed into one entry.
    pub fn snapshot(&self) -> serde_json::Value {
        let figures = self.figures();
        let mut out = serde_json::Map::new();
        for (n, stats) in NAMED.iter().zip(figures.named) {
            out.insert((*n).into(), serde_json::to_value(stats).unwrap_or_default());
        }
        let [lanes, queued, active, capacity] = figures.session;
        out.insert(
            "session".into(),
            serde_json::json!({"lanes": lanes, "queued": queued, "active": active, "limit": 1, "capacity": capacity}),
        );
        serde_json::Value::Object(out)
    }

    /// What [`Lanes::snapshot`] shows, not rendered: cheap to take and to compare.
    pub fn figures(&self) -> Figures {
        let named = NAMED.iter().map(|n| self.named[n].stats()).collect();
        let sessions = self.sessions.lock();
        let (mut queued, mut active) = (0, 0);
        for l in sessions.values() {
            let s = l.stats();
            queued += s.queued;
            active += s.active;
        }
        Figures { named, session: [sessions.len(), queued, active, *self.session_capacity.lock()] }
    }

    /// Every lane stops admitting and answers its queued jobs with `reason`.
    pub fn drain_all(&self, reason: &str) {
        let mut answered = 0;
        for l in self.named.values() {
            answered += l.drain(reason);
        }
        for l in self.sessions.lock().values() {
            answered += l.drain(reason);
        }
        tracing::info!(queued_answered = answered, "lanes draining: queued jobs answered, running ones finish");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn fifo_within_the_limit_and_release_starts_the_next() {
        rt().block_on(async {
            let lane = Lane::new("t", 2, 10);
            let a = lane.enqueue("a").unwrap().slot().await.unwrap();
            let b = lane.enqueue("b").unwrap().slot().await.unwrap();
            let mut c = lane.enqueue("c").unwrap();
            assert_eq!(lane.stats().active, 2);
            assert_eq!(lane.stats().queued, 1);
            assert!(c.rx.try_recv().is_err(), "c must wait");
            drop(a);
            let c = c.slot().await.unwrap();
            assert_eq!(lane.stats().active, 2);
            drop((b, c));
            assert_eq!(lane.stats().active, 0);
            assert_eq!(lane.stats().completed, 3);
        });
    }

    #[test]
    fn a_session_lane_is_released_once_nothing_holds_or_uses_it() {
        rt().block_on(async {
            let lanes = Lanes::new(&crate::config::model::Config::default());
            let lane = lanes.session("agent:main:a");
            let slot = lane.enqueue("run").unwrap().slot().await.unwrap();
            lanes.release_session("agent:main:a");
            assert_eq!(lanes.sessions.lock().len(), 1, "held and running: kept");
            drop(slot);
            lanes.release_session("agent:main:a");
            assert_eq!(lanes.sessions.lock().len(), 1, "still held by a caller: kept");
            drop(lane);
            lanes.release_session("agent:main:a");
            assert!(lanes.sessions.lock().is_empty(), "unused: dropped");
            lanes.release_session("agent:main:never");
        });
    }

    #[test]
    fn overflow_is_rejected_with_a_retry_hint() {
        let lane = Lane::new("t", 1, 2);
        lane.book.lock().stats.active = 1; // one running
        let _p1 = lane.enqueue("1").unwrap();
        let _p2 = lane.enqueue("2").unwrap();
        match lane.enqueue("3") {
            Err(LaneError::Full { capacity: 2, retry_after_ms, .. }) => assert!(retry_after_ms >= 100),
            other => panic!("expected Full, got {:?}", other.err()),
        }
        assert_eq!(lane.stats().rejected, 1);
        // On the wire it is a retryable UNAVAILABLE with this hint (see `rpc::lane_error`).
        let e = LaneError::Full { lane: "main".into(), capacity: 2, retry_after_ms: 300 };
        assert_eq!(e.retry_after_ms(), 300);
    }

    #[test]
    fn resize_both_ways_never_exceeds_the_limit() {
        rt().block_on(async {
            let lane = Lane::new("t", 1, 100);
            let mut pending: Vec<Pending> = (0..6).map(|i| lane.enqueue(i.to_string()).unwrap()).collect();
            let first = pending.remove(0).slot().await.unwrap();
            lane.set_limits(3, 100);
            let mut running = vec![first];
            for p in pending.drain(..2) {
                running.push(p.slot().await.unwrap());
            }
            assert_eq!(lane.stats().active, 3);
            lane.set_limits(1, 100);
            running.pop();
            running.pop();
            assert_eq!(lane.stats().active, 1, "running jobs finish; none start above the new limit");
            assert_eq!(lane.stats().queued, 3);
            running.pop();
            assert_eq!(lane.stats().active, 1, "one starts when the last one ends");
        });
    }

    #[test]
    fn drain_answers_queued_jobs_and_refuses_new_ones() {
        rt().block_on(async {
            let lane = Lane::new("t", 1, 10);
            let running = lane.enqueue("r").unwrap().slot().await.unwrap();
            let queued = lane.enqueue("q").unwrap();
            assert_eq!(lane.drain("gateway stopping"), 1);
            assert!(matches!(queued.slot().await, Err(LaneError::Draining { .. })));
            assert!(matches!(lane.enqueue("late"), Err(LaneError::Draining { .. })));
            assert!(!lane.idle_within(Duration::from_millis(10)).await);
            drop(running);
            assert!(lane.idle_within(Duration::from_millis(10)).await);
        });
    }

    #[test]
    fn an_abandoned_waiter_is_skipped() {
        rt().block_on(async {
            let lane = Lane::new("t", 1, 10);
            let running = lane.enqueue("r").unwrap().slot().await.unwrap();
            drop(lane.enqueue("gone").unwrap());
            let next = lane.enqueue("next").unwrap();
            drop(running);
            let s = next.slot().await.unwrap();
            assert_eq!(lane.stats().active, 1);
            drop(s);
            assert_eq!(lane.stats().started, 2);
        });
    }
}
