//! openclaw: the OpenClaw gateway as a supervised actor runtime.
//!
//! # Layout
//! - [`cli`]: the command line (`openclaw gateway`, `openclaw config ...`); `main.rs` only calls it.
//! - [`gateway`]: the composition root; `run` returns the exit code.
//! - [`actors`]: the supervisor and its children (config, auth, lanes, cron, listener,
//!   bonjour) and the per-connection sessions; see its table.
//! - [`lanes`]: bounded work queues; [`agents`]: agent runs, providers, transcripts;
//!   [`cron`]: schedules, job store, backups; [`metrics`]: Prometheus metrics.
//! - [`config`]: the typed model, the load pipeline, validation, diff, redaction.
//! - [`http`]: routes on the gateway port (`/healthz`, `/readyz`, `/health`).
//! - [`net`]: bind addresses and binding.
//! - [`state`]: the state directory, atomic files, the pid lock.
//! - [`lifecycle`]: phases and sd_notify; [`signals`]: signals to intents.
//! - [`shared`]: facts every part reads; [`logging`]: tracing setup; [`exit`]: exit codes.

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
