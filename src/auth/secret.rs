//! Where the gateway's shared token (or password) comes from, in precedence order:
//! `--token`, `OPENCLAW_GATEWAY_TOKEN`, a token file (`OPENCLAW_GATEWAY_TOKEN_FILE` or
//! `gateway.auth.tokenFile`), `gateway.auth.token`, `/run/secrets/gateway_token`, and last a
//! token generated into `<state>/secrets/gateway_token` at first start.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::{Loaded, Paths, Source};
use crate::state::{self, FILE_MODE, StateError};

/// Docker/Podman secret mounted by the production compose file.
pub const DOCKER_SECRET: &str = "/run/secrets/gateway_token";
/// File name of the generated token under `<state>/secrets/`.
pub const GENERATED: &str = "gateway_token";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Flag,
    Env(String),
    File(PathBuf),
    Config(PathBuf),
    Generated(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => f.write_str("the --token flag"),
            Self::Env(v) => write!(f, "the environment variable {v}"),
            Self::File(p) => write!(f, "the file {}", p.display()),
            Self::Config(p) => write!(f, "gateway.auth.token in {}", p.display()),
            Self::Generated(p) => write!(f, "the generated file {}", p.display()),
        }
    }
}

impl SecretSource {
    /// Where the token lives, for refusal messages: names the source, never a path of this
    /// machine (the message goes to clients that have not authenticated).
    pub fn hint(&self) -> String {
        match self {
            Self::Flag => "the gateway's --token flag".into(),
            Self::Env(v) => format!("the gateway's environment variable {v}"),
            Self::File(p) if p == Path::new(DOCKER_SECRET) => "the container secret gateway_token".into(),
            Self::File(_) => "the file named by gateway.auth.tokenFile".into(),
            Self::Config(_) => "gateway.auth.token in the gateway's config".into(),
            Self::Generated(_) => "the token file the gateway generated in its state directory".into(),
        }
    }
}

/// Why the token could not be read or generated.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read token file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Empty or only whitespace (perhaps mid-rewrite).
    #[error("token file {} is empty", .0.display())]
    Empty(PathBuf),
    #[error("cannot create the secrets directory {0}")]
    CreateDir(StateError),
    #[error("cannot write the generated token {0}")]
    Generate(StateError),
    #[error("resolving the token failed unexpectedly (a bug: see the log)")]
    Panicked,
}

/// A resolved secret; file-backed ones remember the file's stamp to notice rewrites.
#[derive(Debug, Clone)]
pub struct Secret {
    pub value: String,
    pub source: SecretSource,
    stamp: Option<(SystemTime, u64)>,
}

impl Secret {
    /// A secret that is not backed by a file (flag, environment, config).
    pub fn new(value: impl Into<String>, source: SecretSource) -> Self {
        Self { value: value.into(), source, stamp: None }
    }

    /// The file behind this secret, when it has one.
    pub fn file(&self) -> Option<&Path> {
        match &self.source {
            SecretSource::File(p) | SecretSource::Generated(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the file behind this secret has another stamp (mtime, size) than when it was
    /// read; a missing file is no change (a rewrite in progress keeps the current value).
    pub fn changed_on_disk(&self) -> bool {
        self.file().and_then(stamp).is_some_and(|now| Some(now) != self.stamp)
    }

    /// The file-backed secret read again whatever its stamp says (a same-size rewrite within
    /// the mtime granularity still counts); `None` when there is no file or it is unreadable
    /// or empty (mid-rewrite), so the current value stays.
    pub fn reread(&self) -> Option<Secret> {
        let path = self.file()?.to_path_buf();
        from_file(path, |_| self.source.clone()).ok()
    }
}

fn stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read_secret_file(p: &Path) -> Result<String, SecretError> {
    let text = std::fs::read_to_string(p).map_err(|source| SecretError::Read { path: p.into(), source })?;
    let v = text.trim().to_string();
    if v.is_empty() { Err(SecretError::Empty(p.into())) } else { Ok(v) }
}

fn from_file(p: PathBuf, source: impl FnOnce(PathBuf) -> SecretSource) -> Result<Secret, SecretError> {
    let value = read_secret_file(&p)?;
    Ok(Secret { value, stamp: stamp(&p), source: source(p) })
}

/// The shared token, generating one when `generate` and nothing else supplies it.
pub fn resolve_token(loaded: &Loaded, paths: &Paths, generate: bool) -> Result<Option<Secret>, SecretError> {
    let auth = &loaded.config.gateway.auth;
    let configured = auth.token.clone().filter(|t| !t.is_empty());
    match loaded.source_of("gateway.auth.token") {
        Source::Flag(_) => {
            return Ok(configured.map(|value| Secret::new(value, SecretSource::Flag)));
        }
        Source::Env(var) => {
            return Ok(configured.map(|value| Secret::new(value, SecretSource::Env(var))));
        }
        _ => {}
    }
    if let Some(file) = auth.token_file.as_deref().filter(|f| !f.is_empty()) {
        return from_file(paths.state_dir.join(file), SecretSource::File).map(Some);
    }
    if let Some(value) = configured {
        return Ok(Some(Secret::new(value, SecretSource::Config(paths.config.clone()))));
    }
    if Path::new(DOCKER_SECRET).is_file() {
        return from_file(PathBuf::from(DOCKER_SECRET), SecretSource::File).map(Some);
    }
    let generated = paths.state_dir.join("secrets").join(GENERATED);
    if generated.exists() {
        return from_file(generated, SecretSource::Generated).map(Some);
    }
    if !generate {
        return Ok(None);
    }
    state::ensure_dir(generated.parent().expect("secrets dir")).map_err(SecretError::CreateDir)?;
    state::atomic_write(&generated, format!("{}\n", super::random_token()).as_bytes(), FILE_MODE)
        .map_err(SecretError::Generate)?;
    tracing::warn!(path = %generated.display(), "no gateway token was configured; generated one (clients read it from this file)");
    from_file(generated, SecretSource::Generated).map(Some)
}

/// The shared token resolved on a thread of its own from the moment the gateway is built: a
/// first start generates it with two fsyncs (one to two milliseconds here) that the rest of the
/// start need not wait for. The auth child takes the answer when it first starts.
#[derive(Default)]
pub struct Ahead(parking_lot::Mutex<Option<(u64, std::thread::JoinHandle<Resolved>)>>);

/// What resolving the token answers.
type Resolved = Result<Option<Secret>, SecretError>;

impl Ahead {
    /// Starts resolving the token of config `generation` (the token is generated if missing),
    /// when its auth mode takes one.
    pub fn start(live: std::sync::Arc<crate::config::live::Live>, paths: Paths) -> Self {
        if !live.loaded.config.gateway.auth.mode.takes_token() {
            return Self::default();
        }
        let generation = live.generation;
        let thread =
            std::thread::Builder::new().name("token".into()).spawn(move || resolve_token(&live.loaded, &paths, true));
        Self(parking_lot::Mutex::new(thread.ok().map(|t| (generation, t))))
    }

    /// The answer for config `generation`, once: `None` when nothing was started or it was for
    /// another generation (whose write has ended by then, so a second resolve cannot race it).
    pub fn take(&self, generation: u64) -> Option<Resolved> {
        let (started_for, thread) = self.0.lock().take()?;
        let answer = thread.join().unwrap_or(Err(SecretError::Panicked));
        (started_for == generation).then_some(answer)
    }
}

/// The password for `password` mode (flag, env, or config).
pub fn resolve_password(loaded: &Loaded) -> Option<Secret> {
    let value = loaded.config.gateway.auth.password.clone().filter(|p| !p.is_empty())?;
    let source = match loaded.source_of("gateway.auth.password") {
        Source::Flag(_) => SecretSource::Flag,
        Source::Env(v) => SecretSource::Env(v),
        _ => SecretSource::Config(PathBuf::new()),
    };
    Some(Secret::new(value, source))
}

/// Written by `openclaw token rotate` next to the secrets: the grace period the operator asked
/// for, honoured by the gateway for a rotation it sees within [`ROTATION_FRESH`].
pub const ROTATION: &str = "rotation.json";
const ROTATION_FRESH: std::time::Duration = std::time::Duration::from_secs(300);

pub fn write_rotation(state_dir: &Path, grace: std::time::Duration) -> Result<(), StateError> {
    let body = serde_json::json!({"graceMs": grace.as_millis() as u64, "atMs": chrono::Utc::now().timestamp_millis()});
    state::write_file(&state_dir.join("secrets").join(ROTATION), body.to_string().as_bytes(), FILE_MODE)
}

/// The grace period of a recent `token rotate`, if there was one.
pub fn rotation_grace(state_dir: &Path) -> Option<std::time::Duration> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("secrets").join(ROTATION)).ok()?).ok()?;
    let age = chrono::Utc::now().timestamp_millis() - v["atMs"].as_i64()?;
    if !(0..ROTATION_FRESH.as_millis() as i64).contains(&age) {
        return None;
    }
    Some(std::time::Duration::from_millis(v["graceMs"].as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env::EnvSnapshot;
    use crate::config::live::LiveConfig;
    use crate::config::{LoadOptions, Paths};

    #[test]
    fn the_token_resolved_ahead_is_the_one_a_later_resolve_reads() {
        let d = tempfile::tempdir().unwrap();
        let env = EnvSnapshot::from_pairs([]);
        let opts = LoadOptions {
            paths: Paths::resolve(None, Some(d.path()), &env),
            env,
            flags: Vec::new(),
            require_file: false,
        };
        let (config, _writer) = LiveConfig::new(crate::config::load(&opts).unwrap());
        let live = config.get();
        let ahead = Ahead::start(live.clone(), opts.paths.clone());
        let token = ahead.take(live.generation).unwrap().unwrap().unwrap();
        assert!(matches!(token.source, SecretSource::Generated(_)), "{:?}", token.source);
        assert!(ahead.take(live.generation).is_none(), "the answer is given once");
        let again = resolve_token(&live.loaded, &opts.paths, true).unwrap().unwrap();
        assert_eq!(again.value, token.value, "generated once, read after");
        // An answer for another generation is dropped (its write over before `take` returns).
        let ahead = Ahead::start(live.clone(), opts.paths.clone());
        assert!(ahead.take(live.generation + 1).is_none());
        assert!(Ahead::default().take(live.generation).is_none());
    }
}
