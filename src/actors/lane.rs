//! LaneActor: one per named lane (main, subagent, cron). It dispatches its lane's queue
//! (grants slots up to the limit, in order) and drains it when the gateway stops. The queue
//! itself lives in the gateway's `Lanes`, so an incarnation restarted after a panic adopts it
//! (see `crate::lanes` for the guarantee that gives).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use crate::config::live::LiveConfig;
use crate::lanes::{Lane, Lanes};
use crate::lifecycle::{Phase, PhaseView};
use crate::topic::Subscription;

/// The child ids, one per named lane.
pub const IDS: [&str; 3] = ["lane.main", "lane.subagent", "lane.cron"];

/// What a job queued when the gateway stops is answered.
pub const DRAIN_REASON: &str =
    "gateway stopping: the job was queued and had not started; submit it again after restart";

/// Command: start what the limit allows.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Pump;

/// What a LaneActor reads and dispatches.
#[derive(Clone)]
pub struct LaneHandles {
    pub lanes: Arc<Lanes>,
    /// Whether a stop is the gateway's (drain) or a restart in place.
    pub phase: PhaseView,
    /// The shutdown grace.
    pub config: LiveConfig,
}

pub struct LaneActor {
    lane: Arc<Lane>,
    h: LaneHandles,
    stopping: bool,
    /// This incarnation is the lane's dispatcher while it holds this.
    work: Option<Subscription>,
    watch: ExitWatch,
}

/// The child spec of the lane named `name` (one of `crate::lanes::NAMED`).
pub fn spec(id: &'static str, handles: LaneHandles) -> ChildSpec {
    // The supervisor's overall budget (gateway.shutdownTimeoutMs) bounds this too.
    ChildSpec::permanent(id, Duration::from_secs(600), move |cx| start(cx, id, &handles))
}

fn start(cx: &ChildContext, id: &'static str, h: &LaneHandles) -> Result<Child, StartError> {
    let name = id.trim_start_matches("lane.");
    let lane = h
        .lanes
        .get(name)
        .cloned()
        .ok_or_else(|| StartError::new(crate::exit::SOFTWARE, format!("no lane named {name}")))?;
    let actor = LaneActor { lane, h: h.clone(), stopping: false, work: None, watch: cx.watch() };
    Ok(cx.spawn(|_| actor))
}

impl Actor for LaneActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Producers nudge this incarnation from now on; anything queued meanwhile starts now.
        let me = ctx.address();
        self.work = Some(self.lane.subscribe(move |_| me.do_send(Pump)));
        self.lane.grant_ready();
    }
}

impl Handler<Pump> for LaneActor {
    type Result = ();

    fn handle(&mut self, _: Pump, _: &mut Context<Self>) {
        if !self.stopping {
            self.lane.grant_ready();
        }
    }
}

impl Handler<StopChild> for LaneActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        self.stopping = true;
        self.work = None;
        if !matches!(self.h.phase.get(), Phase::Draining | Phase::Stopped) {
            // Replaced in place (SIGUSR1): the new incarnation already dispatches the queue.
            self.watch.exit_normally();
            ctx.stop();
            return;
        }
        // Normally drained already when the stop began (a no-op then).
        self.lane.drain(DRAIN_REASON);
        let grace = Duration::from_millis(self.h.config.get().loaded.config.gateway.shutdown_timeout_ms);
        let running = self.lane.stats().active;
        tracing::info!(lane = %self.lane.name, running, "lane stopping once its running jobs finish");
        let lane = self.lane.clone();
        ctx.wait(async move { lane.idle_within(grace).await }.into_actor(self).map(|finished, act, ctx| {
            if !finished {
                tracing::warn!(lane = %act.lane.name, running = act.lane.stats().active,
                        "running jobs did not finish within gateway.shutdownTimeoutMs; stopping anyway");
            }
            act.watch.exit_normally();
            ctx.stop();
        }));
    }
}

#[cfg(feature = "fault-injection")]
impl Handler<crate::actors::config::InjectPanic> for LaneActor {
    type Result = ();

    fn handle(&mut self, _: crate::actors::config::InjectPanic, _: &mut Context<Self>) {
        panic!("injected fault in lane {}", self.lane.name);
    }
}
