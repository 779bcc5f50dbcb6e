//! The model catalogue: `<state>/agents/<agentId>/agent/models.json` (providers with their
//! base URL, API key as `${ENV}`, and models), and the choice of models for a run: the
//! primary from `agents.defaults.model` (or the request), aliases from
//! `agents.defaults.models`, then the fallbacks in order.
//!
//! The gateway only reads models.json, so the file may sit on a read-only mount (the
//! production guide's EROFS case). The one write, creating an empty catalogue on first
//! start, is skipped with a warning that names the path and the fix when it cannot be made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::env::EnvSnapshot;
use crate::config::model::{AgentDefaults, ModelRef};

/// The API dialect this gateway speaks to providers.
pub const OPENAI_COMPLETIONS: &str = "openai-completions";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalogue {
    #[serde(default)]
    pub providers: BTreeMap<String, Provider>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub base_url: String,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default = "default_api")]
    pub api: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub models: Vec<ModelInfo>,
}

fn default_api() -> String {
    OPENAI_COMPLETIONS.into()
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub context_window: Option<u64>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub reasoning: bool,
    /// Prices, for `usage.cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Price>,
}

/// A model's prices in USD per million tokens (models.json's `cost`, upstream's unit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

/// One model ready to call: where, with which key, and what it supports.
#[derive(Debug, Clone)]
pub struct Target {
    /// "provider/model".
    pub reference: String,
    pub model: ModelInfo,
    pub base_url: String,
    pub api_key: Option<String>,
    pub headers: BTreeMap<String, String>,
}

pub fn path(state_dir: &Path, agent_id: &str) -> PathBuf {
    state_dir.join("agents").join(agent_id).join("agent").join("models.json")
}

/// Why models.json cannot be read, or made by [`seed`].
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}: {source}", file.display())]
    Parse { file: PathBuf, source: serde_json::Error },
    /// The message names the fix (a read-only path is the production guide's EROFS case).
    #[error("cannot write {}: {source}; {}", file.display(), write_fix(file, source))]
    Write { file: PathBuf, source: std::io::Error },
}

/// Why a model reference cannot be called; a run moves on to the next model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("model {0:?} is not \"provider/model\" (or a configured alias)")]
    NotAReference(String),
    #[error("no provider {provider:?} in {} (model {reference})", file.display())]
    UnknownProvider { provider: String, reference: String, file: PathBuf },
    #[error("provider {provider} uses api {api:?}; this gateway speaks {:?}", OPENAI_COMPLETIONS)]
    UnsupportedApi { provider: String, api: String },
    #[error("{}: provider {provider} needs environment variable {} (set it for the gateway)", file.display(), missing.join(", "))]
    MissingEnv { file: PathBuf, provider: String, missing: Vec<String> },
}

/// Reads the catalogue; a missing or empty file is an empty catalogue (an empty one is what a
/// power cut can leave of the seed, which is written without fsyncs).
pub fn load(file: &Path) -> Result<Catalogue, CatalogueError> {
    match std::fs::read(file) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Catalogue { providers: BTreeMap::new() }),
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| CatalogueError::Parse { file: file.into(), source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalogue { providers: BTreeMap::new() }),
        Err(source) => Err(CatalogueError::Read { file: file.into(), source }),
    }
}

/// The catalogue of `file` over the providers the config names (`models.providers`, where
/// upstream keeps them): a provider in both comes from the file.
pub fn load_merged(
    file: &Path,
    configured: &BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
) -> Result<Catalogue, CatalogueError> {
    let from_file = load(file)?;
    let mut providers = BTreeMap::new();
    for (id, p) in configured {
        match serde_json::from_value::<Provider>(serde_json::Value::Object(p.clone())) {
            Ok(p) => {
                providers.insert(id.clone(), p);
            }
            Err(e) => {
                tracing::warn!(provider = %id, error = %e, "models.providers entry in the config not usable; skipped")
            }
        }
    }
    providers.extend(from_file.providers);
    Ok(Catalogue { providers })
}

/// Creates an empty catalogue for `agent_id` when there is none. Never fatal: on a read-only
/// path the error says what to do, and the gateway serves on. Without fsyncs (two of them were
/// about 2 ms of a first start): a power cut leaves no file, an empty one or the whole of it
/// (24 bytes, one sector), and [`load`] reads each as the empty catalogue.
pub fn seed(state_dir: &Path, agent_id: &str) -> Result<bool, CatalogueError> {
    let file = path(state_dir, agent_id);
    if file.exists() {
        return Ok(false);
    }
    file.parent()
        .map_or(Ok(()), crate::state::ensure_dir)
        .and_then(|()| crate::state::replace_file(&file, SEED, crate::state::FILE_MODE))
        .map(|()| true)
        .map_err(|e| CatalogueError::Write { file, source: e.source })
}

/// What [`seed`] writes.
const SEED: &[u8] = b"{\n  \"providers\": {}\n}\n";

/// What to do about a models.json that cannot be written.
fn write_fix(file: &Path, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "it is on a read-only path: the gateway only reads models.json, so put the file there before start \
             (e.g. a read-only mount of {}), or mount that directory writable",
            file.parent().map(|p| p.display().to_string()).unwrap_or_default()
        ),
        _ => "check the path and its permissions".into(),
    }
}

impl Catalogue {
    /// Every model, for `models.list`.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for (pname, p) in &self.providers {
            for m in &p.models {
                out.push(serde_json::json!({
                    "id": format!("{pname}/{}", m.id), "name": m.name.clone().unwrap_or_else(|| m.id.clone()),
                    "provider": pname, "contextWindow": m.context_window, "reasoning": m.reasoning,
                    "api": p.api,
                }));
            }
        }
        out
    }

    /// The prices of `reference` ("provider/model"), if models.json gives them.
    pub fn price(&self, reference: &str) -> Option<Price> {
        let (p, m) = reference.split_once('/')?;
        self.providers.get(p)?.models.iter().find(|x| x.id == m)?.cost
    }

    fn first(&self) -> Option<String> {
        self.providers.iter().find_map(|(p, prov)| prov.models.first().map(|m| format!("{p}/{}", m.id)))
    }

    /// A model reference made ready to call (API key expanded from the environment).
    pub fn target(&self, reference: &str, env: &EnvSnapshot, file: &Path) -> Result<Target, TargetError> {
        let (pname, mid) = reference.split_once('/').ok_or_else(|| TargetError::NotAReference(reference.into()))?;
        let p = self.providers.get(pname).ok_or_else(|| TargetError::UnknownProvider {
            provider: pname.into(),
            reference: reference.into(),
            file: file.into(),
        })?;
        if p.api != OPENAI_COMPLETIONS {
            return Err(TargetError::UnsupportedApi { provider: pname.into(), api: p.api.clone() });
        }
        let model = p.models.iter().find(|m| m.id == mid).cloned().unwrap_or(ModelInfo {
            id: mid.into(),
            name: None,
            context_window: None,
            max_tokens: None,
            reasoning: false,
            cost: None,
        });
        let expand = |s: &str| {
            crate::config::load::expand(s, env).map_err(|missing| TargetError::MissingEnv {
                file: file.into(),
                provider: pname.into(),
                missing,
            })
        };
        let headers = p
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), expand(v)?)))
            .collect::<Result<BTreeMap<_, _>, TargetError>>()?;
        Ok(Target {
            reference: reference.into(),
            model,
            base_url: expand(&p.base_url)?,
            api_key: p.api_key.as_deref().map(expand).transpose()?,
            headers,
        })
    }
}

/// An alias (or a full reference) to "provider/model".
pub fn resolve_alias(name: &str, defaults: &AgentDefaults) -> String {
    defaults
        .models
        .iter()
        .find(|(_, o)| o.alias.as_deref() == Some(name))
        .map(|(full, _)| full.clone())
        .unwrap_or_else(|| name.to_string())
}

/// The models to try, in order: the requested (or configured) primary, then the fallbacks,
/// without repeats. With nothing configured, the catalogue's first model.
pub fn chain(requested: Option<&str>, lane: &str, defaults: &AgentDefaults, catalogue: &Catalogue) -> Vec<String> {
    let (primary, fallbacks) = match &defaults.model {
        Some(ModelRef::Name(n)) => (Some(n.clone()), Vec::new()),
        Some(ModelRef::Chain(c)) => (Some(c.primary.clone()), c.fallbacks.clone()),
        None => (None, Vec::new()),
    };
    let lane_primary = (lane == "subagent").then(|| defaults.subagent.model.clone()).flatten();
    let first = requested.map(str::to_string).or(lane_primary).or(primary).or_else(|| catalogue.first());
    let mut out: Vec<String> = Vec::new();
    for m in first.into_iter().chain(fallbacks) {
        let full = resolve_alias(&m, defaults);
        if !out.contains(&full) {
            out.push(full);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{ModelChain, ModelOptions};

    fn catalogue() -> Catalogue {
        serde_json::from_value(serde_json::json!({"providers": {
            "deepseek": {"baseUrl": "${BASE}/v1", "apiKey": "${KEY}", "api": "openai-completions",
                          "models": [{"id": "deepseek-chat", "name": "DeepSeek Chat", "contextWindow": 64000,
                                      "maxTokens": 8192, "reasoning": false, "input": ["text"],
                                      "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}}]},
            "other": {"baseUrl": "http://x", "api": "anthropic-messages", "models": [{"id": "m"}]}
        }}))
        .unwrap()
    }

    #[test]
    fn the_production_guide_format_parses_and_keys_come_from_the_environment() {
        let c = catalogue();
        let env = EnvSnapshot::from_pairs([("BASE".into(), "http://h".into()), ("KEY".into(), "sk".into())]);
        let t = c.target("deepseek/deepseek-chat", &env, Path::new("m.json")).unwrap();
        assert_eq!(t.base_url, "http://h/v1");
        assert_eq!(t.api_key.as_deref(), Some("sk"));
        assert_eq!(t.model.context_window, Some(64000));
        let e = c.target("deepseek/deepseek-chat", &EnvSnapshot::from_pairs([]), Path::new("m.json")).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("BASE") && e.contains("m.json"), "{e}");
        let e = c.target("other/m", &env, Path::new("m.json")).unwrap_err().to_string();
        assert!(e.contains("anthropic-messages"), "{e}");
        assert!(c.target("nope/x", &env, Path::new("m.json")).unwrap_err().to_string().contains("no provider"));
    }

    #[test]
    fn the_seed_and_what_a_power_cut_leaves_of_it_load_as_the_empty_catalogue() {
        let dir = tempfile::tempdir().unwrap();
        assert!(seed(dir.path(), "main").unwrap());
        let file = path(dir.path(), "main");
        assert!(load(&file).unwrap().providers.is_empty());
        assert!(!seed(dir.path(), "main").unwrap(), "an existing catalogue is kept");
        for torn in [&b""[..], b"\n", b"  \n\t"] {
            std::fs::write(&file, torn).unwrap();
            assert!(load(&file).unwrap().providers.is_empty(), "{torn:?}");
        }
        std::fs::write(&file, b"{\n  \"provid").unwrap();
        assert!(matches!(load(&file), Err(CatalogueError::Parse { .. })), "a broken catalogue is still an error");
    }

    #[test]
    fn unusable_models_say_why() {
        let c = catalogue();
        let (env, file) = (EnvSnapshot::from_pairs([]), Path::new("m.json"));
        let e = c.target("deepseek/deepseek-chat", &env, file).unwrap_err();
        assert_eq!(e.to_string(), "m.json: provider deepseek needs environment variable BASE (set it for the gateway)");
        let e = c.target("other/m", &env, file).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"provider other uses api "anthropic-messages"; this gateway speaks "openai-completions""#
        );
        let e = c.target("fast", &env, file).unwrap_err();
        assert_eq!(e, TargetError::NotAReference("fast".into()));
        assert_eq!(e.to_string(), r#"model "fast" is not "provider/model" (or a configured alias)"#);
        assert_eq!(
            c.target("nope/x", &env, file).unwrap_err().to_string(),
            r#"no provider "nope" in m.json (model nope/x)"#
        );
    }

    #[test]
    fn the_example_catalogue_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/models.example.json");
        let c = load(&file).unwrap();
        let env = EnvSnapshot::from_pairs([("DEEPSEEK_API_KEY".into(), "sk".into())]);
        let t = c.target("deepseek/deepseek-chat", &env, &file).unwrap();
        assert_eq!(t.base_url, "https://api.deepseek.com/v1");
        assert_eq!(c.list().len(), 1);
    }

    #[test]
    fn chain_resolves_aliases_and_keeps_fallback_order() {
        let mut d = AgentDefaults {
            model: Some(ModelRef::Chain(ModelChain {
                primary: "fast".into(),
                fallbacks: vec!["b/two".into(), "a/one".into(), "fast".into()],
            })),
            ..Default::default()
        };
        d.models.insert("a/one".into(), ModelOptions { alias: Some("fast".into()) });
        let c = catalogue();
        assert_eq!(chain(None, "main", &d, &c), vec!["a/one", "b/two"]);
        assert_eq!(chain(Some("x/y"), "main", &d, &c), vec!["x/y", "b/two", "a/one"]);
        d.subagent.model = Some("s/m".into());
        assert_eq!(chain(None, "subagent", &d, &c)[0], "s/m");
        assert_eq!(chain(None, "main", &AgentDefaults::default(), &c), vec!["deepseek/deepseek-chat"]);
    }
}
