//! The actors and the messages between them.
//!
//! | actor        | owns (writes)                              | answers                                   | publishes        |
//! |--------------|-------------------------------------------|-------------------------------------------|------------------|
//! | `Supervisor` | child specs, restart budget, the phase, child status, the registry | `Shutdown`, `RestartInPlace`, `RestartAll`, `ChildExited` | `Stopping` (topic), child status (watch) |
//! | `ConfigActor`| the live config (`LiveWriter`), reload facts, Ready <-> Reloading, the watcher | `ReloadConfig`, `WriteConfig`, `StopChild` | `ConfigChanged` (topic), `ReloadFacts` (watch) |
//! | `ListenerActor` | the actix-web server, its sockets, the TLS store | `StopChild`                        | listen addresses, TLS store (watch) |
//! | `AuthActor`  | tokens, passwords, device registry, rate limits | `Authenticate`, `AuthenticateBearer`, `DeviceCommand` | `device.pair.*` events |
//! | `LaneActor`  | dispatch of one named lane (the queue lives in the gateway's `Lanes`) | `Pump`, `StopChild` | lane counters |
//! | `CronActor`  | cron jobs, their schedule and run history | `CronCall`, `CronConfigChanged`           | `cron` events    |
//! | `BonjourActor` | the mDNS advertisement                  | `Readvertise`, `StopChild`                | `MdnsState` (watch) |
//! | `MemoryActor` | the memory indexes' upkeep (settings, watcher, syncs) | `MemoryConfigChanged`, `StopChild` | index status (read through `Memory`) |
//!
//! Children are started in spec order (config, auth, lanes, cron, memory, listener, bonjour) and
//! stopped in reverse. Each child's spec takes the handles it uses (`ConfigHandles`,
//! `AuthHandles`, ...), built by the composition root (`gateway`): the write half of a fact
//! goes to its owner alone, read views to the rest. Other parts reach a child only through
//! the `ChildRegistry`, never by keeping its `Addr`. The per-connection `SessionActor` lives
//! at the HTTP edge (`http::session`); the hub it registers with (`hub`) is here.

pub mod auth;
pub mod bonjour;
pub mod channels;
pub mod children;
pub mod config;
pub mod cron;
pub mod hub;
pub mod lane;
pub mod listener;
pub mod memory;
pub mod supervisor;
