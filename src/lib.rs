//! openclaw: the OpenClaw gateway as a supervised actor runtime.
//!
//! # Layout
//! Layers, lowest first; a module imports only from its own layer and those below
//! (`tests/module_graph.rs` checks it, with a list of known exceptions that may only shrink):
//! - base: [`exit`] codes, [`protocol`] (frames, connect, the method and event catalogue, the
//!   event sink trait), [`state`] (state dir, atomic files, pid lock), [`sys`] (host name,
//!   hex, clock).
//! - config: [`config`]: the typed model, load pipeline, validation, diff, redaction, cron
//!   schedules and jobs as config, and the live-config handle (one writer: the ConfigActor).
//! - domain, no actors: [`auth`] (secrets, peers, the request rules, the pure auth policy,
//!   devices), [`lanes`], [`agents`] (runs, providers, transcripts), [`cron`] (job store,
//!   the pure planner, backups), [`net`] (binding, TLS), [`metrics`], [`lifecycle`],
//!   [`logging`].
//! - runtime: [`actors`] (the supervisor and its children, the session hub; see its table) and
//!   [`shared`] (the facts not yet given an owner's handle).
//! - edges: [`http`] (routes, the request guard, the WebSocket session) and [`rpc`] (the
//!   methods, the health document).
//! - top: [`gateway`] (the composition root: `run` for the process, `Gateway::serve` in
//!   process), [`signals`] (signals to intents), [`cli`]; `main.rs` only calls `cli::main`.

pub mod actors;
pub mod agents;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cron;
pub mod exit;
pub mod gateway;
pub mod http;
pub mod lanes;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod rpc;
pub mod shared;
pub mod signals;
pub mod state;
pub mod sys;
