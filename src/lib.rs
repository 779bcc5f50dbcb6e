//! openclaw: the OpenClaw gateway as a supervised actor runtime.
//!
//! # Layout
//! Layers, lowest first; a module imports only from its own layer and those below
//! (`tests/module_graph.rs` checks it, with a list of known exceptions that may only shrink):
//! - base: [`exit`] codes, [`protocol`] (frames, connect, the method and event catalogue, the
//!   event sink trait), [`state`] (state dir, atomic files, pid lock), [`sys`] (host name,
//!   hex, clock, RSS), [`topic`] (the one subscription mechanism for events).
//! - config: [`config`]: the typed model, load pipeline, validation, diff, redaction, cron
//!   schedules and jobs as config, and the live-config handle (one writer: the ConfigActor).
//! - domain, no actors: [`auth`] (secrets, peers, the request rules, the pure auth policy,
//!   devices), [`lanes`], [`agents`] (runs, providers, transcripts, the tool-call loop),
//!   [`tools`] (core tools, tool policy, the exec and file-access seams), [`cron`] (job store,
//!   the pure planner, backups), [`net`] (binding, TLS), [`metrics`], [`lifecycle`],
//!   [`logging`].
//! - runtime: [`actors`] (the supervisor and its children, the session hub; see its table).
//! - edges: [`http`] (routes, the request guard, the WebSocket session), [`rpc`] (the
//!   methods, the health document, and `rpc::Runtime`: the read views and handles requests
//!   reach) and [`ui`] (the Control UI's embedded assets and their routes).
//!
//! # Who writes what
//! Every piece of runtime state has one writer, and the types say which: the live config
//! (`LiveWriter`, the ConfigActor's), the phase (`PhaseWriter`, the supervisor's; `ReloadPhase`,
//! the ConfigActor's), child status and the registry (the supervisor's), reload facts (the
//! ConfigActor's), listen addresses and the TLS store (the listener's), mDNS state (the
//! BonjourActor's) are `watch` channels or single write handles, given by the composition root
//! to their owner's `ChildSpec`; everyone else gets a read view. Events (config changed, the
//! gateway stopping, work ready on a lane) go through [`topic`], whose publisher is one owner's.
//! - top: [`gateway`] (the composition root: `run` for the process, `Gateway::serve` in
//!   process), [`signals`] (signals to intents), [`cli`]; `main.rs` only calls `cli::main`.

pub mod actors;
pub mod agents;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod config;
pub mod cron;
pub mod exit;
pub mod gateway;
pub mod http;
pub mod lanes;
pub mod lifecycle;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod rpc;
pub mod sandbox;
pub mod signals;
pub mod state;
pub mod sys;
pub mod tools;
pub mod topic;
pub mod ui;
