//! ChannelsActor: owns the channel accounts. It starts one `AccountActor` per configured
//! account (Discord, Slack) and restarts one that ended unasked (a panic, an unexpected end)
//! with backoff, as a transient child: an account that stops on a failure no restart can fix
//! (a refused token) is not restarted and waits, its reason in `channels.status`, for a config
//! change. A config change applies per account: new tokens restart that account only; new
//! rules reach the running account without a reconnect. What an account remembers (messages
//! handled, DMs to backfill, its session) outlives its incarnations, so a restart neither
//! loses a message nor answers one twice.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use parking_lot::Mutex;
use tokio::sync::watch;

use super::supervisor::budget::backoff_delay;
use super::supervisor::{Child, ChildContext, ChildSpec, ExitWatch, PanicSlot, StartError, StopChild, spawn_catching};
use crate::agents::Agents;
use crate::channels::account::{Account, Memory, SharedMemory};
use crate::channels::outbound::Outbound;
use crate::channels::pairing::Store;
use crate::channels::settings::{self, DISCORD, Rules, SLACK, Tokens};
use crate::channels::status::Board;
use crate::channels::{discord, slack};
use crate::config::LoadOptions;
use crate::config::live::LiveConfig;
use crate::metrics::Metrics;
use crate::sys::now_ms;

pub const ID: &str = "channels";
const CHANNELS: [&str; 2] = [DISCORD, SLACK];
/// An incarnation that lived this long before failing starts the backoff afresh.
const STABLE: Duration = Duration::from_secs(60);

pub struct ChannelsHandles {
    pub config: LiveConfig,
    pub options: Arc<LoadOptions>,
    pub agents: Arc<Agents>,
    pub board: Arc<Board>,
    pub metrics: Arc<Metrics>,
}

/// Fact: config changed under `channels`, `messages` or `session`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChannelsConfigChanged;

/// How an account incarnation ended.
#[derive(Debug)]
enum Ended {
    /// A failure restarting cannot fix.
    Fatal(String),
    /// Anything else nobody asked for (a panic, an unexpected end): restarted.
    Failed(String),
}

#[derive(Message)]
#[rtype(result = "()")]
struct AccountExited {
    channel: &'static str,
    incarnation: u64,
    ended: Ended,
}

struct Slot {
    tokens: Tokens,
    rules: watch::Sender<Arc<Rules>>,
    memory: SharedMemory,
    addr: Option<Addr<AccountActor>>,
    incarnation: u64,
    started_at: Instant,
    failures: usize,
    restart: Option<SpawnHandle>,
}

/// A slot's account stops with it, however the slot goes (a config change, this actor's end).
impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(addr) = self.addr.take() {
            addr.do_send(StopAccount);
        }
    }
}

pub struct ChannelsActor {
    h: Arc<ChannelsHandles>,
    pairing: Arc<Store>,
    slots: BTreeMap<&'static str, Slot>,
    _watch: ExitWatch,
}

pub fn spec(handles: ChannelsHandles) -> ChildSpec {
    let handles = Arc::new(handles);
    ChildSpec::permanent(ID, Duration::from_secs(3), move |cx: &ChildContext| -> Result<Child, StartError> {
        let pairing = Arc::new(Store::new(&handles.options.paths.state_dir));
        let actor = ChannelsActor { h: handles.clone(), pairing, slots: BTreeMap::new(), _watch: cx.watch() };
        Ok(cx.spawn(|_| actor))
    })
}

fn token_source(env: &crate::config::env::EnvSnapshot, t: &Tokens) -> &'static str {
    let (var, token) = match t {
        Tokens::Discord { bot } => ("DISCORD_BOT_TOKEN", bot),
        Tokens::Slack { bot, .. } => ("SLACK_BOT_TOKEN", bot),
    };
    if env.get(var) == Some(token.as_str()) { "env" } else { "config" }
}

impl ChannelsActor {
    /// Brings the running accounts in line with the config.
    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        let live = self.h.config.get();
        let cfg = &live.loaded.config;
        for channel in CHANNELS {
            let wanted = settings::tokens(cfg, channel);
            let rules = Arc::new(Rules::of(cfg, channel));
            match (self.slots.get_mut(channel), wanted) {
                (Some(slot), Some(tokens)) if slot.tokens == tokens => {
                    if slot.rules.send_if_modified(|r| {
                        if **r == *rules {
                            false
                        } else {
                            *r = rules.clone();
                            true
                        }
                    }) {
                        tracing::info!(channel, "channel rules changed; applied without reconnecting");
                    }
                }
                (Some(_), wanted) => {
                    let slot = self.slots.remove(channel).expect("present");
                    self.stop_slot(channel, slot, ctx);
                    match wanted {
                        Some(tokens) => {
                            tracing::info!(channel, "channel token changed; restarting this channel only");
                            self.open(channel, tokens, rules, ctx);
                        }
                        None => self.idle(channel, cfg),
                    }
                }
                (None, Some(tokens)) => self.open(channel, tokens, rules, ctx),
                (None, None) => self.idle(channel, cfg),
            }
        }
    }

    /// A channel that does not run: listed (not running, with what is missing) when the config
    /// names it, gone from the status otherwise.
    fn idle(&self, channel: &'static str, cfg: &crate::config::model::Config) {
        if settings::mentioned(cfg, channel) {
            self.h.board.update(channel, settings::ACCOUNT, |s| {
                s.configured = false;
                s.running = false;
                s.connected = false;
                s.token_source = "none";
                s.last_error = settings::missing(cfg, channel);
            });
        } else {
            self.h.board.remove(channel, settings::ACCOUNT);
        }
    }

    fn open(&mut self, channel: &'static str, tokens: Tokens, rules: Arc<Rules>, ctx: &mut Context<Self>) {
        let source = token_source(&self.h.options.env, &tokens);
        self.h.board.update(channel, settings::ACCOUNT, |s| {
            *s = Default::default();
            s.configured = true;
            s.token_source = source;
        });
        let (tx, _) = watch::channel(rules);
        let slot = Slot {
            tokens,
            rules: tx,
            memory: Arc::new(Mutex::new(Memory::default())),
            addr: None,
            incarnation: 0,
            started_at: Instant::now(),
            failures: 0,
            restart: None,
        };
        self.slots.insert(channel, slot);
        self.start(channel, ctx);
    }

    fn start(&mut self, channel: &'static str, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get_mut(channel) else { return };
        slot.restart = None;
        slot.incarnation += 1;
        slot.started_at = Instant::now();
        let env = &self.h.options.env;
        let out = match &slot.tokens {
            Tokens::Discord { bot } => Outbound::Discord(discord::rest::Rest::new(&discord::api_base(env), bot)),
            Tokens::Slack { bot, app } => Outbound::Slack(slack::web::Web::new(&slack::api_base(env), bot, Some(app))),
        };
        let account = Rc::new(Account {
            channel,
            id: settings::ACCOUNT.into(),
            rules: slot.rules.subscribe(),
            memory: slot.memory.clone(),
            agents: self.h.agents.clone(),
            pairing: self.pairing.clone(),
            board: self.h.board.clone(),
            metrics: self.h.metrics.clone(),
            out,
            bot_id: Default::default(),
        });
        let cfg = self.h.config.get();
        let job = Job {
            tokens: slot.tokens.clone(),
            gateway_url: env.get(discord::GATEWAY_URL_ENV).map(str::to_string),
            deaf_after: Duration::from_secs(u64::from(cfg.loaded.config.channels.slack.deaf_socket_seconds)),
        };
        let (parent, incarnation) = (ctx.address(), slot.incarnation);
        let panic: PanicSlot = Default::default();
        let guard = Guard { channel, incarnation, parent, panic: panic.clone(), reported: false };
        slot.addr = Some(spawn_catching(move |_| AccountActor { account, job: Some(job), guard }, panic));
        self.h.board.update(channel, settings::ACCOUNT, |s| {
            s.running = true;
            s.fatal = false;
            s.last_start_at = Some(now_ms());
        });
        tracing::info!(channel, incarnation, "channel account started");
    }

    fn stop_slot(&self, channel: &'static str, mut slot: Slot, ctx: &mut Context<Self>) {
        if let Some(h) = slot.restart.take() {
            ctx.cancel_future(h);
        }
        drop(slot);
        self.h.board.update(channel, settings::ACCOUNT, |s| {
            s.running = false;
            s.connected = false;
            s.last_stop_at = Some(now_ms());
        });
    }
}

impl Actor for ChannelsActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.reconcile(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        for (channel, slot) in std::mem::take(&mut self.slots) {
            self.stop_slot(channel, slot, ctx);
        }
    }
}

impl Handler<ChannelsConfigChanged> for ChannelsActor {
    type Result = ();

    fn handle(&mut self, _: ChannelsConfigChanged, ctx: &mut Context<Self>) {
        self.reconcile(ctx);
    }
}

impl Handler<AccountExited> for ChannelsActor {
    type Result = ();

    fn handle(&mut self, msg: AccountExited, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get_mut(msg.channel) else { return };
        if slot.incarnation != msg.incarnation {
            return;
        }
        slot.addr = None;
        let channel = msg.channel;
        match msg.ended {
            Ended::Fatal(why) => {
                tracing::error!(channel, reason = %why, "channel stopped; not restarted until its config changes");
                self.h.board.update(channel, settings::ACCOUNT, |s| {
                    s.running = false;
                    s.connected = false;
                    s.fatal = true;
                    s.last_stop_at = Some(now_ms());
                    s.last_error = Some(why);
                });
            }
            Ended::Failed(why) => {
                if slot.started_at.elapsed() >= STABLE {
                    slot.failures = 0;
                }
                slot.failures += 1;
                let delay = backoff_delay(Duration::from_millis(200), Duration::from_secs(30), slot.failures);
                tracing::warn!(channel, reason = %why, delay_ms = delay.as_millis() as u64, "channel account failed; restarting");
                self.h.board.update(channel, settings::ACCOUNT, |s| {
                    s.running = false;
                    s.connected = false;
                    s.restarts += 1;
                    s.last_stop_at = Some(now_ms());
                    s.last_error = Some(why);
                });
                slot.restart = Some(ctx.run_later(delay, move |act, ctx| act.start(channel, ctx)));
            }
        }
    }
}

impl Handler<StopChild> for ChannelsActor {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// What an account's loop needs beside the account.
struct Job {
    tokens: Tokens,
    gateway_url: Option<String>,
    deaf_after: Duration,
}

/// Reports the incarnation's end when dropped (a panic included, with its message).
struct Guard {
    channel: &'static str,
    incarnation: u64,
    parent: Addr<ChannelsActor>,
    panic: PanicSlot,
    reported: bool,
}

impl Guard {
    fn report(&mut self, ended: Ended) {
        if !self.reported {
            self.reported = true;
            self.parent.do_send(AccountExited { channel: self.channel, incarnation: self.incarnation, ended });
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let why = self.panic.lock().take().map_or_else(|| "the account stopped".to_string(), |p| format!("panic: {p}"));
        self.report(Ended::Failed(why));
    }
}

/// Asks an account to stop (config change, shutdown): not a failure.
#[derive(Message)]
#[rtype(result = "()")]
struct StopAccount;

/// One channel account: runs its platform loop; ends on a fatal failure or when asked.
struct AccountActor {
    account: Rc<Account>,
    job: Option<Job>,
    guard: Guard,
}

impl Actor for AccountActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(job) = self.job.take() else { return };
        let acc = self.account.clone();
        let fut = async move {
            match job.tokens {
                Tokens::Discord { bot } => discord::gateway::run(acc, bot, job.gateway_url).await,
                Tokens::Slack { app, .. } => slack::socket::run(acc, app, job.deaf_after).await,
            }
        };
        ctx.spawn(fut.into_actor(self).map(|why, act, ctx| {
            act.guard.report(Ended::Fatal(why));
            ctx.stop();
        }));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.account.status(|s| s.connected = false);
    }
}

impl Handler<StopAccount> for AccountActor {
    type Result = ();

    fn handle(&mut self, _: StopAccount, ctx: &mut Context<Self>) {
        // Asked to stop: the slot is gone or replaced, so nothing is reported.
        self.guard.reported = true;
        ctx.stop();
    }
}
