//! BonjourActor: advertises `_openclaw-gw._tcp` through the system mDNS responder (avahi, via
//! zeroconf). Every few seconds it recomputes what should be advertised and re-registers when
//! that changed (config reload, listener move, new certificate) or when avahi restarted (which
//! zeroconf does not report: its pid file tells). Without avahi it warns once and retries with
//! the supervisor's backoff (`budget::backoff_delay`), but inside the actor: mDNS is never
//! fatal, and failing the child instead would spend the gateway-wide restart budget, so a
//! host without avahi would end with exit 70.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use parking_lot::Mutex;
use serde_json::json;
use zeroconf::prelude::*;
use zeroconf::{EventLoop, MdnsService, ServiceType, TxtRecord};

use super::supervisor::budget::backoff_delay;
use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, StartError, StopChild};
use crate::config::Config;
use crate::config::LoadOptions;
use crate::config::live::LiveConfig;
use crate::config::model::MdnsMode;
use crate::net::tls::TlsStore;
use tokio::sync::watch;

pub const ID: &str = "bonjour";
pub const SERVICE: &str = "openclaw-gw";
/// How often the plan, the listener and avahi are checked (config changes arrive at once,
/// as `Readvertise`).
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// How often the responder's callbacks are polled while a registration waits for its answer;
/// once it has one, the connection is polled at each check only (an idle gateway sleeps).
const POLL_EVERY: Duration = Duration::from_millis(100);
/// Retry delays after failed registrations: 1 s, doubling up to a minute.
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// avahi-daemon's pid file: a new pid means our registration is gone.
const AVAHI_PID: &str = "/run/avahi-daemon/pid";

/// What should be advertised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub name: String,
    pub port: u16,
    pub txt: Vec<(String, String)>,
}

/// This node's MagicDNS name from `tailscale status --json` (`Self.DNSName`), when tailscale
/// is installed and up.
pub fn tailnet_dns() -> Option<String> {
    let out = std::process::Command::new("tailscale").args(["status", "--json"]).output().ok()?;
    parse_tailnet_dns(&String::from_utf8_lossy(&out.stdout))
}

fn parse_tailnet_dns(status_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(status_json).ok()?;
    let name = v["Self"]["DNSName"].as_str()?.trim_end_matches('.');
    (!name.is_empty()).then(|| name.to_string())
}

/// The advertisement for this config, or why there is none.
pub fn plan(
    cfg: &Config,
    env_disabled: bool,
    listen: &[SocketAddr],
    tls_fp: Option<&str>,
    host: &str,
    tailnet: Option<&str>,
) -> Result<Advert, String> {
    let mdns = &cfg.discovery.mdns;
    if env_disabled {
        return Err("disabled by OPENCLAW_DISABLE_BONJOUR".into());
    }
    if mdns.mode == MdnsMode::Off {
        return Err("discovery.mdns.mode is off".into());
    }
    let Some(first) = listen.first() else { return Err("not listening yet".into()) };
    if listen.iter().all(|a| a.ip().is_loopback()) && !mdns.advertise_loopback {
        return Err("listening on loopback only (set discovery.mdns.advertiseLoopback to advertise anyway)".into());
    }
    let base = mdns.hostname.clone().unwrap_or_else(|| host.to_string());
    let name = format!("{base} (OpenClaw)");
    let port = first.port();
    let mut txt = vec![
        ("role".to_string(), "gateway".to_string()),
        ("gatewayPort".into(), port.to_string()),
        ("lanHost".into(), format!("{base}.local")),
        ("displayName".into(), name.clone()),
        ("transport".into(), "gateway".into()),
    ];
    if let Some(fp) = tls_fp {
        txt.push(("gatewayTls".into(), "1".into()));
        txt.push(("gatewayTlsSha256".into(), fp.to_string()));
    }
    if cfg.gateway.canvas_host.enabled {
        txt.push(("canvasPort".into(), cfg.gateway.canvas_host.port.map_or(port, |p| p as u16).to_string()));
    }
    if let Some(dns) = tailnet {
        txt.push(("tailnetDns".into(), dns.to_string()));
    }
    if mdns.mode == MdnsMode::Full {
        if let Ok(exe) = std::env::current_exe() {
            txt.push(("cliPath".into(), exe.display().to_string()));
        }
        txt.push(("sshPort".into(), "22".into()));
    }
    Ok(Advert { name, port, txt })
}

struct Registered {
    advert: Advert,
    name: String,
    avahi_pid: Option<String>,
    event_loop: EventLoop,
    _service: MdnsService,
}

/// The advertisement's state, as `/health` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum MdnsState {
    Starting,
    Off { reason: String },
    Registering { name: String },
    Unavailable { reason: String },
    Advertised { name: String, port: u16, txt: serde_json::Map<String, serde_json::Value> },
}

/// What the BonjourActor reads, and the state it alone publishes.
pub struct BonjourHandles {
    pub config: LiveConfig,
    /// `OPENCLAW_DISABLE_BONJOUR` in the environment snapshot.
    pub options: Arc<LoadOptions>,
    pub listen: watch::Receiver<Vec<SocketAddr>>,
    pub tls: watch::Receiver<Option<Arc<TlsStore>>>,
    pub state: watch::Sender<MdnsState>,
}

pub struct BonjourActor {
    h: std::rc::Rc<BonjourHandles>,
    current: Option<Registered>,
    /// Looked up once, on a thread of its own (see [`Tailnet`]): `tailscale` is a process to
    /// run, not something to ask every check.
    tailnet: Option<String>,
    /// Registration callback result: Ok(name) or Err(message).
    outcome: Arc<Mutex<Option<Result<String, RegisterError>>>>,
    collisions: u32,
    retry_at: Option<Instant>,
    /// Registrations failed in a row; sets the next retry's delay.
    failures: usize,
    warned: bool,
    /// A registration waits for avahi's answer: poll often.
    pending: bool,
    /// A fast poll is scheduled.
    polling: bool,
    _watch: ExitWatch,
}

/// How a registration failed. zeroconf reports errors as text only, so the name collision
/// (the one failure handled differently: another name is tried at once) is told apart here,
/// where the text comes in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum RegisterError {
    #[error("name collision")]
    Collision,
    #[error("{0}")]
    Other(String),
}

impl From<zeroconf::error::Error> for RegisterError {
    fn from(e: zeroconf::error::Error) -> Self {
        let text = e.to_string();
        if text.to_lowercase().contains("collision") { Self::Collision } else { Self::Other(text) }
    }
}

/// Command: re-check now (sent on config changes).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Readvertise;

pub fn spec(handles: BonjourHandles) -> ChildSpec {
    let handles = std::rc::Rc::new(handles);
    ChildSpec::permanent(ID, Duration::from_secs(2), move |cx: &ChildContext| -> Result<Child, StartError> {
        let actor = BonjourActor {
            h: handles.clone(),
            current: None,
            tailnet: None,
            outcome: Arc::default(),
            collisions: 0,
            retry_at: None,
            failures: 0,
            warned: false,
            pending: false,
            polling: false,
            _watch: cx.watch(),
        };
        Ok(cx.spawn(|_| actor))
    })
}

/// What to do when libavahi-client cannot be loaded (it is opened on first use, not linked).
pub const NO_LIBAVAHI: &str =
    "mDNS needs libavahi-client.so.3 (Debian/Ubuntu: apt install libavahi-client3) or set discovery.mdns.mode: off";

fn avahi_pid() -> Option<String> {
    std::fs::read_to_string(AVAHI_PID).ok().map(|s| s.trim().to_string())
}

impl BonjourActor {
    fn state(&self, v: MdnsState) {
        self.h.state.send_replace(v);
    }

    fn check(&mut self) {
        let live = self.h.config.get();
        let env_disabled = self.h.options.env.get("OPENCLAW_DISABLE_BONJOUR").is_some_and(crate::config::env::truthy);
        let listen = self.h.listen.borrow().clone();
        let fp = self.h.tls.borrow().as_ref().map(|t| t.fingerprint());
        let wanted = plan(
            &live.loaded.config,
            env_disabled,
            &listen,
            fp.as_deref(),
            &crate::sys::hostname(),
            self.tailnet.as_deref(),
        );
        let pid = avahi_pid();
        if let Some(cur) = &self.current
            && cur.avahi_pid != pid
        {
            tracing::warn!("the mDNS responder restarted; advertising again");
            self.current = None;
        }
        match wanted {
            Err(reason) => {
                if self.current.take().is_some() {
                    tracing::info!(reason = %reason, "mDNS advertisement withdrawn");
                }
                self.state(MdnsState::Off { reason });
            }
            Ok(advert) => {
                if self.current.as_ref().is_some_and(|c| c.advert == advert) {
                    return;
                }
                if self.current.take().is_some() {
                    self.collisions = 0;
                }
                if self.retry_at.is_some_and(|t| t > Instant::now()) {
                    return;
                }
                self.register(advert, pid);
            }
        }
    }

    fn register(&mut self, advert: Advert, avahi_pid: Option<String>) {
        let name = if self.collisions == 0 {
            advert.name.clone()
        } else {
            format!("{} ({})", advert.name, self.collisions + 1)
        };
        if let Err(e) = avahi_sys::load() {
            if !self.warned {
                tracing::warn!(error = %e, "mDNS advertisement unavailable: {}", NO_LIBAVAHI);
                self.warned = true;
            }
            self.state(MdnsState::Unavailable { reason: format!("{e}: {NO_LIBAVAHI}") });
            self.retry_later();
            return;
        }
        let result = (|| -> zeroconf::Result<(EventLoop, MdnsService)> {
            let mut service = MdnsService::new(ServiceType::new(SERVICE, "tcp")?, advert.port);
            service.set_name(&name);
            let mut txt = TxtRecord::new();
            for (k, v) in &advert.txt {
                txt.insert(k, v)?;
            }
            service.set_txt_record(txt);
            let outcome = self.outcome.clone();
            service.set_registered_callback(Box::new(move |r, _| {
                *outcome.lock() = Some(r.map(|reg| reg.name().clone()).map_err(RegisterError::from));
            }));
            let event_loop = service.register()?;
            Ok((event_loop, service))
        })();
        match result {
            Ok((event_loop, service)) => {
                self.failures = 0;
                self.retry_at = None;
                self.warned = false;
                self.state(MdnsState::Registering { name: name.clone() });
                self.pending = true;
                self.current = Some(Registered { advert, name, avahi_pid, event_loop, _service: service });
            }
            Err(e) => {
                if !self.warned {
                    tracing::warn!(error = %e, "mDNS advertisement unavailable (is avahi-daemon running?); retrying in the background");
                    self.warned = true;
                }
                self.state(MdnsState::Unavailable { reason: e.to_string() });
                self.retry_later();
            }
        }
    }

    fn retry_later(&mut self) {
        self.failures += 1;
        self.retry_at = Some(Instant::now() + backoff_delay(BACKOFF_INITIAL, BACKOFF_MAX, self.failures));
    }

    /// Polls every `POLL_EVERY` while a registration waits for its answer, and not otherwise.
    fn fast_poll(&mut self, ctx: &mut Context<Self>) {
        if self.pending && self.current.is_some() && !self.polling {
            self.polling = true;
            ctx.run_later(POLL_EVERY, |act, ctx| {
                act.polling = false;
                act.poll();
                act.fast_poll(ctx);
            });
        }
    }

    fn poll(&mut self) {
        let Some(cur) = &self.current else { return };
        if let Err(e) = cur.event_loop.poll(Duration::ZERO) {
            tracing::warn!(error = %e, "mDNS responder connection failed; advertising again");
            self.current = None;
            return;
        }
        let outcome = self.outcome.lock().take();
        if outcome.is_some() {
            self.pending = false;
        }
        match outcome {
            Some(Ok(name)) => {
                tracing::info!(name = %name, port = cur.advert.port, "advertised over mDNS");
                let txt = cur.advert.txt.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                self.state(MdnsState::Advertised { name: name.clone(), port: cur.advert.port, txt });
            }
            Some(Err(RegisterError::Collision)) => {
                self.collisions += 1;
                tracing::warn!(name = %cur.name, "mDNS name already taken on this network; trying another");
                let advert = cur.advert.clone();
                let pid = cur.avahi_pid.clone();
                self.current = None;
                self.register(advert, pid);
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "mDNS registration failed; retrying");
                self.current = None;
                self.retry_later();
            }
            None => {}
        }
    }
}

impl Actor for BonjourActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // `tailscale status` runs (and may wait on tailscaled) away from the start path: the
        // advertisement gains its tailnetDns when the answer comes.
        let me = ctx.address();
        let lookup = std::thread::Builder::new().name("tailnet-lookup".into()).spawn(move || {
            me.do_send(Tailnet(tailnet_dns()));
        });
        if let Err(e) = lookup {
            tracing::warn!(error = %e, "tailnet name lookup not started; advertising without it");
        }
        self.check();
        self.fast_poll(ctx);
        ctx.run_interval(CHECK_EVERY, |act, ctx| {
            act.check();
            act.poll();
            act.fast_poll(ctx);
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Dropping the service withdraws the advertisement.
        self.current = None;
    }
}

/// Internal: this node's MagicDNS name, as the lookup thread found it.
#[derive(Message)]
#[rtype(result = "()")]
struct Tailnet(Option<String>);

impl Handler<Tailnet> for BonjourActor {
    type Result = ();

    fn handle(&mut self, msg: Tailnet, ctx: &mut Context<Self>) {
        if msg.0 != self.tailnet {
            self.tailnet = msg.0;
            self.check();
            self.fast_poll(ctx);
        }
    }
}

impl Handler<Readvertise> for BonjourActor {
    type Result = ();

    fn handle(&mut self, _: Readvertise, ctx: &mut Context<Self>) {
        self.check();
        self.fast_poll(ctx);
    }
}

impl Handler<StopChild> for BonjourActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        self.current = None;
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(f: impl FnOnce(&mut Config)) -> Config {
        let mut c = Config::default();
        f(&mut c);
        c
    }

    #[test]
    fn loopback_only_advertises_nothing_unless_asked() {
        let lo: Vec<SocketAddr> = vec!["127.0.0.1:18789".parse().unwrap()];
        assert!(plan(&Config::default(), false, &lo, None, "h", None).unwrap_err().contains("loopback only"));
        let c = cfg(|c| c.discovery.mdns.advertise_loopback = true);
        assert_eq!(plan(&c, false, &lo, None, "h", None).unwrap().name, "h (OpenClaw)");
        assert!(plan(&c, true, &lo, None, "h", None).unwrap_err().contains("OPENCLAW_DISABLE_BONJOUR"));
        let off = cfg(|c| {
            c.discovery.mdns.advertise_loopback = true;
            c.discovery.mdns.mode = MdnsMode::Off;
        });
        assert!(plan(&off, false, &lo, None, "h", None).is_err());
    }

    #[test]
    fn tailnet_dns_comes_from_tailscale_status() {
        assert_eq!(
            parse_tailnet_dns(r#"{"Self":{"DNSName":"box.tail1234.ts.net."}}"#).as_deref(),
            Some("box.tail1234.ts.net")
        );
        assert_eq!(parse_tailnet_dns(r#"{"Self":{"DNSName":""}}"#), None);
        assert_eq!(parse_tailnet_dns("not json"), None);
    }

    #[test]
    fn txt_has_the_guides_keys_and_tls_and_full_mode_extras() {
        let lan: Vec<SocketAddr> = vec!["0.0.0.0:1234".parse().unwrap()];
        let a = plan(&Config::default(), false, &lan, None, "box", None).unwrap();
        let keys: Vec<&str> = a.txt.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["role", "gatewayPort", "lanHost", "displayName", "transport", "canvasPort"]);
        assert!(a.txt.contains(&("lanHost".into(), "box.local".into())));
        let full = cfg(|c| c.discovery.mdns.mode = MdnsMode::Full);
        let a = plan(&full, false, &lan, Some("ab"), "box", Some("box.tail1234.ts.net")).unwrap();
        assert!(
            a.txt.contains(&("gatewayTls".into(), "1".into()))
                && a.txt.contains(&("gatewayTlsSha256".into(), "ab".into()))
        );
        assert!(a.txt.iter().any(|(k, _)| k == "cliPath") && a.txt.contains(&("sshPort".into(), "22".into())));
        assert!(a.txt.contains(&("tailnetDns".into(), "box.tail1234.ts.net".into())));
        let named = cfg(|c| c.discovery.mdns.hostname = Some("kitchen".into()));
        assert_eq!(plan(&named, false, &lan, None, "box", None).unwrap().name, "kitchen (OpenClaw)");
    }
}
