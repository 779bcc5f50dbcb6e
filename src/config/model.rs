//! The typed configuration: every key the gateway accepts, its default and its range.
//!
//! These types are the single source of truth: `openclaw config schema` is generated
//! from them, validation runs against that schema, and the actors read them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole `config.json5` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// The gateway process: listener, auth, TLS, reload and supervision.
    pub gateway: Gateway,
    /// Agent defaults: models, lanes, sandbox and tools.
    pub agents: AgentsConfig,
    /// Messaging channels (Slack, Discord, ...).
    pub channels: Channels,
    /// How channel replies look (acknowledgement reaction).
    pub messages: Messages,
    /// Which session a channel message goes to.
    pub session: SessionConfig,
    /// Scheduled jobs.
    pub cron: Cron,
    /// Queue capacities of the work lanes (their concurrency lives with what they run).
    pub lanes: LaneConfig,
    /// Memory index settings.
    pub memory: Memory,
    /// Log level, format and file.
    pub logging: LoggingConfig,
    /// mDNS / Bonjour advertisement.
    pub discovery: Discovery,
    /// Model providers, as upstream keeps them in its config; merged with each agent's
    /// models.json (the file wins for a provider both name).
    pub models: ModelsConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelsConfig {
    /// Provider id -> `{baseUrl, apiKey, api, headers, models: [...]}` (models.json's shape).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Gateway {
    /// TCP port for HTTP and WebSocket (0 picks a free port; useful for tests).
    #[schemars(range(max = 65535))]
    pub port: u32,
    /// Address to bind instead of the `bind` preset: an IPv4/IPv6 literal or a host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Bind preset: loopback (default), lan, tailnet, auto or custom (uses `host`).
    pub bind: BindMode,
    /// Client authentication.
    pub auth: Auth,
    /// TLS for the listener.
    pub tls: Tls,
    /// Canvas host (browser mode).
    pub canvas_host: CanvasHost,
    /// Browser clients (Control UI, webchat).
    pub control_ui: ControlUi,
    /// How configuration changes are applied.
    pub reload: Reload,
    /// Restart budget of the supervisor.
    pub supervisor: SupervisorConfig,
    /// Budget for a graceful stop (SIGTERM) before the process exits anyway.
    #[schemars(range(min = 100, max = 600000))]
    pub shutdown_timeout_ms: u64,
    /// Time a new WebSocket client has to complete the handshake.
    #[schemars(range(min = 100, max = 600000))]
    pub handshake_timeout_ms: u64,
    /// Reverse proxies whose forwarding headers are trusted (IP addresses).
    pub trusted_proxies: Vec<String>,
    /// Host names this gateway answers to besides local names, IP literals, `host`, this
    /// machine's name (and `<name>.local`): e.g. a DNS name for a `lan` bind. A leading dot
    /// matches subdomains (".home.arpa"). Other Host headers are refused (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// `GET /metrics` (Prometheus text).
    pub metrics: MetricsConfig,
    /// `GET /health` (the full health document; `/healthz` and `/readyz` are always public).
    pub health: HealthConfig,
    /// Open connections (HTTP and WebSocket) served at once; more are answered 503.
    #[schemars(range(min = 1, max = 1000000))]
    pub max_connections: usize,
    /// Open connections from one address; more are answered 429. Trusted proxies (which carry
    /// many clients) are bounded by `maxConnections` only.
    #[schemars(range(min = 1, max = 1000000))]
    pub max_connections_per_address: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthConfig {
    /// loopback (default): local clients freely, others with the gateway token;
    /// token: always with the gateway token; public: anyone who reaches the port.
    pub access: EndpointAccess,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self { access: EndpointAccess::Loopback }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsConfig {
    pub enabled: bool,
    /// loopback (default): local clients freely, others with the gateway token;
    /// token: always with the gateway token; public: anyone who reaches the port.
    pub access: EndpointAccess,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, access: EndpointAccess::Loopback }
    }
}

/// Who may read a read-only HTTP endpoint (`/metrics`, `/health`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointAccess {
    Loopback,
    Token,
    Public,
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            port: 18789,
            host: None,
            bind: BindMode::Loopback,
            auth: Auth::default(),
            tls: Tls::default(),
            canvas_host: CanvasHost::default(),
            control_ui: ControlUi::default(),
            reload: Reload::default(),
            supervisor: SupervisorConfig::default(),
            shutdown_timeout_ms: 10_000,
            handshake_timeout_ms: 10_000,
            trusted_proxies: Vec::new(),
            allowed_hosts: Vec::new(),
            metrics: MetricsConfig::default(),
            health: HealthConfig::default(),
            max_connections: 16_384,
            max_connections_per_address: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlUi {
    /// Serve the Control UI (the web dashboard) on the gateway port.
    pub enabled: bool,
    /// URL path the Control UI is served under ("/" or e.g. "/openclaw"). Segments may not
    /// start with a dot, so the path cannot climb out of itself.
    #[schemars(pattern(r"^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?$"))]
    pub base_path: String,
    /// A directory to serve instead of the built-in UI: an OpenClaw Control UI build
    /// (index.html and assets/, e.g. the dist/control-ui of the openclaw npm package).
    pub root: Option<std::path::PathBuf>,
    /// Origins (scheme://host[:port]) allowed besides the gateway's own Host; "*" allows any.
    pub allowed_origins: Vec<String>,
}

impl Default for ControlUi {
    fn default() -> Self {
        Self { enabled: true, base_path: "/".into(), root: None, allowed_origins: Vec::new() }
    }
}

impl ControlUi {
    /// The base path with a leading and a trailing slash ("/" or "/openclaw/").
    pub fn base(&self) -> String {
        let trimmed = self.base_path.trim_matches('/');
        if trimmed.is_empty() { "/".into() } else { format!("/{trimmed}/") }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    Loopback,
    Lan,
    Tailnet,
    Auto,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Auth {
    /// none, token, password, device-pairing or tailscale.
    pub mode: AuthMode,
    /// Shared secret (mode "token"). Prefer `tokenFile` or OPENCLAW_GATEWAY_TOKEN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// File holding the shared secret, e.g. /run/secrets/gateway_token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Password (mode "password").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// After a token change the previous token stays valid this long (0: at once invalid).
    #[schemars(range(max = 86400000))]
    pub previous_token_grace_ms: u64,
    /// Lockout of addresses that fail to authenticate repeatedly.
    pub rate_limit: RateLimit,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            mode: AuthMode::Token,
            token: None,
            token_file: None,
            password: None,
            previous_token_grace_ms: 0,
            rate_limit: RateLimit::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Failures within `windowMs` that lock an address out.
    #[schemars(range(min = 1, max = 100000))]
    pub max_attempts: u32,
    #[schemars(range(min = 1000, max = 86400000))]
    pub window_ms: u64,
    #[schemars(range(min = 1000, max = 86400000))]
    pub lockout_ms: u64,
    /// Loopback clients are never locked out.
    pub exempt_loopback: bool,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { max_attempts: 10, window_ms: 60_000, lockout_ms: 300_000, exempt_loopback: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    None,
    Token,
    Password,
    DevicePairing,
    Tailscale,
}

impl AuthMode {
    /// Whether clients present the shared token in this mode (the gateway then has one,
    /// generated at first start when nothing else supplies it).
    pub fn takes_token(self) -> bool {
        match self {
            Self::None | Self::Password => false,
            Self::Token | Self::DevicePairing | Self::Tailscale => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Tls {
    pub enabled: bool,
    /// PEM certificate (chain) path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// PEM private key path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Optional CA bundle path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// Generate a self-signed certificate into <state>/certs when none is given.
    pub auto_generate: bool,
    /// Lowest TLS version accepted: "1.2" or "1.3".
    pub min_version: TlsVersion,
}

impl Default for Tls {
    fn default() -> Self {
        Self { enabled: false, cert: None, key: None, ca: None, auto_generate: true, min_version: TlsVersion::V1_2 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CanvasHost {
    pub enabled: bool,
    /// Usually the same as gateway.port.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
}

impl Default for CanvasHost {
    fn default() -> Self {
        Self { enabled: true, port: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Reload {
    /// off: file changes are only logged; hot: apply what can change live;
    /// hybrid: also restart the listener in place when its address changes.
    pub mode: ReloadMode,
    /// Quiet time after the last file event before reloading.
    #[schemars(range(max = 60000))]
    pub debounce_ms: u64,
}

impl Default for Reload {
    fn default() -> Self {
        Self { mode: ReloadMode::Hybrid, debounce_ms: 300 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReloadMode {
    Off,
    Hot,
    Hybrid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SupervisorConfig {
    /// Restarts allowed within `periodMs` before the gateway gives up (exit 70).
    #[schemars(range(max = 1000))]
    pub max_restarts: u32,
    #[schemars(range(min = 100, max = 86400000))]
    pub period_ms: u64,
    /// First restart delay; doubles per recent restart of the same child.
    #[schemars(range(max = 60000))]
    pub backoff_initial_ms: u64,
    #[schemars(range(max = 600000))]
    pub backoff_max_ms: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self { max_restarts: 5, period_ms: 60_000, backoff_initial_ms: 100, backoff_max_ms: 5_000 }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentsConfig {
    pub defaults: AgentDefaults,
    /// Per-agent settings (upstream's `agents.list`): what an agent changes from the defaults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub list: Vec<AgentEntry>,
}

impl AgentsConfig {
    /// The `agents.list` entry of `id`, if any.
    pub fn entry(&self, id: &str) -> Option<&AgentEntry> {
        self.list.iter().find(|a| a.id == id)
    }
}

/// One agent's overrides. Upstream's other per-agent keys are accepted and reported as ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentEntry {
    #[schemars(length(min = 1, max = 64))]
    pub id: String,
    /// This agent's workspace instead of `agents.defaults.workspace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Applied after the global tool policy: this agent can only narrow it (deny wins) or
    /// choose another profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<AgentTools>,
}

/// A per-agent tool policy, under upstream's names (`agents.list[].tools`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentTools {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ToolProfile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentDefaults {
    /// "provider/model" or {primary, fallbacks}.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// Per-model options, keyed by "provider/model".
    pub models: BTreeMap<String, ModelOptions>,
    pub think_level: ThinkLevel,
    /// Concurrent runs on the main lane.
    #[schemars(range(min = 1, max = 1024))]
    pub max_concurrent: u32,
    pub subagent: Subagent,
    pub sandbox: Sandbox,
    /// Which tools agents get (upstream's top-level `tools`, under the deployment guide's names).
    pub tools: Tools,
    /// The directory an agent's file tools and commands start in; relative paths resolve
    /// there. Default `<state>/workspace`; `~` is the home directory. Created on demand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Model calls one run may make that answer with tool calls; the next one ends the run.
    #[schemars(range(min = 1, max = 1000))]
    pub max_tool_iterations: u32,
    /// Longest one tool call may take (an `exec` may ask for less with its `timeout`).
    #[schemars(range(min = 1, max = 86400))]
    pub tool_timeout_seconds: u64,
    /// How long a host `exec` waits for an operator's approval (`exec.approval.resolve`) before
    /// the file's `askFallback` decides (deny by default).
    #[schemars(range(min = 1, max = 86400))]
    pub exec_approval_timeout_seconds: u64,
    /// Longest an agent run may take (queue wait excluded) before it ends with AGENT_TIMEOUT.
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_seconds: u64,
    /// Longest wait for a provider's first byte, or between two streamed chunks; past it the
    /// next model in the fallback chain is tried.
    #[schemars(range(min = 100, max = 600000))]
    pub provider_timeout_ms: u64,
}

impl Default for AgentDefaults {
    fn default() -> Self {
        Self {
            model: None,
            models: BTreeMap::new(),
            think_level: ThinkLevel::Off,
            max_concurrent: 4,
            subagent: Subagent::default(),
            sandbox: Sandbox::default(),
            tools: Tools::default(),
            workspace: None,
            max_tool_iterations: 25,
            tool_timeout_seconds: 600,
            exec_approval_timeout_seconds: 120,
            timeout_seconds: 600,
            provider_timeout_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ModelRef {
    Name(String),
    Chain(ModelChain),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelChain {
    pub primary: String,
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelOptions {
    /// Short name usable instead of "provider/model".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThinkLevel {
    Off,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Subagent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[schemars(range(min = 1, max = 1024))]
    pub max_concurrent: u32,
}

impl Default for Subagent {
    fn default() -> Self {
        Self { model: None, max_concurrent: 2 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Sandbox {
    pub mode: SandboxMode,
    pub allowlist: Allowlist,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self { mode: SandboxMode::NonMain, allowlist: Allowlist::default() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    Off,
    NonMain,
    Always,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Allowlist {
    pub paths: Vec<String>,
    pub domains: Vec<String>,
}

/// A tool policy. Entries are tool names (`bash` is `exec`), groups (`group:fs`,
/// `group:runtime`, `group:web`, `group:memory`, ...) or `*` globs, case-insensitive; deny wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Tools {
    /// The base set: minimal, coding, messaging or full (the default: every tool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ToolProfile>,
    /// Only these tools (upstream's `tools.allow`; the deployment guide calls it `enabled`).
    pub enabled: Vec<String>,
    /// Added to the profile's set (upstream's `tools.alsoAllow`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_allow: Vec<String>,
    /// Never these (upstream's `tools.deny`; the guide calls it `disabled`). An entry that
    /// names no tool (e.g. "rm") is a program `exec` refuses to run: this gateway's extension.
    pub disabled: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolProfile {
    Minimal,
    Coding,
    Messaging,
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Channels {
    pub slack: SlackChannel,
    pub discord: DiscordChannel,
    /// `/health` counts a connected channel unhealthy after this many seconds without an
    /// inbound message, when it had traffic in the day before (0: never).
    #[schemars(range(max = 604800))]
    pub stale_after_seconds: u32,
}

impl Default for Channels {
    fn default() -> Self {
        Self { slack: SlackChannel::default(), discord: DiscordChannel::default(), stale_after_seconds: 3600 }
    }
}

/// `dm.policy`: who is answered in direct messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DmPolicyConfig {
    /// Unknown senders get a pairing code; `openclaw pairing approve` lets them in.
    #[default]
    Pairing,
    /// Only senders in `allowFrom`.
    Allowlist,
    /// Everyone (upstream requires `allowFrom: ["*"]` with it; here it is enough alone).
    Open,
    Disabled,
}

/// `groupPolicy`: which groups and channels are answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicyConfig {
    Open,
    /// Only the guilds/channels the config lists.
    #[default]
    Allowlist,
    Disabled,
}

/// `replyToMode`: whether replies quote (Discord) or thread under (Slack) the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplyToMode {
    #[default]
    Off,
    /// The first chunk of a reply.
    First,
    /// Every chunk.
    All,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DmConfig {
    /// Upstream's switch for DMs; `false` is the same as `policy: "disabled"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    pub policy: DmPolicyConfig,
    /// Senders always answered in DMs (user ids; "*" for everyone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_from: Vec<String>,
}

/// One Discord channel under a guild.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordGuildChannel {
    /// `false` refuses this channel even when its guild is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
}

/// A Discord server (guild): allowed under `groupPolicy: "allowlist"` by being listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordGuild {
    /// Whether the bot must be mentioned to answer here (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Only these users are answered in this guild (empty: everyone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Channel id -> settings; when any is listed, only listed channels are answered.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, DiscordGuildChannel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordChannel {
    /// Runs when a token is set unless this is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Bot token (upstream's `token`); usually "${DISCORD_BOT_TOKEN}".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    pub dm: DmConfig,
    /// Senders always answered in DMs, beside `dm.allowFrom`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_from: Vec<String>,
    pub group_policy: GroupPolicyConfig,
    /// Guild id -> settings ("*" for every guild).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub guilds: BTreeMap<String, DiscordGuild>,
    /// Answer other bots (off: they are ignored).
    pub allow_bots: bool,
    pub reply_to_mode: ReplyToMode,
    /// Characters per message (Discord's hard limit is 2000).
    #[schemars(range(min = 100, max = 2000))]
    pub text_chunk_limit: u32,
    /// Lines per message, so long answers do not fill a screen.
    #[schemars(range(min = 4, max = 1000))]
    pub max_lines_per_message: u32,
    /// How often the typing indicator is renewed while a run works (Discord shows it ~10 s).
    #[schemars(range(min = 1, max = 60))]
    pub typing_interval_seconds: u32,
}

impl Default for DiscordChannel {
    fn default() -> Self {
        Self {
            enabled: None,
            bot_token: None,
            dm: DmConfig::default(),
            allow_from: Vec::new(),
            group_policy: GroupPolicyConfig::default(),
            guilds: BTreeMap::new(),
            allow_bots: false,
            reply_to_mode: ReplyToMode::default(),
            text_chunk_limit: 2000,
            max_lines_per_message: 17,
            typing_interval_seconds: 8,
        }
    }
}

/// One Slack channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackChannelEntry {
    /// `false` refuses this channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackChannel {
    /// Runs when both tokens are set unless this is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Bot token (xoxb-...), for the Web API; usually "${SLACK_BOT_TOKEN}".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// App-level token (xapp-...) with connections:write, for Socket Mode; "${SLACK_APP_TOKEN}".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_token: Option<String>,
    pub dm: DmConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_from: Vec<String>,
    pub group_policy: GroupPolicyConfig,
    /// Channel id -> settings ("*" for every channel).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, SlackChannelEntry>,
    /// Whether the bot must be mentioned in channels (per-channel settings win).
    pub require_mention: bool,
    pub allow_bots: bool,
    pub reply_to_mode: ReplyToMode,
    /// Characters per message (Slack's limit for one message is 4000).
    #[schemars(range(min = 100, max = 4000))]
    pub text_chunk_limit: u32,
    /// A Socket Mode connection that brings neither an event nor a pong for this long is
    /// "deaf" and is replaced. Pings go out at a third of it.
    #[schemars(range(min = 1, max = 3600))]
    pub deaf_socket_seconds: u32,
}

impl Default for SlackChannel {
    fn default() -> Self {
        Self {
            enabled: None,
            bot_token: None,
            app_token: None,
            dm: DmConfig::default(),
            allow_from: Vec::new(),
            group_policy: GroupPolicyConfig::default(),
            channels: BTreeMap::new(),
            require_mention: true,
            allow_bots: false,
            reply_to_mode: ReplyToMode::default(),
            text_chunk_limit: 4000,
            deaf_socket_seconds: 120,
        }
    }
}

/// `messages.ackReactionScope`: which accepted messages get the acknowledgement reaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AckScope {
    All,
    Direct,
    GroupAll,
    /// Group messages that mention the bot (upstream's default).
    #[default]
    GroupMentions,
    Off,
    None,
}

/// How channel replies look (upstream's `messages`; its other keys are reported as ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Messages {
    /// The reaction put on a message the assistant is working on ("" for none).
    pub ack_reaction: String,
    pub ack_reaction_scope: AckScope,
    /// Take the reaction off once the reply is sent.
    pub remove_ack_after_reply: bool,
}

impl Default for Messages {
    fn default() -> Self {
        Self {
            ack_reaction: "\u{1F440}".into(),
            ack_reaction_scope: AckScope::default(),
            remove_ack_after_reply: false,
        }
    }
}

/// `session.dmScope`: which session a direct message goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DmScopeConfig {
    /// The agent's main session, whoever writes.
    #[default]
    Main,
    PerPeer,
    PerChannelPeer,
    PerAccountChannelPeer,
}

/// Session routing (upstream's `session`; its other keys are reported as ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionConfig {
    pub dm_scope: DmScopeConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Cron {
    pub enabled: bool,
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrent_runs: u32,
    pub jobs: Vec<CronJob>,
}

impl Default for Cron {
    fn default() -> Self {
        Self { enabled: true, max_concurrent_runs: 1, jobs: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CronJob {
    /// Stable id (defaults to `config-<index>`): run history and catch-up follow it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A 5- or 6-field cron expression, `every 30s|5m|2h|1d`, or `at <RFC 3339 time>`; or the
    /// object form `{kind: "cron", expr, tz?}`, `{kind: "every", everyMs}`, `{kind: "at", at}`.
    pub schedule: Schedule,
    /// Time zone for cron expressions (IANA name, e.g. "Europe/Berlin"); default UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// Built-in command: "backup-sessions". Give either this or `payload`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<CronPayload>,
    /// Run once at start when runs were missed while the gateway was down (else they are
    /// recorded as skipped).
    #[serde(default)]
    pub catch_up: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// For a `systemEvent` payload: `now` starts a turn of the agent's main session at once;
    /// `next-heartbeat` (default) leaves the note for the session's next turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_mode: Option<WakeMode>,
}

fn yes() -> bool {
    true
}

/// When a `systemEvent` job's note reaches the model (upstream's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WakeMode {
    /// A turn of the main session starts at once to read it.
    Now,
    /// It waits for the main session's next turn (this gateway runs no heartbeat of its own).
    NextHeartbeat,
}

/// When a cron job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Schedule {
    Text(#[schemars(length(min = 1))] String),
    Spec(ScheduleSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum ScheduleSpec {
    Cron {
        expr: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tz: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Every {
        #[schemars(range(min = 1000))]
        every_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor_ms: Option<i64>,
    },
    #[serde(rename_all = "camelCase")]
    At {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
}

/// What a cron job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum CronPayload {
    /// A tar.gz of every agent's session transcripts into `<state>/backups/`.
    #[serde(rename_all = "camelCase")]
    BackupSessions {
        /// How many backups to keep (oldest removed first).
        #[serde(default = "keep_backups")]
        #[schemars(range(min = 1, max = 10000))]
        keep: u32,
    },
    /// A note for the agent's main session (upstream's system event): read by its next turn,
    /// or by one started at once with `wakeMode: "now"`.
    #[serde(rename_all = "camelCase")]
    SystemEvent {
        #[schemars(length(min = 1))]
        text: String,
    },
    /// An agent run on the cron lane.
    #[serde(rename_all = "camelCase")]
    AgentTurn {
        #[schemars(length(min = 1))]
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thinking: Option<ThinkLevel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1, max = 86400))]
        timeout_seconds: Option<u64>,
    },
}

fn keep_backups() -> u32 {
    7
}

/// `lanes.<name>.queueCapacity` for the main, subagent, cron and per-session lanes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LaneConfig {
    pub main: LaneOptions,
    pub subagent: LaneOptions,
    pub cron: LaneOptions,
    pub session: LaneOptions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LaneOptions {
    /// Jobs that may wait; one more is answered UNAVAILABLE with retryAfterMs.
    #[schemars(range(min = 1, max = 1000000))]
    pub queue_capacity: u32,
}

impl Default for LaneOptions {
    fn default() -> Self {
        Self { queue_capacity: 256 }
    }
}

/// The memory index (upstream's `agents.defaults.memorySearch` is the same settings under
/// other names; see `config::upstream::ALIASES`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Memory {
    /// Index each agent's MEMORY.md and memory/**/*.md and offer memory_search / memory_get.
    pub index_enabled: bool,
    /// Chunk size in "tokens", counted as characters / 4 (upstream's count).
    #[schemars(range(min = 64, max = 8192))]
    pub chunk_size: u32,
    /// Tokens each chunk repeats from the end of the one before; less than chunkSize.
    #[schemars(range(max = 4096))]
    pub chunk_overlap: u32,
    pub embedding_model: String,
    /// A provider id from models.json whose baseUrl and apiKey serve `POST /embeddings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// An OpenAI-compatible embeddings endpoint (wins over `provider`). With neither, the index
    /// is keyword-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<MemoryRemote>,
    /// Results memory_search returns at most.
    #[schemars(range(min = 1, max = 100))]
    pub max_results: u32,
    /// Results scoring below this (0..1) are left out.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: f64,
    /// More Markdown files or directories to index (absolute, ~, or relative to the workspace).
    pub extra_paths: Vec<String>,
    /// What is indexed: "memory" (the files) and/or "sessions" (the agent's transcripts).
    pub sources: Vec<MemorySource>,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            index_enabled: true,
            chunk_size: 400,
            chunk_overlap: 80,
            embedding_model: "text-embedding-3-small".into(),
            provider: None,
            remote: None,
            max_results: 6,
            min_score: 0.0,
            extra_paths: Vec::new(),
            sources: vec![MemorySource::Memory],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemoryRemote {
    /// e.g. https://api.openai.com/v1 (the gateway posts to {baseUrl}/embeddings).
    pub base_url: String,
    /// Sent as a bearer token; `${ENV}` substitution applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemorySource {
    Memory,
    Sessions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LoggingConfig {
    pub level: LogLevel,
    /// Console format; when unset: pretty on a terminal, plain text otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    /// true: <state>/logs/gateway.log (JSON lines); a path: that file; false: no file log.
    pub file: LogFile,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { level: LogLevel::Info, format: None, file: LogFile::Enabled(true) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LogFile {
    Enabled(bool),
    Path(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Discovery {
    pub mdns: Mdns,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Mdns {
    /// off, minimal (default) or full (adds cliPath and sshPort to TXT).
    pub mode: MdnsMode,
    /// Instance host name (OPENCLAW_MDNS_HOSTNAME).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Advertise even when only bound to loopback (tests, single-host setups).
    pub advertise_loopback: bool,
}

impl Default for Mdns {
    fn default() -> Self {
        Self { mode: MdnsMode::Minimal, hostname: None, advertise_loopback: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MdnsMode {
    Off,
    Minimal,
    Full,
}
