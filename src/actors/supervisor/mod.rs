//! The supervisor: starts children from their specs in order, restarts failed ones with
//! backoff inside a restart budget, escalates to a graceful exit 70, and stops children in
//! reverse order on shutdown. It knows nothing about what its children do.
//!
//! Every child is permanent: any end it was not asked for is a failure and is restarted.
//! A child's actor runs inside a task that catches its panics (`ChildContext::spawn`), so a
//! panic's message travels to the supervisor with that incarnation's exit report.

pub mod budget;

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

pub use super::children::{ChildRegistry, ChildState, ChildStatus, Failure};

use self::budget::{FailureWindow, RestartBudget, Verdict};
use crate::config::live::LiveConfig;
use crate::exit;
use crate::lifecycle::{LIFECYCLE, Phase, PhaseWriter};
use crate::topic::Publisher;

/// How long after "ready" the start-up code pages are released.
const STARTUP_SETTLE: Duration = Duration::from_secs(2);

/// Why a child could not start; `code` is the process exit code at boot (a config error is
/// 78, an address in use 69, ...), which is how a failed boot reaches `main`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartError {
    pub code: i32,
    pub message: String,
}

impl StartError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// What a child factory gets: who it is and who supervises it. Everything else a child uses
/// is handed to its spec by the composition root, so a spec's arguments say what it touches.
pub struct ChildContext {
    pub id: &'static str,
    pub incarnation: u64,
    pub supervisor: Addr<Supervisor>,
    /// This incarnation's panic message, put there by the task that runs its actor.
    panic: PanicSlot,
}

pub(crate) type PanicSlot = Arc<Mutex<Option<String>>>;

impl ChildContext {
    /// The token the child keeps for its whole life; dropping it reports the exit.
    pub fn watch(&self) -> ExitWatch {
        ExitWatch {
            id: self.id,
            incarnation: self.incarnation,
            report: self.supervisor.clone().recipient(),
            normal: false,
            panic: self.panic.clone(),
        }
    }

    /// Starts the child's actor, built by `f` as `Actor::create` does. A panic in any of its
    /// handlers ends it, and the panic's message reaches the supervisor with its exit.
    pub fn spawn<A>(&self, f: impl FnOnce(&mut Context<A>) -> A) -> Child
    where
        A: Actor<Context = Context<A>> + Handler<StopChild>,
    {
        Child::actor(spawn_catching(f, self.panic.clone()))
    }
}

/// Runs the actor in a task of its own, like `Context::run`, but catches a panic from its
/// context (handlers, `started`, spawned actor futures) and writes the message into `slot`
/// before the actor, and with it the child's `ExitWatch`, is dropped.
pub(crate) fn spawn_catching<A>(f: impl FnOnce(&mut Context<A>) -> A, slot: PanicSlot) -> Addr<A>
where
    A: Actor<Context = Context<A>>,
{
    let mut ctx = Context::new();
    let actor = f(&mut ctx);
    let mut fut = ctx.into_future(actor);
    let addr = fut.address();
    actix_rt::spawn(async move {
        let panicked = std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut fut).poll(cx))) {
                Ok(poll) => poll.map(|()| None),
                Err(payload) => Poll::Ready(Some(panic_message(&*payload))),
            }
        })
        .await;
        if let Some(msg) = panicked {
            *slot.lock() = Some(msg);
        }
        // Dropping the context runs the actor's `stopped` and drops the actor, as tokio
        // would after a panic; its ExitWatch then reports the exit with the slot's message.
        drop(fut);
    });
    addr
}

pub type StartFn = Box<dyn Fn(&ChildContext) -> Result<Child, StartError>>;

/// How to start, restart and stop one child.
pub struct ChildSpec {
    pub id: &'static str,
    /// Time the child gets to stop before it is abandoned.
    pub shutdown: Duration,
    pub start: StartFn,
}

impl ChildSpec {
    /// A child that is always restarted after a failure, stopped within `shutdown`.
    pub fn permanent(
        id: &'static str,
        shutdown: Duration,
        start: impl Fn(&ChildContext) -> Result<Child, StartError> + 'static,
    ) -> Self {
        Self { id, shutdown, start: Box::new(start) }
    }
}

/// A started child: its address (for the registry) and how to ask it to stop. Made by
/// `ChildContext::spawn` only, so every child's panics are caught and reported.
pub struct Child {
    addr: Box<dyn Any + Send + Sync>,
    stop: Box<dyn Fn()>,
}

impl Child {
    fn actor<A>(addr: Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>> + Handler<StopChild>,
    {
        let stopper = addr.clone();
        Self { addr: Box::new(addr), stop: Box::new(move || stopper.do_send(StopChild)) }
    }
}

/// Asks a child to stop (gracefully, within its spec's shutdown budget).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopChild;

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitCause {
    /// It said it was done (`ExitWatch::exit_normally`).
    Normal,
    Panicked(String),
    /// It stopped without saying why (a fatal error in a handler, a closed stream).
    Stopped,
}

/// Fact: a child incarnation has ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChildExited {
    pub id: &'static str,
    pub incarnation: u64,
    pub cause: ExitCause,
}

/// A panic payload as text: the message of `panic!`, or "panic" for other payloads.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Logs every panic where it happens, with its location (the supervisor learns a child's
/// panic from the child's exit report, not from here).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = panic_message(info.payload());
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(panic = %msg, location = %at, "a task panicked");
    }));
}

/// Kept inside a child actor; its drop tells the supervisor the incarnation ended.
pub struct ExitWatch {
    id: &'static str,
    incarnation: u64,
    report: Recipient<ChildExited>,
    normal: bool,
    panic: PanicSlot,
}

impl ExitWatch {
    /// Marks the coming exit as deliberate: should nobody have asked for it, the failure
    /// reads "exited" rather than "stopped unexpectedly".
    pub fn exit_normally(&mut self) {
        self.normal = true;
    }
}

impl Drop for ExitWatch {
    fn drop(&mut self) {
        let cause = match self.panic.lock().take() {
            Some(msg) => ExitCause::Panicked(msg),
            // Dropped while unwinding outside the catching task (a panic in a destructor).
            None if std::thread::panicking() => ExitCause::Panicked("panic".into()),
            None if self.normal => ExitCause::Normal,
            None => ExitCause::Stopped,
        };
        self.report.do_send(ChildExited { id: self.id, incarnation: self.incarnation, cause });
    }
}

/// The failure an ended incarnation amounts to, if any: none when it was asked to stop
/// (or the gateway is stopping); otherwise, every child being permanent, a failure.
fn failure_reason(asked_to_stop: bool, cause: &ExitCause) -> Option<String> {
    if asked_to_stop {
        return None;
    }
    Some(match cause {
        ExitCause::Panicked(m) => format!("panicked: {m}"),
        ExitCause::Stopped => "stopped unexpectedly".to_string(),
        ExitCause::Normal => "exited".to_string(),
    })
}

struct Slot {
    stop: Option<Box<dyn Fn()>>,
    /// This incarnation was asked to stop: its exit is not a failure.
    stop_requested: bool,
    window: FailureWindow,
    status: ChildStatus,
}

/// Command: stop everything in reverse order and exit the process with `code`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown {
    pub code: i32,
    pub reason: String,
}

/// Why a child was not rebuilt in place (the running incarnation stays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartError {
    #[error("the gateway is stopping")]
    Stopping,
    #[error("no child named {0}")]
    NoSuchChild(String),
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Command: rebuild one child in place: the new incarnation starts first, then the old one
/// stops. If the new one cannot start, the old one keeps running.
#[derive(Message)]
#[rtype(result = "Result<(), RestartError>")]
pub struct RestartInPlace {
    pub id: &'static str,
}

/// Command (SIGUSR1): rebuild every child in place, in start order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RestartAll;

/// Fact: the gateway begins to stop (`restarting: false`), or rebuilds every child in place.
pub struct Stopping {
    pub restarting: bool,
}

/// What the supervisor reads and the facts it alone writes.
pub struct SupervisorHandles {
    /// Its budget and shutdown settings.
    pub config: LiveConfig,
    pub phase: PhaseWriter,
    /// The listener's addresses, for the "ready" status line.
    pub listen: watch::Receiver<Vec<std::net::SocketAddr>>,
    pub children: watch::Sender<Vec<ChildStatus>>,
    pub registry: Arc<ChildRegistry>,
    pub stopping: Publisher<Stopping>,
}

pub struct Supervisor {
    specs: Vec<ChildSpec>,
    slots: Vec<Slot>,
    handles: SupervisorHandles,
    budget: RestartBudget,
    shutting_down: bool,
    waiters: HashMap<(&'static str, u64), oneshot::Sender<()>>,
}

impl Supervisor {
    pub fn new(specs: Vec<ChildSpec>, handles: SupervisorHandles) -> Self {
        let slots = specs
            .iter()
            .map(|s| Slot {
                stop: None,
                stop_requested: false,
                window: FailureWindow::default(),
                status: ChildStatus {
                    id: s.id,
                    state: ChildState::Starting,
                    restarts: 0,
                    incarnation: 0,
                    last_failure: None,
                },
            })
            .collect();
        Self { specs, slots, handles, budget: RestartBudget::default(), shutting_down: false, waiters: HashMap::new() }
    }

    fn publish(&self) {
        self.handles.children.send_replace(self.slots.iter().map(|s| s.status.clone()).collect());
    }

    fn start_slot(&mut self, i: usize, ctx: &mut Context<Self>) -> Result<Option<Box<dyn Fn()>>, StartError> {
        let spec = &self.specs[i];
        let incarnation = self.slots[i].status.incarnation + 1;
        let cctx = ChildContext { id: spec.id, incarnation, supervisor: ctx.address(), panic: PanicSlot::default() };
        let Child { addr, stop } = (spec.start)(&cctx)?;
        self.handles.registry.insert_any(spec.id, addr);
        let slot = &mut self.slots[i];
        slot.status.incarnation = incarnation;
        slot.status.state = ChildState::Running;
        slot.stop_requested = false;
        Ok(slot.stop.replace(stop))
    }

    fn on_failure(&mut self, i: usize, reason: String, ctx: &mut Context<Self>) {
        let id = self.specs[i].id;
        let now = Instant::now();
        let cfg = self.handles.config.get().loaded.config.gateway.supervisor.clone();
        let period = Duration::from_millis(cfg.period_ms);
        let recent = self.slots[i].window.push(now, period);
        let backoff = (Duration::from_millis(cfg.backoff_initial_ms), Duration::from_millis(cfg.backoff_max_ms));
        let slot = &mut self.slots[i];
        slot.status.last_failure = Some(Failure { at: Utc::now(), reason: reason.clone() });
        match self.budget.record(now, cfg.max_restarts, period, recent, backoff) {
            Verdict::RestartAfter(delay) => {
                tracing::error!(child = id, reason = %reason, delay_ms = delay.as_millis() as u64, "child failed; restarting it");
                slot.status.state = ChildState::Restarting;
                ctx.run_later(delay, move |act, ctx| act.restart_slot(i, ctx));
            }
            Verdict::Exhausted { restarts } => {
                tracing::error!(
                    child = id, reason = %reason, restarts, max_restarts = cfg.max_restarts, period_ms = cfg.period_ms,
                    "restart budget exhausted; stopping the gateway so the service manager can restart it"
                );
                slot.status.state = ChildState::Stopped;
                self.shutdown(exit::SOFTWARE, "restart budget exhausted".into(), ctx);
            }
        }
        self.publish();
    }

    fn restart_slot(&mut self, i: usize, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return;
        }
        match self.start_slot(i, ctx) {
            Ok(_) => {
                self.slots[i].status.restarts += 1;
                tracing::info!(
                    child = self.specs[i].id,
                    incarnation = self.slots[i].status.incarnation,
                    "child restarted"
                );
                self.publish();
            }
            Err(e) => self.on_failure(i, format!("restart failed: {}", e.message), ctx),
        }
    }

    fn shutdown(&mut self, code: i32, reason: String, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.handles.phase.set(Phase::Draining, &format!("Stopping: {reason}"));
        self.handles.stopping.publish(&Stopping { restarting: false });
        tracing::info!(target: LIFECYCLE, reason = %reason, "gateway stopping");
        let budget = Duration::from_millis(self.handles.config.get().loaded.config.gateway.shutdown_timeout_ms);
        let mut steps = Vec::new();
        for i in (0..self.slots.len()).rev() {
            let id = self.specs[i].id;
            let Some(stop) = self.slots[i].stop.take() else { continue };
            self.slots[i].stop_requested = true;
            let (tx, rx) = oneshot::channel();
            self.waiters.insert((id, self.slots[i].status.incarnation), tx);
            steps.push((id, stop, rx, self.specs[i].shutdown));
        }
        let stop_all = async move {
            for (id, stop, rx, child_budget) in steps {
                stop();
                if actix_rt::time::timeout(child_budget, rx).await.is_err() {
                    tracing::warn!(
                        child = id,
                        budget_ms = child_budget.as_millis() as u64,
                        "child did not stop in time; abandoning it"
                    );
                }
            }
        };
        let fut = async move {
            if actix_rt::time::timeout(budget, stop_all).await.is_err() {
                tracing::warn!(
                    budget_ms = budget.as_millis() as u64,
                    "shutdown budget (gateway.shutdownTimeoutMs) exceeded; exiting anyway"
                );
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |_, act, _| {
            // A child still has a waiter when its exit was never reported: it is running yet.
            let still_running: Vec<&str> =
                act.specs.iter().rev().map(|s| s.id).filter(|id| act.waiters.keys().any(|(w, _)| w == id)).collect();
            if !still_running.is_empty() {
                tracing::warn!(
                    count = still_running.len(),
                    children = %still_running.join(","),
                    "children still running at the shutdown deadline; exiting without them"
                );
            }
            act.handles.phase.set(Phase::Stopped, "Stopped");
            tracing::info!(target: LIFECYCLE, exit_code = code, still_running = still_running.len(), "gateway stopped");
            System::current().stop_with_code(code);
        }));
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.id == id)
    }

    fn restart_in_place(&mut self, i: usize, ctx: &mut Context<Self>) -> Result<(), RestartError> {
        let id = self.specs[i].id;
        match self.start_slot(i, ctx) {
            Ok(old) => {
                if let Some(stop) = old {
                    stop();
                }
                self.slots[i].status.restarts += 1;
                tracing::info!(child = id, incarnation = self.slots[i].status.incarnation, "child restarted in place");
                self.publish();
                Ok(())
            }
            Err(e) => {
                tracing::warn!(child = id, error = %e.message, "restart in place failed; the running incarnation stays");
                Err(e.into())
            }
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for i in 0..self.specs.len() {
            if let Err(e) = self.start_slot(i, ctx) {
                let id = self.specs[i].id;
                tracing::error!(child = id, error = %e.message, "startup failed");
                eprintln!("openclaw: cannot start {id}: {}", e.message);
                self.slots[i].status.state = ChildState::Stopped;
                self.publish();
                self.shutdown(e.code, format!("{id} failed to start"), ctx);
                return;
            }
        }
        self.publish();
        let listen: Vec<String> = self.handles.listen.borrow().iter().map(ToString::to_string).collect();
        self.handles.phase.set(Phase::Ready, &format!("Ready: listening on {}", listen.join(", ")));
        tracing::info!(target: LIFECYCLE, listen = %listen.join(","), pid = std::process::id(), "gateway ready");
        // The binary's code pages and the systemd watchdog belong to the process, not to a
        // gateway embedded in another one.
        if !self.handles.phase.is_service() {
            return;
        }
        // Start-up code is done with; let its pages go once things have settled.
        ctx.run_later(STARTUP_SETTLE, |_, _| crate::lifecycle::release_code_pages());
        if let Some(every) = crate::lifecycle::watchdog_interval() {
            ctx.run_interval(every, |_, _| crate::lifecycle::watchdog_ping());
        }
    }
}

impl Handler<ChildExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        if let Some(tx) = self.waiters.remove(&(msg.id, msg.incarnation)) {
            let _ = tx.send(());
        }
        let Some(i) = self.index(msg.id) else { return };
        if msg.incarnation != self.slots[i].status.incarnation {
            return; // an incarnation replaced in place has finished draining
        }
        self.handles.registry.remove(msg.id);
        let slot = &mut self.slots[i];
        slot.stop = None;
        match failure_reason(slot.stop_requested || self.shutting_down, &msg.cause) {
            Some(reason) => self.on_failure(i, reason, ctx),
            None => {
                slot.status.state = ChildState::Stopped;
                self.publish();
            }
        }
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Shutdown, ctx: &mut Context<Self>) {
        self.shutdown(msg.code, msg.reason, ctx);
    }
}

impl Handler<RestartInPlace> for Supervisor {
    type Result = Result<(), RestartError>;

    fn handle(&mut self, msg: RestartInPlace, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Err(RestartError::Stopping);
        }
        let i = self.index(msg.id).ok_or_else(|| RestartError::NoSuchChild(msg.id.to_string()))?;
        self.restart_in_place(i, ctx)
    }
}

impl Handler<RestartAll> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: RestartAll, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return;
        }
        tracing::info!("restarting every child in place (SIGUSR1)");
        self.handles.stopping.publish(&Stopping { restarting: true });
        for i in 0..self.specs.len() {
            let _ = self.restart_in_place(i, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_end_nobody_asked_for_is_a_failure_whatever_its_cause() {
        let causes = [ExitCause::Normal, ExitCause::Stopped, ExitCause::Panicked("boom".into())];
        for cause in &causes {
            assert_eq!(failure_reason(true, cause), None, "{cause:?}");
        }
        let reasons: Vec<_> = causes.iter().map(|c| failure_reason(false, c).unwrap()).collect();
        assert_eq!(reasons, ["exited", "stopped unexpectedly", "panicked: boom"]);
    }

    /// Receives the exit reports a supervisor would.
    struct Probe(Option<oneshot::Sender<ExitCause>>);

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    impl Handler<ChildExited> for Probe {
        type Result = ();

        fn handle(&mut self, msg: ChildExited, _: &mut Context<Self>) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(msg.cause);
            }
        }
    }

    struct Victim {
        _watch: ExitWatch,
    }

    impl Actor for Victim {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    enum Do {
        Panic,
        Stop,
    }

    impl Handler<Do> for Victim {
        type Result = ();

        fn handle(&mut self, msg: Do, ctx: &mut Context<Self>) {
            match msg {
                Do::Panic => panic!("boom in a handler"),
                Do::Stop => ctx.stop(),
            }
        }
    }

    /// Starts a child on a probe, runs `before` on the same thread, sends `msg`: the cause.
    fn exit_cause(before: impl FnOnce(), msg: Do) -> ExitCause {
        System::new().block_on(async move {
            let (tx, rx) = oneshot::channel();
            let report = Probe(Some(tx)).start().recipient();
            let slot = PanicSlot::default();
            let watch = ExitWatch { id: "victim", incarnation: 1, report, normal: false, panic: slot.clone() };
            let victim = spawn_catching(|_| Victim { _watch: watch }, slot);
            before();
            victim.do_send(msg);
            actix_rt::time::timeout(Duration::from_secs(5), rx).await.expect("an exit report").unwrap()
        })
    }

    #[test]
    fn a_panic_in_a_handler_reaches_the_supervisor_with_the_exit() {
        assert_eq!(exit_cause(|| {}, Do::Panic), ExitCause::Panicked("boom in a handler".into()));
    }

    #[test]
    fn a_panic_elsewhere_on_the_thread_is_not_blamed_on_a_child_that_stops() {
        let unrelated = || assert!(std::panic::catch_unwind(|| panic!("not the child's")).is_err());
        assert_eq!(exit_cause(unrelated, Do::Stop), ExitCause::Stopped);
    }
}
