//! The actors and the messages between them.
//!
//! | actor        | owns                                      | answers                                   | publishes        |
//! |--------------|-------------------------------------------|-------------------------------------------|------------------|
//! | `Supervisor` | child specs, restart budget, registry      | `Shutdown`, `RestartInPlace`, `RestartAll`, `ChildExited` | child status in `/health` |
//! | `ConfigActor`| config changes (load, diff, swap), watcher | `ReloadConfig`, `StopChild`               | `ConfigChanged`  |
//! | `ListenerActor` | the actix-web server and its sockets   | `StopChild`                               | listen addresses |
//! | `AuthActor`  | tokens, passwords, device registry, rate limits | `Authenticate`, `AuthenticateBearer`, `DeviceCommand` | `device.pair.*` events |
//! | `LaneActor`  | dispatch of one named lane (the queue lives in `Shared::lanes`) | `Pump`, `StopChild` | lane counters |
//! | `CronActor`  | cron jobs, their schedule and run history | `CronCall`, `CronConfigChanged`           | `cron` events    |
//! | `BonjourActor` | the mDNS advertisement                  | `Readvertise`, `StopChild`                | mDNS state       |
//!
//! Children are started in spec order (config, auth, lanes, cron, listener, bonjour) and
//! stopped in reverse. Other
//! parts reach a child only through `Shared::registry`, never by keeping its `Addr`. The
//! per-connection `SessionActor` lives at the HTTP edge (`http::session`); the hub it registers
//! with (`hub`) is here.

pub mod auth;
pub mod bonjour;
pub mod children;
pub mod config;
pub mod cron;
pub mod hub;
pub mod lane;
pub mod listener;
pub mod supervisor;
