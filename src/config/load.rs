//! The load pipeline: file(s) to a validated [`Config`], remembering where each value came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::env::{self, EnvSnapshot};
use super::{Config, ConfigError, Paths, Problem, jobs, upstream, validate};

/// `$include` nesting limit.
pub const MAX_INCLUDE_DEPTH: usize = 10;
const INCLUDE_KEY: &str = "$include";

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "source", content = "name")]
pub enum Source {
    Default,
    File,
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File => f.write_str("file"),
            Self::Env(v) => write!(f, "env {v}"),
            Self::Flag(v) => write!(f, "flag --{v}"),
        }
    }
}

/// Everything a load needs; pure inputs so a reload is repeatable.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub paths: Paths,
    pub env: EnvSnapshot,
    /// `(flag name, config path, value)` from the command line: highest precedence.
    pub flags: Vec<(String, String, Value)>,
    /// Once a file has been loaded, its disappearance is an error, never a silent
    /// fall-back to the defaults.
    pub require_file: bool,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The effective document (defaults filled in), for diffing and `config show`.
    pub effective: Value,
    /// Source of every leaf path that did not come from the defaults.
    pub sources: BTreeMap<String, Source>,
    /// SHA-256 of the main file's bytes (empty document when there is no file).
    pub hash: String,
    /// Whether the main file existed.
    pub file_exists: bool,
    /// The main file and every included file, for the watcher.
    pub files: Vec<PathBuf>,
    /// Keys the file sets that this gateway accepts and does not act on (upstream's keys it
    /// does not implement, and its own whose features have not landed), by dotted path.
    pub ignored: Vec<String>,
    /// What the operator should know about the file as written (the guide's names for
    /// upstream's settings).
    pub notes: Vec<String>,
}

impl Loaded {
    pub fn source_of(&self, path: &str) -> Source {
        self.sources.get(path).cloned().unwrap_or(Source::Default)
    }
}

/// Runs the whole pipeline; on failure returns every problem found.
pub fn load(opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let main = opts.paths.config.clone();
    let fail = |problems: Vec<Problem>| ConfigError { file: main.clone(), problems };
    let (text, file_exists) = match std::fs::read(&main) {
        Ok(bytes) => (Some(bytes), true),
        // No file where discovery looked (a missing state dir included): built-in defaults.
        Err(e)
            if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
                && !opts.paths.explicit
                && !opts.require_file =>
        {
            (None, false)
        }
        Err(e) => return Err(fail(vec![Problem::new("<root>", read_error(&main, &e, opts.require_file))])),
    };
    load_bytes(opts, text, file_exists, Check::Full)
}

/// What a client needs to find and authenticate to its gateway (`openclaw health`, ...): the
/// same pipeline as [`load`] without the JSON Schema validation (building the validator costs
/// more than the rest of a CLI command), the typed model still checking every value's type.
/// A config that needs the full pipeline (environment overrides, upstream-only keys) or does
/// not fit the model goes through [`load`]. The gateway validates what it loads, and a client
/// that reads a broken config falls back to the defaults either way.
pub fn load_for_client(opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    // Overrides are coerced to their schema types: only the full pipeline has the schema.
    if !env::overrides(&opts.env).is_empty() {
        return load(opts);
    }
    let text = match std::fs::read(&opts.paths.config) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !opts.paths.explicit => None,
        Err(_) => return load(opts),
    };
    let file_exists = text.is_some();
    load_bytes(opts, text.clone(), file_exists, Check::Client)
        .or_else(|_| load_bytes(opts, text, file_exists, Check::Full))
}

/// The pipeline on candidate file contents (what `config.set` would write), without writing.
pub fn load_candidate(opts: &LoadOptions, text: &[u8]) -> Result<Loaded, ConfigError> {
    load_bytes(opts, Some(text.to_vec()), true, Check::Full)
}

/// How much of the validation a load runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The JSON Schema too, unless the document is the defaults plus command-line flags (valid
    /// by construction: clap checks each flag's values, and a test proves the rest).
    Full,
    /// The typed model only ([`load_for_client`]).
    Client,
}

/// The `gateway run` flags ([`LoadOptions::flags`]) whose every value clap accepts is valid
/// config (`defaults_with_any_run_flag_are_valid` checks them against the schema).
const CHECKED_FLAGS: [&str; 5] = ["port", "bind", "host", "token", "log-level"];

/// Parses one file's JSON5 text (no includes, no variables): what the file itself says.
pub fn parse_file(path: &Path, text: &str) -> Result<Value, Problem> {
    parse(path, text)
}

fn load_bytes(
    opts: &LoadOptions,
    text: Option<Vec<u8>>,
    file_exists: bool,
    check: Check,
) -> Result<Loaded, ConfigError> {
    let main = opts.paths.config.clone();
    let fail = |problems: Vec<Problem>| ConfigError { file: main.clone(), problems };
    let hash = crate::sys::hex(&Sha256::digest(text.as_deref().unwrap_or_default()));

    let mut files = vec![main.clone()];
    let mut doc = match &text {
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let parsed = parse(&main, &text).map_err(|p| fail(vec![p]))?;
            let mut chain = vec![main.clone()];
            resolve_includes(parsed, &main, &mut chain, &mut files).map_err(fail)?
        }
        None => Value::Object(Map::new()),
    };

    let mut problems = Vec::new();
    substitute_vars(&mut doc, &mut Vec::new(), &opts.env, &mut problems);
    let notes = upstream::guide_name_notes(&doc);
    // Upstream's spellings first, so sources, overrides and validation see one name per key.
    problems.extend(upstream::apply_aliases(&mut doc));
    let mut ignored = upstream::inert_present(&doc);

    let mut sources = BTreeMap::new();
    for (path, _) in leaves(&doc) {
        sources.insert(path, Source::File);
    }
    let overrides = env::overrides(&opts.env);
    // Without a file or environment overrides the document is the defaults plus flags: no
    // schema needed (generating it and building its validator took about 8 ms of each start).
    let by_construction =
        text.is_none() && overrides.is_empty() && opts.flags.iter().all(|(f, ..)| CHECKED_FLAGS.contains(&f.as_str()));
    let schema = if by_construction || check == Check::Client { Value::Null } else { validate::schema_value() };
    for o in overrides {
        let value = validate::coerce(&schema, &o.path, o.value);
        set_path(&mut doc, &o.path, value.clone());
        mark(&mut sources, &o.path, &value, Source::Env(o.var));
    }
    for (flag, path, value) in &opts.flags {
        let segs: Vec<String> = path.split('.').map(str::to_string).collect();
        set_path(&mut doc, &segs, value.clone());
        mark(&mut sources, &segs, value, Source::Flag(flag.clone()));
    }

    let text = text.as_deref().map(String::from_utf8_lossy);
    // `file:line` for a problem's path, where the main file has it.
    let located = |p: Problem| {
        let loc = text.as_deref().and_then(|t| validate::locate(t, &p.path)).map(|l| format!("{}:{l}", main.display()));
        p.at(loc)
    };
    let unexpected = if schema.is_null() { Vec::new() } else { validate::unexpected_keys(&doc) };
    ignored.extend(upstream::split_upstream_only(&mut doc, &unexpected));
    ignored.sort();
    ignored.dedup();
    // A section listed whole covers its keys.
    let covered =
        |p: &String, all: &[String]| all.iter().any(|q| p.strip_prefix(q.as_str()).is_some_and(|r| r.starts_with('.')));
    let all = ignored.clone();
    ignored.retain(|p| !covered(p, &all));
    if !schema.is_null() {
        problems.extend(validate::validate(&schema, &doc).into_iter().map(located));
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    let config: Config = serde_json::from_value(doc)
        .map_err(|e| fail(vec![Problem::new("<root>", format!("does not match the config model: {e}"))]))?;
    let mut semantic: Vec<Problem> = jobs::check(&config).into_iter().map(located).collect();
    let m = &config.memory;
    if m.chunk_overlap >= m.chunk_size {
        semantic.push(located(Problem::new(
            "memory.chunkOverlap",
            format!(
                "overlap {} must be less than memory.chunkSize {} (tokens; the default overlap is 80)",
                m.chunk_overlap, m.chunk_size
            ),
        )));
    }
    if !semantic.is_empty() {
        return Err(fail(semantic));
    }
    let effective = serde_json::to_value(&config).expect("config serializes");
    Ok(Loaded { config, effective, sources, hash, file_exists, files, ignored, notes })
}

fn read_error(path: &Path, e: &std::io::Error, was_loaded: bool) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound if was_loaded => {
            format!("config file {} disappeared; keeping the running config until it is back", path.display())
        }
        std::io::ErrorKind::NotFound => format!(
            "config file {} does not exist (create it, or unset --config / OPENCLAW_CONFIG_PATH to use the defaults)",
            path.display()
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("cannot read {}: permission denied (make it readable by this user)", path.display())
        }
        _ => format!("cannot read {}: {e}", path.display()),
    }
}

/// Parses one JSON5 file through the `config` crate, keeping json5's line/column.
fn parse(path: &Path, text: &str) -> Result<Value, Problem> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    // `::config` is the layered-config crate, not this module.
    let built =
        ::config::Config::builder().add_source(::config::File::from_str(text, ::config::FileFormat::Json5)).build();
    let cfg = built.map_err(|e| syntax_problem(path, &e))?;
    cfg.try_deserialize::<Value>().map_err(|e| syntax_problem(path, &e))
}

fn syntax_problem(path: &Path, e: &config::ConfigError) -> Problem {
    let json5 = match e {
        config::ConfigError::FileParse { cause, .. } => cause.downcast_ref::<json5::Error>(),
        _ => None,
    };
    let (message, location) = match json5 {
        Some(j) => {
            // json5 nests context: the first "at line L column C" is where parsing stopped.
            let text = j.to_string();
            let (msg, rest) = text.split_once(" at line ").unwrap_or((&text, ""));
            let mut nums = rest.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
            let loc = match (nums.next(), nums.next()) {
                (Some(l), Some(c)) => format!("{}:{l}:{c}", path.display()),
                _ => path.display().to_string(),
            };
            (msg.to_string(), Some(loc))
        }
        None => (e.to_string(), Some(path.display().to_string())),
    };
    Problem::new("<root>", format!("JSON5 syntax error: {message}")).at(location)
}

/// Replaces every `$include` (a path or an array of paths, relative to the including file)
/// with the included documents deep-merged, then the sibling keys on top.
fn resolve_includes(
    value: Value,
    file: &Path,
    chain: &mut Vec<PathBuf>,
    files: &mut Vec<PathBuf>,
) -> Result<Value, Vec<Problem>> {
    match value {
        Value::Object(mut map) => {
            let include = map.remove(INCLUDE_KEY);
            let mut rest = Map::new();
            for (k, v) in map {
                rest.insert(k, resolve_includes(v, file, chain, files)?);
            }
            let Some(include) = include else { return Ok(Value::Object(rest)) };
            let targets = match include {
                Value::String(s) => vec![s],
                Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s),
                        other => Err(vec![include_problem(file, format!("entries must be paths, found {other}"))]),
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(vec![include_problem(
                        file,
                        format!("must be a path or an array of paths, found {other}"),
                    )]);
                }
            };
            let mut merged = Value::Object(Map::new());
            for t in targets {
                let target = file.parent().unwrap_or(Path::new(".")).join(&t);
                let canonical = target.canonicalize().unwrap_or_else(|_| target.clone());
                if let Some(pos) = chain.iter().position(|c| *c == canonical) {
                    let names: Vec<String> =
                        chain[pos..].iter().chain([&canonical]).map(|p| p.display().to_string()).collect();
                    return Err(vec![include_problem(file, format!("include cycle: {}", names.join(" -> ")))]);
                }
                if chain.len() > MAX_INCLUDE_DEPTH {
                    return Err(vec![include_problem(
                        file,
                        format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels at {}", target.display()),
                    )]);
                }
                let text = std::fs::read_to_string(&target).map_err(|e| {
                    vec![include_problem(file, format!("cannot read included file {}: {e}", target.display()))]
                })?;
                let parsed = parse(&target, &text).map_err(|p| vec![p])?;
                files.push(canonical.clone());
                chain.push(canonical);
                let resolved = resolve_includes(parsed, &target, chain, files)?;
                chain.pop();
                deep_merge(&mut merged, resolved);
            }
            deep_merge(&mut merged, Value::Object(rest));
            Ok(merged)
        }
        Value::Array(items) => Ok(Value::Array(
            items.into_iter().map(|v| resolve_includes(v, file, chain, files)).collect::<Result<_, _>>()?,
        )),
        other => Ok(other),
    }
}

fn include_problem(file: &Path, msg: String) -> Problem {
    Problem::new(INCLUDE_KEY, msg).at(Some(file.display().to_string()))
}

/// Objects merge by key, arrays concatenate, anything else is replaced.
pub fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => b.extend(o),
        (b, o) => *b = o,
    }
}

/// `${VAR}` in string values; `$${VAR}` is a literal `${VAR}`; lowercase names are left alone.
fn substitute_vars(value: &mut Value, path: &mut Vec<String>, env: &EnvSnapshot, problems: &mut Vec<Problem>) {
    match value {
        Value::String(s) if s.contains("${") => match expand(s, env) {
            Ok(new) => *s = new,
            Err(missing) => problems.extend(missing.into_iter().map(|var| {
                Problem::new(
                    path.join("."),
                    format!("missing env var \"{var}\" (set it, or write $${{{var}}} for a literal)"),
                )
            })),
        },
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                substitute_vars(v, path, env, problems);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                substitute_vars(v, path, env, problems);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Expands one string; returns the unset names on failure.
pub fn expand(s: &str, env: &EnvSnapshot) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(s.len());
    let mut missing = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        if let Some(after) = tail.strip_prefix("${")
            && let Some(end) = after.find('}')
            && is_var_name(&after[..end])
        {
            let name = &after[..end];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => missing.push(name.to_string()),
            }
            rest = &after[end + 1..];
            continue;
        }
        out.push('$');
        rest = &tail[1..];
    }
    out.push_str(rest);
    if missing.is_empty() { Ok(out) } else { Err(missing) }
}

fn is_var_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Sets `path` in `doc` to `value`, making objects on the way (replacing non-objects).
pub fn set_path<S: AsRef<str>>(doc: &mut Value, path: &[S], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = doc;
    for seg in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()
            .expect("object")
            .entry(seg.as_ref().to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    cur.as_object_mut().expect("object").insert(last.as_ref().to_string(), value);
}

fn mark(sources: &mut BTreeMap<String, Source>, path: &[String], value: &Value, source: Source) {
    let prefix = path.join(".");
    sources.retain(|k, _| !(k == &prefix || k.starts_with(&format!("{prefix}."))));
    for (leaf, _) in leaves(value) {
        let full = if leaf.is_empty() { prefix.clone() } else { format!("{prefix}.{leaf}") };
        sources.insert(full, source.clone());
    }
}

/// Leaf paths of a document; arrays are leaves (they are replaced as a whole).
pub fn leaves(value: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(v: &'a Value, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(child, &p, out);
                }
            }
            _ => out.push((prefix.to_string(), v)),
        }
    }
    let mut out = Vec::new();
    walk(value, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        EnvSnapshot::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    #[test]
    fn expand_substitutes_uppercase_names_and_keeps_escapes_and_lowercase() {
        let e = env(&[("TOKEN", "abc")]);
        assert_eq!(expand("x-${TOKEN}-y", &e).unwrap(), "x-abc-y");
        assert_eq!(expand("$${TOKEN}", &e).unwrap(), "${TOKEN}");
        assert_eq!(expand("${lower}", &e).unwrap(), "${lower}");
        assert_eq!(expand("cost $5", &e).unwrap(), "cost $5");
        assert_eq!(expand("${A} ${B}", &e).unwrap_err(), vec!["A".to_string(), "B".to_string()]);
    }

    /// Loads skip the schema for the defaults plus `gateway run` flags: sound only if every
    /// value clap accepts for those flags passes the schema.
    #[test]
    fn defaults_with_any_run_flag_are_valid() {
        use clap::ValueEnum;
        let schema = validate::schema_value();
        let seg = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        let mut docs = Vec::new();
        for port in [0u32, 1, 18789, 65535] {
            for bind in super::super::model::BindMode::value_variants() {
                for level in super::super::model::LogLevel::value_variants() {
                    let mut doc = Value::Object(Map::new());
                    set_path(&mut doc, &seg("gateway.port"), serde_json::json!(port));
                    set_path(&mut doc, &seg("gateway.bind"), serde_json::to_value(bind).unwrap());
                    set_path(&mut doc, &seg("logging.level"), serde_json::json!(level.as_str()));
                    docs.push(doc);
                }
            }
        }
        for text in ["", "h", "127.0.0.1", "::1", " odd  value "] {
            let mut doc = Value::Object(Map::new());
            set_path(&mut doc, &seg("gateway.host"), serde_json::json!(text));
            set_path(&mut doc, &seg("gateway.auth.token"), serde_json::json!(text));
            docs.push(doc);
        }
        docs.push(Value::Object(Map::new()));
        for doc in docs {
            assert_eq!(validate::validate(&schema, &doc), Vec::new(), "{doc}");
            assert!(validate::unexpected_keys(&doc).is_empty(), "{doc}");
        }
        assert_eq!(CHECKED_FLAGS.len(), 5, "a new run flag needs its values checked above");
    }

    #[test]
    fn deep_merge_merges_objects_concatenates_arrays_replaces_scalars() {
        let mut a = serde_json::json!({"g": {"port": 1, "x": [1]}, "k": "a"});
        deep_merge(&mut a, serde_json::json!({"g": {"port": 2, "x": [2]}, "k": "b"}));
        assert_eq!(a, serde_json::json!({"g": {"port": 2, "x": [1, 2]}, "k": "b"}));
    }
}
