//! MemoryActor: owns the memory indexes' upkeep: it applies the config to the gateway's
//! `Memory` at start and on every change under `memory` or `agents` (settings per agent, the
//! file watcher re-armed, a sync where settings changed), and stops the watcher when it stops.
//! Searches do not pass through it: tools and RPC read the indexes through `Memory`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use crate::config::live::LiveConfig;
use crate::memory::Memory;

pub const ID: &str = "memory";

pub struct MemoryHandles {
    pub config: LiveConfig,
    pub memory: Arc<Memory>,
}

/// Fact: config changed under `memory` or `agents`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MemoryConfigChanged;

pub struct MemoryActor {
    h: Arc<MemoryHandles>,
    _watch: ExitWatch,
}

pub fn spec(handles: MemoryHandles) -> ChildSpec {
    let handles = Arc::new(handles);
    ChildSpec::permanent(ID, Duration::from_secs(2), move |cx: &ChildContext| -> Result<Child, StartError> {
        let actor = MemoryActor { h: handles.clone(), _watch: cx.watch() };
        Ok(cx.spawn(|_| actor))
    })
}

impl MemoryActor {
    fn apply(&self) {
        let live = self.h.config.get();
        self.h.memory.apply(&live.loaded.config);
    }
}

impl Actor for MemoryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // At boot the HTTP servers' start is queued behind this actor (the listener is a later
        // child): one yield lets them start accepting before the indexes open (SQLite, the
        // watcher, a few ms on a fresh state dir). `wait` holds config changes until then.
        ctx.wait(fut::wrap_future(tokio::task::yield_now()).map(|(), act: &mut Self, _| {
            act.apply();
            tracing::info!(enabled = act.h.memory.enabled(), "memory ready");
        }));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.h.memory.stop();
    }
}

impl Handler<MemoryConfigChanged> for MemoryActor {
    type Result = ();

    fn handle(&mut self, _: MemoryConfigChanged, _: &mut Context<Self>) {
        self.apply();
    }
}

impl Handler<StopChild> for MemoryActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
