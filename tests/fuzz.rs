//! Fuzz targets (proptest, so they run on stable in the normal test command) for what the
//! gateway parses from outside: request frames and connect params, the config loader (JSON5,
//! `$include`, `${VAR}`, env overrides), the device-signature payload, cron schedules, the
//! `POST /rpc` body and models.json.
//!
//! Each target feeds arbitrary input and damaged valid input (never a panic; a refusal is the
//! typed error and names the problem) and structure-aware input built from the format's grammar
//! (valid input parses to what was generated; a single planted fault gives the error for that
//! fault). The test command runs a bounded pass; `OPENCLAW_FUZZ_SCALE=N` runs N times as many
//! cases (docs/fuzzing.md). Every crash found is a regression test at the end of this file.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use openclaw::agents::models::{self, OPENAI_COMPLETIONS, TargetError};
use openclaw::auth::device::{self, DeviceError, Identity, MAX_SKEW_MS};
use openclaw::config::env::{self as config_env, EnvSnapshot};
use openclaw::config::model::{Schedule, ScheduleSpec};
use openclaw::config::schedule::{self, Sched, ScheduleError};
use openclaw::config::{LoadOptions, Loaded, Paths, Source, load, validate};
use openclaw::protocol::connect::{self, CLIENT_IDS, CLIENT_MODES, ConnectError, ConnectParams, Credentials, Role};
use openclaw::protocol::frames::{Request, TextError, parse_request, request_from_text, request_text};
use openclaw::protocol::methods::METHODS;
use openclaw::protocol::{ErrorCode, PROTOCOL_VERSION};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::{BoxedStrategy, Union};
use proptest::test_runner::{Config as RunnerConfig, RngSeed, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

// ------------------------------------------------------------------------------------------
// Harness
// ------------------------------------------------------------------------------------------

/// Multiplies every target's case count (and its deadline): the long run's knob.
const SCALE_VAR: &str = "OPENCLAW_FUZZ_SCALE";
/// Longest one target may take at scale 1 before it counts as a hang: generous, because CI
/// runs four test threads on two cores in a debug build.
const DEADLINE: Duration = Duration::from_secs(120);
/// Bound on shrinking a failure, so a found crash is reported in reasonable time.
const SHRINK_MS: u32 = 60_000;

fn scale() -> u32 {
    std::env::var(SCALE_VAR).ok().and_then(|s| s.trim().parse().ok()).filter(|n| *n >= 1).unwrap_or(1)
}

/// Runs `cases` (times the scale) generated inputs through `test` on a thread of its own, so a
/// hang fails the test at the deadline, naming the input it hung on, instead of stalling CI.
/// The strategy is built on that thread (proptest's boxed strategies are not `Send`).
fn fuzz<S, F, T>(name: &str, cases: u32, strategy: F, test: T)
where
    S: Strategy + 'static,
    S::Value: Debug,
    F: FnOnce() -> S + Send + 'static,
    T: Fn(S::Value) -> Result<(), TestCaseError> + Send + 'static,
{
    let cases = cases * scale();
    let deadline = DEADLINE * scale();
    // proptest's own random seed is not shown on failure: one chosen here is, so a failure can
    // be rerun with PROPTEST_RNG_SEED (which, when set, proptest's default config carries).
    let seed = match RunnerConfig::default().rng_seed {
        RngSeed::Fixed(s) => s,
        RngSeed::Random => {
            std::hash::BuildHasher::build_hasher(&std::collections::hash_map::RandomState::new()).finish()
        }
    };
    let current = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let seen = current.clone();
    std::thread::Builder::new()
        .name(format!("fuzz {name}"))
        // Generated documents nest; debug builds need more than the default 2 MiB.
        .stack_size(16 << 20)
        .spawn(move || {
            let config = RunnerConfig {
                cases,
                // Found crashes become regression tests in this file, not files beside it.
                failure_persistence: None,
                max_shrink_time: SHRINK_MS,
                max_global_rejects: cases * 4,
                rng_seed: RngSeed::Fixed(seed),
                ..RunnerConfig::default()
            };
            let strategy = strategy();
            let started = Instant::now();
            let outcome = TestRunner::new(config).run(&strategy, |input| {
                *seen.lock().unwrap_or_else(|p| p.into_inner()) = format!("{input:?}");
                test(input)
            });
            let _ = tx.send((outcome.map_err(|e| e.to_string()), started.elapsed()));
        })
        .expect("spawn the fuzz thread");
    match rx.recv_timeout(deadline) {
        Ok((Ok(()), took)) => eprintln!("fuzz {name}: {cases} cases in {:.2} s, no failure", took.as_secs_f64()),
        Ok((Err(failure), _)) => panic!("fuzz {name} (PROPTEST_RNG_SEED={seed}): {failure}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("fuzz {name}: the strategy panicked (see above)"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let input = current.lock().unwrap_or_else(|p| p.into_inner()).clone();
            panic!(
                "fuzz {name} (PROPTEST_RNG_SEED={seed}): no result within {deadline:?} (a hang?); the input being run: {input}"
            )
        }
    }
}

/// Strings a parser finds interesting: separators of the formats fuzzed here, escapes, empty.
const SPECIAL_STRINGS: &[&str] = &[
    "",
    " ",
    "$",
    "${",
    "${}",
    "$${X}",
    "${lower}",
    "}",
    "|",
    ":",
    "::",
    "/",
    ",",
    "\\",
    "\"",
    "'",
    "\u{0}",
    "\n",
    "é",
    "\u{2028}",
    "secret:",
    "device:",
    "device::",
    "v2|",
    "-----BEGIN PUBLIC KEY-----",
    "null",
    "true",
    "1e999",
    "-0",
    "0x10",
    "NaN",
];

fn text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => "[a-zA-Z0-9_.:/ -]{0,12}",
        2 => select(SPECIAL_STRINGS).prop_map(str::to_string),
        2 => any::<String>(),
    ]
}

fn non_empty_text() -> impl Strategy<Value = String> + Clone {
    text().prop_filter("non-empty", |s| !s.is_empty())
}

/// An arbitrary JSON value whose object keys are mostly `keys` (so the parser gets past its
/// "unknown key" check) and sometimes anything.
fn json_with_keys(keys: &'static [&'static str]) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-5i64..10).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        text().prop_map(Value::String),
    ];
    let key = if keys.is_empty() {
        text().boxed()
    } else {
        prop_oneof![3 => select(keys).prop_map(str::to_string), 1 => text()].boxed()
    };
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key.clone(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

fn json_any() -> BoxedStrategy<Value> {
    json_with_keys(&[])
}

/// Byte-level damage to a valid text, as a fuzzer's mutator does: the parser sees input that is
/// valid up to a point, so it gets deep before it fails.
fn damaged(valid: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    const INTERESTING: &[u8] = b"{}[]\"':,\\/*\n$-+.0123456789eE \x00\xff";
    let byte = prop_oneof![select(INTERESTING), any::<u8>()];
    (valid, vec((any::<Index>(), 0u8..4, byte), 1..4)).prop_map(|(text, edits)| {
        let mut b = text.into_bytes();
        for (at, op, byte) in edits {
            let i = if b.is_empty() { 0 } else { at.index(b.len()) };
            match op {
                0 if !b.is_empty() => {
                    b.remove(i);
                }
                1 => b.insert(i, byte),
                2 if !b.is_empty() => b[i] = byte,
                _ => b.truncate(i),
            }
        }
        b
    })
}

/// Input bytes: arbitrary, or a damaged rendering of structured input.
fn bytes_around(valid: BoxedStrategy<String>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..256),
        1 => valid.clone().prop_map(String::into_bytes),
        3 => damaged(valid),
    ]
    .boxed()
}

/// Fails the case unless `message` contains `needle`, showing both.
fn contains(message: &str, needle: &str) -> Result<(), TestCaseError> {
    prop_assert!(message.contains(needle), "expected {needle:?} in {message:?}");
    Ok(())
}

/// The served methods' names, so generated calls reach each method's own checks.
fn method_names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

// ------------------------------------------------------------------------------------------
// Request frames
// ------------------------------------------------------------------------------------------

const FRAME_KEYS: &[&str] = &["type", "id", "method", "params"];
const FRAME_PREFIX: &str = "invalid request frame: ";

/// What any frame text may do: not JSON is the session's own answer; JSON gives a request that
/// is exactly the frame's fields, or an error that says why and keeps the frame's id. The
/// reader of the text alone accepts nothing the tree's refuses, and reads it the same.
fn check_frame_text(text: &str) -> Result<(), TestCaseError> {
    let fast = request_from_text(text);
    let read = request_text(text);
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        prop_assert_eq!(fast, None);
        prop_assert!(matches!(read, Err(TextError::NotJson(_))), "{:?}", read);
        return Ok(());
    };
    let tree = parse_request(&v);
    if let Some(r) = fast {
        prop_assert_eq!(Ok(&r), tree.as_ref(), "{}", text);
    }
    match (read, &tree) {
        (Ok(a), Ok(b)) => prop_assert_eq!(&a, b),
        (Err(TextError::Frame(a)), Err(b)) => prop_assert_eq!(&a, b),
        (a, b) => prop_assert!(false, "read {:?}, the tree {:?}", a, b),
    }
    match tree {
        Ok(r) => {
            let o = v.as_object().expect("a request came from an object");
            prop_assert!(o.keys().all(|k| FRAME_KEYS.contains(&k.as_str())));
            prop_assert_eq!(o.get("type"), Some(&json!("req")));
            prop_assert_eq!(o.get("id").and_then(Value::as_str), Some(r.id.as_str()));
            prop_assert_eq!(o.get("method").and_then(Value::as_str), Some(r.method.as_str()));
            prop_assert!(!r.id.is_empty() && !r.method.is_empty());
            prop_assert_eq!(&r.params, o.get("params").unwrap_or(&Value::Null));
        }
        Err(e) => {
            prop_assert!(e.message.len() > FRAME_PREFIX.len() && e.message.starts_with(FRAME_PREFIX), "{e:?}");
            let id = v.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
            prop_assert_eq!(e.id.as_deref(), id);
        }
    }
    Ok(())
}

/// One thing wrong with an otherwise valid frame.
#[derive(Debug, Clone)]
enum FrameFault {
    None,
    Missing(&'static str),
    /// A value for `type`, `id` or `method` that is not what it must be.
    Wrong(&'static str, Value),
    Extra(String, Value),
}

fn frame_case() -> impl Strategy<Value = (Request, bool, FrameFault)> {
    let request = (non_empty_text(), prop_oneof![select(method_names()).prop_map(str::to_string), non_empty_text()])
        .prop_flat_map(|(id, method)| {
            (Just(id), Just(method), prop_oneof![Just(Value::Null), json_any()])
                .prop_map(|(id, method, params)| Request { id, method, params })
        });
    let not_string = json_any().prop_filter("not a non-empty string", |v| v.as_str().is_none_or(str::is_empty));
    let fault = prop_oneof![
        4 => Just(FrameFault::None),
        1 => select(&["type", "id", "method"][..]).prop_map(FrameFault::Missing),
        1 => json_any().prop_filter("not req", |v| v != "req").prop_map(|v| FrameFault::Wrong("type", v)),
        1 => not_string.clone().prop_map(|v| FrameFault::Wrong("id", v)),
        1 => not_string.prop_map(|v| FrameFault::Wrong("method", v)),
        1 => (text().prop_filter("unknown", |k| !FRAME_KEYS.contains(&k.as_str())), json_any())
            .prop_map(|(k, v)| FrameFault::Extra(k, v)),
    ];
    (request, any::<bool>(), fault)
}

fn check_frame_case((req, params_key, fault): (Request, bool, FrameFault)) -> Result<(), TestCaseError> {
    let mut frame = json!({"type": "req", "id": req.id, "method": req.method});
    // `params: null` and no `params` are the same request.
    if params_key || !req.params.is_null() {
        frame["params"] = req.params.clone();
    }
    let expected = match &fault {
        FrameFault::None => None,
        FrameFault::Missing(k) => {
            frame.as_object_mut().expect("object").remove(*k);
            Some(format!("must have required property '{k}'"))
        }
        FrameFault::Wrong(k, v) => {
            frame[*k] = v.clone();
            Some(match *k {
                "type" => "type must be \"req\"".to_string(),
                k => format!("at /{k}: must be a non-empty string"),
            })
        }
        FrameFault::Extra(k, v) => {
            frame[k.as_str()] = v.clone();
            Some(format!("must NOT have additional properties ({k:?})"))
        }
    };
    let text = frame.to_string();
    check_frame_text(&text)?;
    let parsed = parse_request(&serde_json::from_str(&text).expect("serde_json reads its own output"));
    match (expected, parsed) {
        (None, Ok(r)) => {
            prop_assert_eq!(request_from_text(&text), Some(r.clone()), "a plain valid frame is read from its text");
            prop_assert_eq!(r, req)
        }
        (None, Err(e)) => prop_assert!(false, "a valid frame was refused: {e:?}"),
        (Some(m), Ok(r)) => prop_assert!(false, "{fault:?} was accepted as {r:?}, expected {m:?}"),
        (Some(m), Err(e)) => {
            // A wrong id also says what was found.
            prop_assert!(e.message.starts_with(&format!("{FRAME_PREFIX}{m}")), "{:?} for {:?}", e.message, fault);
            if !matches!(fault, FrameFault::Missing("id") | FrameFault::Wrong("id", _)) {
                prop_assert_eq!(e.id, Some(req.id));
            }
        }
    }
    Ok(())
}

fn frame_text() -> BoxedStrategy<String> {
    frame_case()
        .prop_map(|(r, _, _)| json!({"type": "req", "id": r.id, "method": r.method, "params": r.params}).to_string())
        .boxed()
}

#[test]
fn fuzz_request_frames_from_arbitrary_and_damaged_text() {
    fuzz("frames/bytes", 1500, || bytes_around(frame_text()), |b| check_frame_text(&String::from_utf8_lossy(&b)));
}

#[test]
fn fuzz_request_frames_generated_parse_to_what_was_generated_or_name_the_fault() {
    fuzz("frames/structured", 1000, frame_case, check_frame_case);
}

// ------------------------------------------------------------------------------------------
// Connect params
// ------------------------------------------------------------------------------------------

const CONNECT_KEYS: &[&str] = &[
    "minProtocol",
    "maxProtocol",
    "client",
    "role",
    "scopes",
    "caps",
    "commands",
    "permissions",
    "pathEnv",
    "locale",
    "userAgent",
    "auth",
    "device",
    "id",
    "displayName",
    "version",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "mode",
    "instanceId",
    "token",
    "password",
    "publicKey",
    "signature",
    "signedAt",
    "nonce",
];
const CONNECT_PREFIX: &str = "invalid connect params: ";

/// Any params: parsed, or refused with one of the three typed errors; `Invalid` names a path.
fn check_connect_value(v: &Value) -> Result<(), TestCaseError> {
    match connect::parse(v) {
        Ok(p) => {
            prop_assert!(CLIENT_IDS.contains(&p.client.id.as_str()) && CLIENT_MODES.contains(&p.client.mode.as_str()));
            let (min, max) = (v["minProtocol"].as_u64(), v["maxProtocol"].as_u64());
            prop_assert!(min.is_some_and(|m| m <= PROTOCOL_VERSION) && max.is_some_and(|m| m >= PROTOCOL_VERSION));
        }
        Err(ConnectError::Invalid(m)) => {
            prop_assert!(m.starts_with(CONNECT_PREFIX) && m.len() > CONNECT_PREFIX.len(), "{m:?}")
        }
        Err(ConnectError::ProtocolMismatch | ConnectError::InvalidRole) => {}
    }
    Ok(())
}

/// A valid connect: the JSON a client sends and what it must parse to.
fn connect_valid() -> impl Strategy<Value = (Value, ConnectParams)> {
    let opt = || proptest::option::of(text());
    let client = (select(&CLIENT_IDS[..]), select(&CLIENT_MODES[..]), text(), text(), opt(), opt(), opt(), opt());
    let auth = prop_oneof![
        Just((Value::Null, Credentials::default())),
        text().prop_map(|t| (json!(format!("secret:{t}")), Credentials { token: Some(t), ..Default::default() })),
        ("[^:]{0,8}", text()).prop_map(|(id, t)| (
            json!(format!("device:{id}:{t}")),
            Credentials { device_token: Some((id, t)), ..Default::default() }
        )),
        (opt(), opt()).prop_map(|(token, password)| (
            json!({"token": token, "password": password}),
            Credentials { token, password, device_token: None }
        )),
    ];
    let device = proptest::option::of((text(), text(), text(), any::<i64>(), opt()));
    let lists = (proptest::option::of(vec(text(), 0..4)), proptest::option::of(vec(text(), 0..4)));
    let rest = (opt(), opt(), proptest::option::of(select(&[Role::Operator, Role::Node][..])), json_any());
    (1u64..=PROTOCOL_VERSION, PROTOCOL_VERSION..7, client, auth, device, lists, rest).prop_map(
        |(min, max, client, (auth_json, auth), device, (scopes, caps), (locale, user_agent, role, extra))| {
            let (id, mode, version, platform, display_name, device_family, model_identifier, instance_id) = client;
            let info = connect::ClientInfo {
                id: id.to_string(),
                display_name,
                version,
                platform,
                device_family,
                model_identifier,
                mode: mode.to_string(),
                instance_id,
            };
            let device = device.map(|(id, public_key, signature, signed_at, nonce)| connect::DeviceProof {
                id,
                public_key,
                signature,
                signed_at,
                nonce,
            });
            let mut v = json!({
                "minProtocol": min, "maxProtocol": max,
                "client": {"id": info.id, "version": info.version, "platform": info.platform, "mode": info.mode,
                           "displayName": info.display_name, "deviceFamily": info.device_family,
                           "modelIdentifier": info.model_identifier, "instanceId": info.instance_id},
                "scopes": scopes, "caps": caps, "locale": locale, "userAgent": user_agent,
                "role": role.map(Role::as_str), "auth": auth_json,
                // Accepted and not read: any value.
                "commands": extra.clone(), "permissions": extra, "pathEnv": "/usr/bin",
            });
            if let Some(d) = &device {
                v["device"] = d.to_json();
            }
            let params = ConnectParams {
                client: info,
                role: role.unwrap_or(Role::Operator),
                scopes,
                auth,
                device,
                caps: caps.unwrap_or_default(),
                locale,
                user_agent,
            };
            (v, params)
        },
    )
}

/// One fault planted in valid connect params: where, what value (`None` removes the key), and
/// the error it must give.
#[derive(Debug, Clone)]
struct ConnectFault {
    path: Vec<String>,
    value: Option<Value>,
    expected: Expect,
}

#[derive(Debug, Clone)]
enum Expect {
    Invalid(&'static str),
    Mismatch,
    Role,
}

fn connect_fault() -> impl Strategy<Value = Option<ConnectFault>> {
    let f = |path: &[&str], value: Option<Value>, expected| ConnectFault {
        path: path.iter().map(|p| p.to_string()).collect(),
        value,
        expected,
    };
    let not_u64 = prop_oneof![Just(json!(0)), Just(json!(-1)), Just(json!("3")), Just(json!(3.5)), json_any()]
        .prop_filter("not an integer >= 1", |v| v.as_u64().is_none_or(|n| n == 0));
    let not_string = json_any().prop_filter("not a string", |v| !v.is_string() && !v.is_null());
    let not_array = json_any().prop_filter("not an array", |v| !v.is_array() && !v.is_null());
    let not_object = json_any().prop_filter("not an object", |v| !v.is_object() && !v.is_null());
    let unknown = |allowed: &'static [&'static str]| {
        text()
            .prop_filter("unknown key", move |k| !allowed.contains(&k.as_str()) && !CONNECT_KEYS.contains(&k.as_str()))
    };
    prop_oneof![
        6 => Just(None),
        1 => select(&["minProtocol", "maxProtocol"][..]).prop_flat_map(move |k| not_u64.clone().prop_map(move |v| {
            let expected = if k == "minProtocol" { "at /minProtocol: must be integer >= 1" } else { "at /maxProtocol: must be integer >= 1" };
            Some(f(if k == "minProtocol" { &["minProtocol"] } else { &["maxProtocol"] }, Some(v), Expect::Invalid(expected)))
        })),
        1 => Just(Some(f(&["minProtocol"], None, Expect::Invalid("must have required property 'minProtocol'")))),
        1 => Just(Some(f(&["client"], None, Expect::Invalid("must have required property 'client'")))),
        1 => not_object.clone().prop_map(move |v| Some(f(&["client"], Some(v), Expect::Invalid("at /client: must be object")))),
        1 => text().prop_filter("not a client id", |s| !CLIENT_IDS.contains(&s.as_str())).prop_map(move |v|
            Some(f(&["client", "id"], Some(json!(v)), Expect::Invalid("at /client/id: must be equal to one of the allowed values")))),
        1 => text().prop_filter("not a mode", |s| !CLIENT_MODES.contains(&s.as_str())).prop_map(move |v|
            Some(f(&["client", "mode"], Some(json!(v)), Expect::Invalid("at /client/mode: must be equal to one of the allowed values")))),
        1 => Just(Some(f(&["client", "version"], None, Expect::Invalid("at /client: must have required property 'version'")))),
        1 => not_string.clone().prop_map(move |v| Some(f(&["client", "platform"], Some(v), Expect::Invalid("at /client/platform: must be string")))),
        1 => not_string.clone().prop_map(move |v| Some(f(&["locale"], Some(v), Expect::Invalid("at /locale: must be string")))),
        1 => not_string.clone().prop_map(move |v| Some(f(&["role"], Some(v), Expect::Invalid("at /role: must be string")))),
        1 => not_array.clone().prop_map(move |v| Some(f(&["scopes"], Some(v), Expect::Invalid("at /scopes: must be array")))),
        1 => not_string.clone().prop_map(move |v| Some(f(&["caps"], Some(json!(["ok", v])), Expect::Invalid("at /caps: must be array of strings")))),
        1 => unknown(&[]).prop_map(move |k| Some(f(&[k.as_str()], Some(json!(1)), Expect::Invalid("at /: must NOT have additional properties")))),
        1 => "[^sd][^:]{0,8}".prop_map(move |s| Some(f(&["auth"], Some(json!(s)), Expect::Invalid("at /auth: a string must be")))),
        1 => "[^:]{0,8}".prop_map(move |s| Some(f(&["auth"], Some(json!(format!("device:{s}"))), Expect::Invalid("at /auth: expected \"device:<deviceId>:<token>\"")))),
        1 => json_any().prop_filter("not string/object", |v| !v.is_string() && !v.is_object() && !v.is_null())
            .prop_map(move |v| Some(f(&["auth"], Some(v), Expect::Invalid("at /auth: must be object")))),
        1 => not_object.prop_map(move |v| Some(f(&["device"], Some(v), Expect::Invalid("at /device: must be object")))),
        1 => Just(Some(f(&["device", "signedAt"], None, Expect::Invalid("at /device: must have required property 'signedAt'")))),
        1 => json_any().prop_filter("not i64", |v| v.as_i64().is_none()).prop_map(move |v|
            Some(f(&["device", "signedAt"], Some(v), Expect::Invalid("at /device/signedAt: must be integer")))),
        1 => not_string.prop_map(move |v| Some(f(&["device", "publicKey"], Some(v), Expect::Invalid("at /device/publicKey: must be string")))),
        1 => (1u64..10, 1u64..10).prop_filter("window without 3", |(a, b)| *b < PROTOCOL_VERSION || *a > PROTOCOL_VERSION)
            .prop_map(move |(a, b)| Some(f(&[], Some(json!([a, b])), Expect::Mismatch))),
        1 => text().prop_filter("not a role", |r| r != "operator" && r != "node")
            .prop_map(move |r| Some(f(&["role"], Some(json!(r)), Expect::Role))),
    ]
}

fn check_connect_case(
    ((mut v, params), fault): ((Value, ConnectParams), Option<ConnectFault>),
) -> Result<(), TestCaseError> {
    let Some(fault) = fault else {
        check_connect_value(&v)?;
        prop_assert_eq!(connect::parse(&v), Ok(params));
        return Ok(());
    };
    match (fault.path.as_slice(), &fault.value) {
        // The protocol window: both ends at once.
        ([], Some(Value::Array(w))) => {
            v["minProtocol"] = w[0].clone();
            v["maxProtocol"] = w[1].clone();
        }
        (path, value) => {
            let (last, parents) = path.split_last().expect("a path");
            if parents.first().is_some_and(|p| *p == "device") && v["device"].is_null() {
                v["device"] = json!({"id": "d", "publicKey": "k", "signature": "s", "signedAt": 0});
            }
            let mut at = &mut v;
            for p in parents {
                at = &mut at[p.as_str()];
            }
            let obj = at.as_object_mut().expect("fault paths lead to objects");
            match value {
                Some(x) => obj.insert(last.clone(), x.clone()),
                None => obj.remove(last),
            };
        }
    }
    check_connect_value(&v)?;
    let got = connect::parse(&v);
    match (&fault.expected, got) {
        (Expect::Invalid(m), Err(ConnectError::Invalid(msg))) => contains(&msg, &format!("{CONNECT_PREFIX}{m}"))?,
        (Expect::Mismatch, Err(ConnectError::ProtocolMismatch)) | (Expect::Role, Err(ConnectError::InvalidRole)) => {}
        (want, got) => prop_assert!(false, "{v}: expected {want:?}, got {got:?}"),
    }
    Ok(())
}

#[test]
fn fuzz_connect_params_arbitrary_values() {
    fuzz("connect/values", 3000, || json_with_keys(CONNECT_KEYS), |v| check_connect_value(&v));
}

#[test]
fn fuzz_connect_params_generated_parse_to_what_was_generated_or_name_the_fault() {
    fuzz("connect/structured", 1500, || (connect_valid(), connect_fault()), check_connect_case);
}

// ------------------------------------------------------------------------------------------
// Device signature payload
// ------------------------------------------------------------------------------------------

fn identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(Identity::generate)
}

/// What is changed between signing and verifying.
#[derive(Debug, Clone)]
enum Tamper {
    None,
    Token(String),
    Challenge(String),
    Id(String),
    /// Replaces the signature's character at this place.
    Signature(Index, char),
    Scopes(Option<Vec<String>>),
    Role,
    Now(i64),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        3 => Just(Tamper::None),
        1 => text().prop_map(Tamper::Token),
        1 => text().prop_map(Tamper::Challenge),
        1 => prop_oneof!["[0-9a-f]{64}", text()].prop_map(Tamper::Id),
        1 => (any::<Index>(), prop_oneof![select(&['A', '-', '_', '=', 'é', '0'][..]), any::<char>()])
            .prop_map(|(i, c)| Tamper::Signature(i, c)),
        1 => proptest::option::of(vec(text(), 0..3)).prop_map(Tamper::Scopes),
        1 => Just(Tamper::Role),
        1 => any::<i64>().prop_map(Tamper::Now),
    ]
}

type DeviceCase = (ConnectParams, String, Option<String>, i64, i64, bool, Tamper);

fn device_case() -> impl Strategy<Value = DeviceCase> {
    let signed_at = prop_oneof![any::<i64>(), 0i64..4_102_444_800_000];
    (
        connect_valid().prop_map(|(_, p)| p),
        text(),
        proptest::option::of(text()),
        signed_at,
        -MAX_SKEW_MS..=MAX_SKEW_MS,
        any::<bool>(),
        tamper(),
    )
}

/// A proof signed by a real key verifies; each change after signing gives its own error.
fn check_device_case((params, token, nonce, signed_at, skew, local, tamper): DeviceCase) -> Result<(), TestCaseError> {
    let mut p = params;
    p.device = None;
    let d = identity().prove(&p, &token, nonce.as_deref(), signed_at);
    let payload = device::payload(&p, &d, &token, nonce.as_deref());
    let (version, tail) = match &nonce {
        Some(n) => ("v2|", format!("|{token}|{n}")),
        None => ("v1|", format!("|{token}")),
    };
    prop_assert!(payload.starts_with(version) && payload.ends_with(&tail), "{payload:?}");

    let challenge = nonce.clone().unwrap_or_else(|| "challenge".into());
    let mut now = signed_at.saturating_add(skew);
    let (mut vp, mut vd, mut vtoken, mut vchallenge) = (p.clone(), d.clone(), token.clone(), challenge.clone());
    let baseline = match (&nonce, local) {
        (Some(_), _) | (None, true) => Ok(()),
        (None, false) => Err(DeviceError::NonceRequired),
    };
    // The signature no longer covers what is verified: refused once the earlier checks pass.
    let unsigned = || baseline.clone().and(Err(DeviceError::Invalid));
    let expected = match tamper {
        Tamper::None => baseline.clone(),
        Tamper::Token(t) => {
            let changed = t != token;
            vtoken = t;
            if changed { unsigned() } else { baseline.clone() }
        }
        Tamper::Challenge(c) => {
            let mismatch = nonce.as_ref().is_some_and(|n| *n != c);
            vchallenge = c;
            if mismatch { Err(DeviceError::NonceMismatch) } else { baseline.clone() }
        }
        Tamper::Id(id) => {
            let same = id.to_ascii_lowercase() == d.id;
            vd.id = id;
            // Same id in another case: the key matches, but the payload signed the original.
            if same { if vd.id == d.id { baseline.clone() } else { unsigned() } } else { Err(DeviceError::IdMismatch) }
        }
        Tamper::Signature(at, c) => {
            let mut chars: Vec<char> = d.signature.chars().collect();
            let i = at.index(chars.len());
            let changed = chars[i] != c;
            chars[i] = c;
            vd.signature = chars.into_iter().collect();
            if changed { unsigned() } else { baseline.clone() }
        }
        Tamper::Scopes(s) => {
            let changed =
                s.as_deref().unwrap_or_default().join(",") != p.scopes.as_deref().unwrap_or_default().join(",");
            vp.scopes = s;
            if changed { unsigned() } else { baseline.clone() }
        }
        Tamper::Role => {
            vp.role = if p.role == Role::Node { Role::Operator } else { Role::Node };
            unsigned()
        }
        Tamper::Now(n) => {
            now = n;
            if (i128::from(n) - i128::from(signed_at)).abs() > i128::from(MAX_SKEW_MS) {
                Err(DeviceError::Expired)
            } else {
                baseline.clone()
            }
        }
    };
    let got = device::verify(&vp, &vd, &vtoken, &vchallenge, now, local);
    prop_assert_eq!(got, expected);
    Ok(())
}

/// Public keys a client might send: this key in both forms, damaged forms, anything.
fn public_key_text() -> impl Strategy<Value = String> {
    let b64 = identity().public_b64();
    let pem = String::from_utf8(
        openssl::pkey::PKey::public_key_from_raw_bytes(&identity().public_raw(), openssl::pkey::Id::ED25519)
            .and_then(|k| k.public_key_to_pem())
            .expect("pem"),
    )
    .expect("utf8 pem");
    prop_oneof![
        Just(b64.clone()),
        Just(format!("{b64}==")),
        Just(pem.clone()),
        damaged(Just(b64)).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        damaged(Just(pem)).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        text().prop_map(|t| format!("-----BEGIN PUBLIC KEY-----\n{t}\n-----END PUBLIC KEY-----\n")),
        text(),
    ]
}

#[test]
fn fuzz_device_signature_signed_proofs_verify_and_every_change_is_refused() {
    fuzz("device/signed", 1000, device_case, check_device_case);
}

#[test]
fn fuzz_device_signature_arbitrary_proofs_are_refused_without_panic() {
    let strategy = || {
        let proof = (
            prop_oneof![Just(identity().id()), text()],
            public_key_text(),
            text(),
            any::<i64>(),
            proptest::option::of(text()),
        );
        (connect_valid().prop_map(|(_, p)| p), proof, text(), text(), any::<i64>(), any::<bool>())
    };
    fuzz(
        "device/arbitrary",
        1000,
        strategy,
        |(p, (id, public_key, signature, signed_at, nonce), token, challenge, now, local)| {
            let _ = device::raw_public_key(&public_key);
            let d = connect::DeviceProof { id, public_key, signature, signed_at, nonce };
            prop_assert!(device::verify(&p, &d, &token, &challenge, now, local).is_err());
            Ok(())
        },
    );
}

// ------------------------------------------------------------------------------------------
// Cron schedules
// ------------------------------------------------------------------------------------------

/// One cron field's grammar: its range and names.
#[derive(Debug, Clone, Copy)]
struct Field {
    lo: u32,
    hi: u32,
    names: &'static [&'static str],
    /// Whether `?` is allowed (day of month, day of week).
    any: bool,
}

const SECONDS: Field = Field { lo: 0, hi: 59, names: &[], any: false };
const MINUTES: Field = SECONDS;
const HOURS: Field = Field { lo: 0, hi: 23, names: &[], any: false };
const DAYS: Field = Field { lo: 1, hi: 31, names: &[], any: true };
const MONTHS: Field = Field {
    lo: 1,
    hi: 12,
    names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    any: false,
};
const WEEKDAYS: Field = Field { lo: 1, hi: 7, names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], any: true };

/// A field that the grammar allows: `*`, `?`, points, ranges, steps, names and lists of them.
fn cron_field(f: Field) -> BoxedStrategy<String> {
    let n = f.lo..=f.hi;
    let step = 1..=f.hi.max(1);
    let sorted = |(a, b): (u32, u32)| (a.min(b), a.max(b));
    let mut atoms: Vec<BoxedStrategy<String>> = vec![
        Just("*".to_string()).boxed(),
        n.clone().prop_map(|x| x.to_string()).boxed(),
        (n.clone(), n.clone()).prop_map(sorted).prop_map(|(a, b)| format!("{a}-{b}")).boxed(),
        step.clone().prop_map(|s| format!("*/{s}")).boxed(),
        (n.clone(), step.clone()).prop_map(|(a, s)| format!("{a}/{s}")).boxed(),
        (n.clone(), n, step)
            .prop_map(move |(a, b, s)| {
                let (a, b) = sorted((a, b));
                format!("{a}-{b}/{s}")
            })
            .boxed(),
    ];
    if !f.names.is_empty() {
        let names = f.names;
        atoms.push(select(names).prop_map(str::to_string).boxed());
        atoms.push(
            (any::<Index>(), any::<Index>())
                .prop_map(move |(a, b)| {
                    let (a, b) = sorted((a.index(names.len()) as u32, b.index(names.len()) as u32));
                    format!("{}-{}", names[a as usize], names[b as usize])
                })
                .boxed(),
        );
    }
    let list = vec(Union::new(atoms), 1..3).prop_map(|v| v.join(","));
    if f.any { prop_oneof![1 => Just("?".to_string()), 6 => list].boxed() } else { list.boxed() }
}

/// A field the grammar does not allow (out of range, step 0, reversed range, junk), or any text.
fn bad_cron_field(f: Field) -> BoxedStrategy<String> {
    prop_oneof![
        (f.hi + 1..f.hi + 100).prop_map(|x| x.to_string()),
        Just("*/0".to_string()),
        (f.lo + 1..=f.hi).prop_map(move |b| format!("{b}-{}", b - 1)),
        (f.hi + 1..1000).prop_map(|s| format!("*/{s}")),
        Just("L".to_string()),
        Just("1,,2".to_string()),
        Just("-".to_string()),
        Just("99999999999".to_string()),
        "[A-Za-z*/?,0-9-]{1,6}",
    ]
    .boxed()
}

const TIME_ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "America/St_Johns",
];

/// A cron expression with its time zone; `valid` when every field came from the grammar.
fn cron_case() -> impl Strategy<Value = (String, Option<String>, bool)> {
    let fields = [SECONDS, MINUTES, HOURS, DAYS, MONTHS, WEEKDAYS];
    let field = move |i: usize| prop_oneof![6 => cron_field(fields[i]).prop_map(|f| (f, true)), 1 => bad_cron_field(fields[i]).prop_map(|f| (f, false))];
    let all = (field(0), field(1), field(2), field(3), field(4), field(5));
    let tz = prop_oneof![2 => Just(None), 4 => select(TIME_ZONES).prop_map(|t| Some(t.to_string())), 1 => text().prop_map(Some)];
    (all, any::<bool>(), tz, "[ \t]{0,2}").prop_map(|(f, six, tz, pad)| {
        let parts = [f.0, f.1, f.2, f.3, f.4, f.5];
        let used = if six { &parts[..] } else { &parts[1..] };
        let valid = used.iter().all(|(_, ok)| *ok) && tz.as_deref().is_none_or(|t| TIME_ZONES.contains(&t));
        let expr = used.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(" ");
        (format!("{pad}{expr}{pad}"), tz, valid)
    })
}

/// Moments to ask about: mostly 1970..2100 (the cron crate's years), sometimes anything.
fn moment() -> impl Strategy<Value = i64> {
    prop_oneof![8 => 0i64..4_102_444_800_000, 1 => any::<i64>(), 1 => Just(i64::MAX), 1 => Just(i64::MIN)]
}

const SCHEDULE_PREFIXES: &[&str] = &["cron: ", "every: ", "at: ", "time zone ", "an `at` schedule"];

fn check_schedule_error(e: &ScheduleError) -> Result<(), TestCaseError> {
    let m = e.to_string();
    prop_assert!(SCHEDULE_PREFIXES.iter().any(|p| m.starts_with(p)), "{m:?}");
    Ok(())
}

/// What holds for any parsed schedule: the next run is after the moment asked about, nothing
/// runs in between, and `missed` agrees with `next_after`.
fn check_sched(s: &Sched, now: i64, span: i64) -> Result<(), TestCaseError> {
    let Some(next) = s.next_after(now) else { return Ok(()) };
    prop_assert!(next > now, "next run {next} is not after {now}");
    prop_assert_eq!(s.next_after(next - 1), Some(next), "a run between {} and {}", now, next);
    if let Sched::Cron(..) = s {
        prop_assert_eq!(next.rem_euclid(1000), 0, "cron runs on whole seconds");
    }
    if let Some(to) = now.checked_add(span) {
        let (n, first, last) = s.missed(now, to, 5);
        prop_assert!(n <= 5);
        if next <= to {
            prop_assert!(
                n >= 1 && first == Some(next) && last.is_some_and(|l| l >= next && l <= to),
                "{n} {first:?} {last:?}"
            );
        } else {
            prop_assert_eq!((n, first, last), (0, None, None));
        }
    }
    Ok(())
}

#[test]
fn fuzz_cron_expressions_from_field_grammars_parse_and_have_a_next_run_after_now() {
    let strategy = || (cron_case(), moment(), 0i64..600_000);
    fuzz("schedule/cron", 1500, strategy, |((expr, tz, valid), now, span)| {
        let parsed = schedule::parse(&Schedule::Text(expr.clone()), tz.as_deref(), 0);
        let s = match parsed {
            Ok(s) => s,
            Err(e) => {
                check_schedule_error(&e)?;
                prop_assert!(!valid, "{expr:?} in {tz:?} is from the grammar and was refused: {e}");
                return Ok(());
            }
        };
        check_sched(&s, now, span)?;
        // Every day of the month is allowed: there is a run in every month, so one exists
        // before the cron crate's last year (2100) whenever `now` is well before it.
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let dom = fields[fields.len() - 3];
        if valid && (dom == "*" || dom == "?") && (0..4_070_908_800_000).contains(&now) {
            prop_assert!(s.next_after(now).is_some(), "{expr:?} in {tz:?} has no run after {now}");
        }
        Ok(())
    });
}

/// An `every` or `at` schedule, as text or as a spec, and when it was created.
fn every_at_case() -> impl Strategy<Value = (Schedule, i64)> {
    let unit = select(&["ms", "s", "m", "h", "d", " s", "x", ""][..]);
    let text_every =
        (prop_oneof![0u64..100_000, any::<u64>()], unit).prop_map(|(n, u)| Schedule::Text(format!("every {n}{u}")));
    let spec_every = (prop_oneof![1000u64..10_000_000, any::<u64>()], proptest::option::of(any::<i64>()))
        .prop_map(|(every_ms, anchor_ms)| Schedule::Spec(ScheduleSpec::Every { every_ms, anchor_ms }));
    let spec_at = (proptest::option::of(any::<i64>()), proptest::option::of(rfc3339().prop_map(|(t, _)| t)))
        .prop_map(|(at_ms, at)| Schedule::Spec(ScheduleSpec::At { at_ms, at }));
    let text_at = rfc3339().prop_map(|(t, _)| Schedule::Text(format!("at {t}")));
    (prop_oneof![text_every, spec_every, spec_at, text_at, text().prop_map(Schedule::Text)], any::<i64>())
}

/// An RFC 3339 time from its parts, and its Unix milliseconds computed without the parser.
fn rfc3339() -> impl Strategy<Value = (String, i64)> {
    let date = (0i32..10000, 1u32..=12, 1u32..=28);
    let time = (0u32..24, 0u32..60, 0u32..60, proptest::option::of(0u32..1000));
    // `Z`, or a sign with hours and minutes.
    let offset = proptest::option::of((any::<bool>(), 0i64..24, 0i64..60));
    (date, time, offset).prop_map(|((y, mo, d), (h, mi, s, ms), off)| {
        let frac = ms.map_or(String::new(), |ms| format!(".{ms:03}"));
        let zone =
            off.map_or("Z".to_string(), |(neg, oh, om)| format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' }));
        let naive = chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_milli_opt(h, mi, s, ms.unwrap_or(0)))
            .expect("in range");
        let off_ms = off.map_or(0, |(neg, oh, om)| if neg { -1 } else { 1 } * (oh * 60 + om) * 60_000);
        (
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}"),
            naive.and_utc().timestamp_millis() - off_ms,
        )
    })
}

#[test]
fn fuzz_every_and_at_schedules_keep_their_period_and_time() {
    let strategy = || (every_at_case(), moment());
    fuzz("schedule/every-at", 3000, strategy, |((sched, created), now)| {
        let s = match schedule::parse(&sched, None, created) {
            Ok(s) => s,
            Err(e) => return check_schedule_error(&e),
        };
        check_sched(&s, now, 3_600_000)?;
        match (&s, s.next_after(now)) {
            (Sched::Every { every_ms, anchor_ms }, Some(next)) => {
                prop_assert!(*every_ms >= 1000);
                let (every, anchor, next, now) =
                    (i128::from(*every_ms), i128::from(*anchor_ms), i128::from(next), i128::from(now));
                prop_assert_eq!((next - anchor).rem_euclid(every), 0, "runs are whole periods from the anchor");
                prop_assert!(now < anchor || next - now <= every, "no period skipped");
            }
            (Sched::At(t), next) => prop_assert_eq!(next, (*t > now).then_some(*t)),
            _ => {}
        }
        Ok(())
    });
}

#[test]
fn fuzz_at_times_parse_to_the_moment_written() {
    fuzz("schedule/at", 2000, rfc3339, |(text, ms)| {
        let s = schedule::parse(&Schedule::Text(format!("at {text}")), None, 0);
        prop_assert!(matches!(s, Ok(Sched::At(t)) if t == ms), "{text} -> {s:?}, expected {ms}");
        Ok(())
    });
}

#[test]
fn fuzz_schedules_from_arbitrary_text_and_json_never_panic() {
    const KEYS: &[&str] = &["kind", "expr", "tz", "everyMs", "anchorMs", "atMs", "at", "cron", "every"];
    let strategy = || {
        let words = vec(
            prop_oneof![
                select(&["every", "at", "*", "?", "0", "5m", "1-5", "*/2", "MON", "JAN"][..]).prop_map(str::to_string),
                text()
            ],
            0..8,
        )
        .prop_map(|w| w.join(" "));
        (prop_oneof![words.prop_map(Value::String), json_with_keys(KEYS)], proptest::option::of(text()), moment())
    };
    fuzz("schedule/arbitrary", 1500, strategy, |(v, tz, now)| {
        let Ok(sched) = serde_json::from_value::<Schedule>(v) else { return Ok(()) };
        match schedule::parse(&sched, tz.as_deref(), now) {
            Ok(s) => check_sched(&s, now, 60_000),
            Err(e) => check_schedule_error(&e),
        }
    });
}

// ------------------------------------------------------------------------------------------
// Config loader: JSON5, `$include`, `${VAR}`, env overrides
// ------------------------------------------------------------------------------------------

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(validate::schema_value)
}

fn deref(node: &'static Value) -> &'static Value {
    match node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => schema().pointer(pointer).map_or(node, deref),
        None => node,
    }
}

/// Strings that mean something somewhere in the config (addresses, binds, schedules, zones,
/// model references, secrets), so generated documents get past the first check of each.
const CONFIG_STRINGS: &[&str] = &[
    "127.0.0.1",
    "0.0.0.0",
    "::1",
    "localhost",
    "example.com",
    ".home.arpa",
    "10.0.0.0/8",
    "loopback",
    "lan",
    "tailnet",
    "auto",
    "custom",
    "https://example.com",
    "0 * * * *",
    "*/5 * * * * *",
    "every 5m",
    "every 1500ms",
    "at 2026-12-01T09:00:00Z",
    "Europe/Berlin",
    "Mars/Olympus",
    "deepseek/deepseek-chat",
    "backup-sessions",
    "hi",
    "secret:abc",
    "/tmp/openclaw-fuzz",
    "debug",
    "info",
    "off",
];

/// A value the schema node allows (most of the time: `minLength` and bounds are kept, but
/// documents are damaged separately by [`mutation`]).
fn from_schema(node: &'static Value, depth: u32) -> BoxedStrategy<Value> {
    let node = deref(node);
    if let Some(c) = node.get("const") {
        return Just(c.clone()).boxed();
    }
    if let Some(Value::Array(options)) = node.get("enum") {
        return select(options.clone()).boxed();
    }
    if let Some(Value::Array(variants)) = node.get("anyOf").or_else(|| node.get("oneOf")) {
        return Union::new(variants.iter().map(|v| from_schema(v, depth))).boxed();
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.is_empty() || depth > 8 {
        return json_any();
    }
    Union::new(types.into_iter().map(|t| match t {
        "null" => Just(Value::Null).boxed(),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "integer" => {
            let lo = node.get("minimum").and_then(Value::as_i64).unwrap_or(match node.get("format").and_then(Value::as_str) {
                Some(f) if f.starts_with('u') => 0,
                _ => i64::MIN,
            });
            let hi = node.get("maximum").and_then(Value::as_i64).unwrap_or(match node.get("format").and_then(Value::as_str) {
                Some("uint32") => i64::from(u32::MAX),
                _ => i64::MAX,
            });
            let near = lo.saturating_add(1000).min(hi);
            prop_oneof![3 => lo..=hi, 3 => lo..=near, 1 => select(vec![lo, hi])].prop_map(Value::from).boxed()
        }
        "number" => (-1e6f64..1e6).prop_map(Value::from).boxed(),
        "string" => {
            let min_len = node.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            prop_oneof![3 => select(CONFIG_STRINGS).prop_map(str::to_string), 2 => "[a-z][a-zA-Z0-9_]{0,8}", 1 => text()]
                .prop_filter("minLength", move |s| s.chars().count() >= min_len)
                .prop_map(Value::String)
                .boxed()
        }
        "array" => match node.get("items") {
            Some(items) => vec(from_schema(items, depth + 1), 0..3).prop_map(Value::Array).boxed(),
            None => Just(json!([])).boxed(),
        },
        _ => object_from_schema(node, depth),
    }))
    .boxed()
}

fn object_from_schema(node: &'static Value, depth: u32) -> BoxedStrategy<Value> {
    let required: Vec<&str> =
        node.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    // Fewer keys deeper down keeps documents small enough to load quickly.
    let keep = if depth == 0 { 0.5 } else { 0.35 };
    let props: Vec<BoxedStrategy<Option<(String, Value)>>> = node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, sub)| {
            let k = k.clone();
            let value = from_schema(sub, depth + 1);
            if required.contains(&k.as_str()) {
                value.prop_map(move |v| Some((k.clone(), v))).boxed()
            } else {
                proptest::option::weighted(keep, value).prop_map(move |v| v.map(|v| (k.clone(), v))).boxed()
            }
        })
        .collect();
    let extra = match node.get("additionalProperties") {
        Some(ap) if ap.is_object() => btree_map("[a-z][a-z0-9/_-]{0,10}", from_schema(ap, depth + 1), 0..3).boxed(),
        _ => Just(BTreeMap::new()).boxed(),
    };
    (props, extra).prop_map(|(props, extra)| Value::Object(props.into_iter().flatten().chain(extra).collect())).boxed()
}

/// Every node of a document as a JSON pointer, root first.
fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        let esc = |k: &str| k.replace('~', "~0").replace('/', "~1");
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| walk(c, format!("{at}/{}", esc(k)), out)),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| walk(c, format!("{at}/{i}"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// One damage to a generated document, so validation errors and did-you-mean are reached too.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    /// The value at the n-th node becomes this one.
    Replace(Index, Value),
    /// A key one edit away from a known one, in the n-th object.
    Typo(Index, Index),
    Unknown(Index, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        1 => (any::<Index>(), json_any()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::Typo(i, j)),
        1 => (any::<Index>(), text()).prop_map(|(i, k)| Mutation::Unknown(i, k)),
    ]
}

fn mutate(doc: &mut Value, m: &Mutation) {
    let ptrs = pointers(doc);
    let objects: Vec<&String> = ptrs.iter().filter(|p| doc.pointer(p).is_some_and(Value::is_object)).collect();
    match m {
        Mutation::None => {}
        Mutation::Replace(i, v) => {
            let p = &ptrs[i.index(ptrs.len())];
            *doc.pointer_mut(p).expect("pointer from the document") = v.clone();
        }
        Mutation::Typo(i, j) => {
            let p = objects[i.index(objects.len())].clone();
            let obj = doc.pointer_mut(&p).and_then(Value::as_object_mut).expect("an object");
            let Some(key) = obj.keys().nth(j.index(obj.len().max(1))).cloned() else { return };
            let typo: String = key.chars().skip(1).collect();
            if let Some(v) = obj.remove(&key) {
                obj.insert(if typo.is_empty() { format!("{key}x") } else { typo }, v);
            }
        }
        Mutation::Unknown(i, k) => {
            let p = objects[i.index(objects.len())].clone();
            doc.pointer_mut(&p).and_then(Value::as_object_mut).expect("an object").insert(k.clone(), json!(1));
        }
    }
}

/// How a document is written: JSON5's liberties, so the parser sees them all.
#[derive(Debug, Clone, Copy)]
struct Style {
    bare_keys: bool,
    single_quotes: bool,
    trailing_commas: bool,
    comments: bool,
    pretty: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(bare_keys, single_quotes, trailing_commas, comments, pretty)| Style {
            bare_keys,
            single_quotes,
            trailing_commas,
            comments,
            pretty,
        },
    )
}

fn json5_string(s: &str, st: Style) -> String {
    if !st.single_quotes {
        return serde_json::to_string(s).expect("string serializes");
    }
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn json5_key(k: &str, st: Style) -> String {
    let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if st.bare_keys && ident { k.to_string() } else { json5_string(k, st) }
}

fn json5(v: &Value, st: Style) -> String {
    fn go(v: &Value, st: Style, depth: usize, out: &mut String) {
        let (nl, pad, pad_in) = if st.pretty {
            ("\n", "  ".repeat(depth), "  ".repeat(depth + 1))
        } else {
            ("", String::new(), String::new())
        };
        let items = |out: &mut String, n: usize, each: &mut dyn FnMut(usize, &mut String)| {
            for i in 0..n {
                out.push_str(nl);
                out.push_str(&pad_in);
                if st.comments && i == 0 {
                    out.push_str(if st.pretty { "// generated\n" } else { "/* generated */ " });
                    out.push_str(&pad_in);
                }
                each(i, out);
                if i + 1 < n || st.trailing_commas {
                    out.push(',');
                }
            }
            if n > 0 {
                out.push_str(nl);
                out.push_str(&pad);
            }
        };
        match v {
            Value::String(s) => out.push_str(&json5_string(s, st)),
            Value::Array(a) => {
                out.push('[');
                items(out, a.len(), &mut |i, out| go(&a[i], st, depth + 1, out));
                out.push(']');
            }
            Value::Object(m) => {
                let entries: Vec<(&String, &Value)> = m.iter().collect();
                out.push('{');
                items(out, entries.len(), &mut |i, out| {
                    out.push_str(&json5_key(entries[i].0, st));
                    out.push_str(": ");
                    go(entries[i].1, st, depth + 1, out);
                });
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    go(v, st, 0, &mut out);
    out
}

/// A config document near the schema, in some JSON5 style.
fn config_doc() -> impl Strategy<Value = (Value, Mutation, Style)> {
    (from_schema(schema(), 0), mutation(), style()).prop_map(|(mut doc, m, st)| {
        mutate(&mut doc, &m);
        (doc, m, st)
    })
}

/// Dotted paths of the schema's properties (what `OPENCLAW__A__B` can reach).
fn schema_paths() -> &'static [String] {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    PATHS.get_or_init(|| {
        fn walk(node: &'static Value, at: &str, depth: u32, out: &mut Vec<String>) {
            let node = deref(node);
            let variants: Vec<&'static Value> = match node.get("anyOf").or_else(|| node.get("oneOf")) {
                Some(Value::Array(vs)) => vs.iter().map(deref).collect(),
                _ => vec![node],
            };
            for n in variants {
                for (k, sub) in n.get("properties").and_then(Value::as_object).into_iter().flatten() {
                    let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                    out.push(path.clone());
                    if depth < 6 {
                        walk(sub, &path, depth + 1, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(schema(), "", 0, &mut out);
        out.sort();
        out.dedup();
        out
    })
}

/// `debounceMs` -> `DEBOUNCE_MS`: the generic variable's spelling of a key.
fn screaming(segment: &str) -> String {
    let mut out = String::new();
    for c in segment.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[0-9]{1,6}",
        2 => select(&["true", "false", "1", "yes", "off", "loopback", "lan", "debug", "warn", "[1, 2]", "['a']", "{a: 1}", "127.0.0.1", "-1", "1.5", "65536", " 80 "][..]).prop_map(str::to_string),
        1 => select(CONFIG_STRINGS).prop_map(str::to_string),
        1 => text(),
    ]
}

/// Environment overrides: documented variables, generic `OPENCLAW__` paths (real and not), DEBUG.
fn env_overrides() -> impl Strategy<Value = Vec<(String, String)>> {
    let table: Vec<&'static str> = config_env::TABLE.iter().map(|(v, _, _)| *v).collect();
    let generic = select(schema_paths()).prop_map(|p| {
        format!("{}{}", config_env::GENERIC_PREFIX, p.split('.').map(screaming).collect::<Vec<_>>().join("__"))
    });
    let var = prop_oneof![
        3 => select(table).prop_map(str::to_string),
        3 => generic,
        1 => "OPENCLAW__[A-Za-z_]{0,14}",
        1 => Just("DEBUG".to_string()),
    ];
    vec((var, env_value()), 0..4)
}

/// The planted `$include` failure, if any, and the message it must give.
#[derive(Debug, Clone, Copy, PartialEq)]
enum IncludeFault {
    None,
    Missing,
    Cycle,
    NotAPath,
    TooDeep,
}

/// Where the pieces of a document go: each top-level key to the main file or one of three
/// included files; `nested` also moves part of one object's keys into a file included there.
#[derive(Debug, Clone)]
struct Split {
    /// The file of the n-th top-level key (cycled): 0 main, 1 `inc/one`, 2 `two`, 3 `inc/three`.
    files: Vec<u8>,
    /// Which object of the main file has half its keys moved into a file it includes.
    nested: Option<Index>,
    /// `$include: [path]` even for one path.
    array_form: bool,
    /// `two` included by `one` (as `../two.json5`) rather than by the main file.
    chain: bool,
    /// Strings moved into variables: which string, and where in it the variable starts.
    vars: Vec<(Index, Index)>,
    /// A string that gets an unset `${FUZZ_UNSET}` appended.
    missing_var: Option<Index>,
    fault: IncludeFault,
}

fn split() -> impl Strategy<Value = Split> {
    let fault = prop_oneof![
        12 => Just(IncludeFault::None),
        1 => Just(IncludeFault::Missing),
        1 => Just(IncludeFault::Cycle),
        1 => Just(IncludeFault::NotAPath),
        1 => Just(IncludeFault::TooDeep),
    ];
    (
        vec(0u8..4, 12),
        proptest::option::of(any::<Index>()),
        any::<bool>(),
        any::<bool>(),
        vec((any::<Index>(), any::<Index>()), 0..4),
        proptest::option::weighted(0.1, any::<Index>()),
        fault,
    )
        .prop_map(|(files, nested, array_form, chain, vars, missing_var, fault)| Split {
            files,
            nested,
            array_form,
            chain,
            vars,
            missing_var,
            fault,
        })
}

/// A document written as one file (what it means) and the same document spread over
/// `$include`d files with some strings moved into `${VAR}`s (what must mean the same).
struct Written {
    /// Keeps the files until the case is over.
    dir: tempfile::TempDir,
    /// The document as one file, without variables.
    whole: PathBuf,
    /// The main file of the spread-out version.
    split: PathBuf,
    /// The variables the spread-out version takes its strings from.
    vars: Vec<(String, String)>,
    /// The dotted path and name of a variable left unset.
    missing: Option<(String, String)>,
}

fn dotted(pointer: &str) -> String {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect::<Vec<_>>().join(".")
}

fn write_config(doc: &Value, st: Style, sp: &Split) -> Written {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("split/inc")).expect("mkdir");
    let whole = root.join("whole.json5");
    std::fs::write(&whole, json5(doc, st)).expect("write");
    if !doc.is_object() {
        // Nothing to spread over files: the same text under the other name.
        let split = root.join("split/main.json5");
        std::fs::copy(&whole, &split).expect("copy");
        return Written { dir, whole, split, vars: vec![], missing: None };
    }

    // Strings into variables: the whole string or its tail, never one with a `$` of its own
    // (the file's text is expanded, a variable's value is not).
    let mut doc = doc.clone();
    let strings: Vec<String> = pointers(&doc)
        .into_iter()
        .filter(|p| doc.pointer(p).and_then(Value::as_str).is_some_and(|s| !s.is_empty() && !s.contains('$')))
        .collect();
    let mut vars = Vec::new();
    if !strings.is_empty() {
        for (n, (which, cut)) in sp.vars.iter().enumerate() {
            let p = &strings[which.index(strings.len())];
            let Some(Value::String(s)) = doc.pointer_mut(p) else { continue };
            if s.contains('$') {
                continue;
            }
            let cuts: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
            let at = cuts[cut.index(cuts.len())];
            let name = format!("FUZZ_VAR_{n}");
            vars.push((name.clone(), s[at..].to_string()));
            *s = format!("{}${{{name}}}", &s[..at]);
        }
    }
    let mut missing = None;
    if let (Some(which), false) = (sp.missing_var, strings.is_empty()) {
        let p = &strings[which.index(strings.len())];
        if let Some(Value::String(s)) = doc.pointer_mut(p) {
            s.push_str("${FUZZ_UNSET}");
            missing = Some((dotted(p), "FUZZ_UNSET".to_string()));
        }
    }

    // Top-level keys to files 0 (main), 1, 2, 3; file 1 lives in inc/ and, chained, includes 2.
    let names = ["", "inc/one.json5", "two.json5", "inc/three.json5"];
    let mut parts: Vec<Map<String, Value>> = vec![Map::new(); 4];
    let top = doc.as_object().cloned().unwrap_or_default();
    for (i, (k, v)) in top.into_iter().enumerate() {
        parts[usize::from(sp.files[i % sp.files.len()])].insert(k, v);
    }
    if let Some(which) = sp.nested {
        let objects: Vec<String> = parts[0]
            .iter()
            .filter(|(_, v)| v.as_object().is_some_and(|o| o.len() > 1))
            .map(|(k, _)| k.clone())
            .collect();
        if !objects.is_empty() {
            let key = &objects[which.index(objects.len())];
            let obj = parts[0][key].as_object_mut().expect("an object");
            // Not keys with a dot: the config crate reads a file's top-level `a.b` as the path
            // `a: {b}`, so such a key nested in one file and at the top of another differs.
            let moved: Map<String, Value> = obj
                .keys()
                .take(obj.len() / 2)
                .filter(|k| !k.contains('.'))
                .cloned()
                .collect::<Vec<_>>()
                .into_iter()
                .filter_map(|k| obj.remove(&k).map(|v| (k, v)))
                .collect();
            let file = format!(
                "nested-{}.json5",
                screaming(key).to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
            std::fs::write(root.join("split").join(&file), json5(&Value::Object(moved), st)).expect("write");
            obj.insert("$include".into(), json!(file));
        }
    }
    // Chained: one.json5 includes ../two.json5, by a path relative to itself, and main
    // includes only one.json5.
    let chained = sp.chain && !parts[2].is_empty();
    if chained {
        parts[1].insert("$include".into(), json!("../two.json5"));
    }
    let mut main_includes: Vec<String> =
        (1..4).filter(|f| !(parts[*f].is_empty() || (*f == 2 && chained))).map(|f| names[f].to_string()).collect();
    match sp.fault {
        IncludeFault::None => {}
        IncludeFault::Missing => main_includes.push("inc/absent.json5".into()),
        IncludeFault::Cycle => {
            parts[3].insert("$include".into(), json!("../main.json5"));
            main_includes.push(names[3].to_string());
        }
        IncludeFault::NotAPath => {}
        IncludeFault::TooDeep => {
            for d in 0..12 {
                let next = if d < 11 { json!({"$include": format!("deep{}.json5", d + 1)}) } else { json!({}) };
                std::fs::write(root.join(format!("split/deep{d}.json5")), json5(&next, st)).expect("write");
            }
            main_includes.push("deep0.json5".into());
        }
    }
    for (f, part) in parts.iter().enumerate().skip(1) {
        std::fs::write(root.join("split").join(names[f]), json5(&Value::Object(part.clone()), st)).expect("write");
    }
    let mut main = std::mem::take(&mut parts[0]);
    if sp.fault == IncludeFault::NotAPath {
        main.insert("$include".into(), if sp.array_form { json!(["two.json5", 5]) } else { json!(5) });
    } else if !main_includes.is_empty() {
        let v = if sp.array_form || main_includes.len() > 1 { json!(main_includes) } else { json!(main_includes[0]) };
        main.insert("$include".into(), v);
    }
    let split = root.join("split/main.json5");
    std::fs::write(&split, json5(&Value::Object(main), st)).expect("write");
    Written { dir, whole, split, vars, missing }
}

fn options(file: &Path, env: EnvSnapshot) -> LoadOptions {
    let state_dir = file.parent().expect("a parent").to_path_buf();
    LoadOptions {
        paths: Paths { state_dir, config: file.to_path_buf(), explicit: true },
        env,
        flags: vec![],
        require_file: false,
    }
}

/// `path: message` of every problem, sorted (where a file put it, `location`, may differ).
fn problems(r: &Result<Loaded, openclaw::config::ConfigError>) -> Vec<String> {
    let mut v: Vec<String> = match r {
        Ok(_) => vec![],
        Err(e) => e.problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect(),
    };
    v.sort();
    v
}

/// What holds for any load: a refusal lists at least one problem, each with a message.
fn check_load(r: &Result<Loaded, openclaw::config::ConfigError>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(!e.problems.is_empty(), "an error without problems");
        // The path may be empty: it is the key at fault, and `""` is a key.
        prop_assert!(e.problems.iter().all(|p| !p.message.is_empty()), "{e}");
        let _ = e.to_string();
    }
    Ok(())
}

type ConfigCase = ((Value, Mutation, Style), Split, Vec<(String, String)>);

fn check_config_case(((doc, _, st), mut sp, overrides): ConfigCase) -> Result<(), TestCaseError> {
    if !doc.is_object() {
        // Damaged into a non-object: nothing to spread over files, so no fault to plant.
        (sp.fault, sp.missing_var) = (IncludeFault::None, None);
    }
    let w = write_config(&doc, st, &sp);
    let env_pairs = overrides.clone();
    let whole = load(&options(&w.whole, EnvSnapshot::from_pairs(env_pairs.clone())));
    let split_env = EnvSnapshot::from_pairs(env_pairs.into_iter().chain(w.vars.clone()));
    let split = load(&options(&w.split, split_env.clone()));
    check_load(&whole)?;
    check_load(&split)?;
    let split_problems = problems(&split);
    let include_problem = |needle: &str| {
        let e = split.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        prop_assert!(
            split_problems.iter().any(|p| p.starts_with("$include: ") && p.contains(needle)),
            "expected {needle:?}: {e}"
        );
        Ok(())
    };
    // A value the parser refuses (the config crate reads no integer above i64::MAX) stops
    // both loads before includes and variables: the same refusal.
    let syntax = |ps: &[String]| ps.iter().any(|p| p.contains("JSON5 syntax error"));
    if syntax(&problems(&whole)) {
        // A planted `$include` fault may be met before the file with that value is read.
        let planted = sp.fault != IncludeFault::None && split_problems.iter().any(|p| p.starts_with("$include: "));
        prop_assert!(syntax(&split_problems) || planted, "{split_problems:?}");
        return Ok(());
    }
    match sp.fault {
        IncludeFault::Missing => return include_problem("cannot read included file"),
        IncludeFault::Cycle => return include_problem("include cycle"),
        IncludeFault::NotAPath => {
            return include_problem(if sp.array_form {
                "entries must be paths"
            } else {
                "must be a path or an array of paths"
            });
        }
        IncludeFault::TooDeep => return include_problem("includes nested deeper than"),
        IncludeFault::None => {}
    }
    if let Some((path, var)) = &w.missing {
        let want = format!("{path}: missing env var \"{var}\"");
        prop_assert!(split_problems.iter().any(|p| p.starts_with(&want)), "expected {want:?} in {split_problems:?}");
        return Ok(());
    }
    // Includes and variables change nothing: the same config, or the same problems.
    prop_assert_eq!(problems(&whole), split_problems);
    if let (Ok(a), Ok(b)) = (&whole, &split) {
        prop_assert_eq!(&a.effective, &b.effective);
        check_overrides(b, &split_env)?;
    }
    drop(w.dir);
    Ok(())
}

/// The last override of each path applied, and `config show` says it came from that variable.
fn check_overrides(loaded: &Loaded, env: &EnvSnapshot) -> Result<(), TestCaseError> {
    let all = config_env::overrides(env);
    for (i, o) in all.iter().enumerate() {
        // A later override of this path, a parent or a child replaces some or all of it.
        let covered =
            all[i + 1..].iter().any(|later| o.path.starts_with(&later.path) || later.path.starts_with(&o.path));
        let value = validate::coerce(schema(), &o.path, o.value.clone());
        if covered || value.is_object() {
            continue;
        }
        let path = o.path.join(".");
        prop_assert_eq!(loaded.source_of(&path), Source::Env(o.var.clone()), "source of {}", path);
        if value.is_number() {
            let pointer = format!("/{}", o.path.join("/"));
            prop_assert_eq!(loaded.effective.pointer(&pointer), Some(&value), "{} from {}", path, o.var);
        }
    }
    Ok(())
}

#[test]
fn fuzz_config_loader_includes_and_variables_mean_the_same_as_one_file() {
    fuzz("config/structured", 500, || (config_doc(), split(), env_overrides()), check_config_case);
}

#[test]
fn fuzz_config_loader_arbitrary_and_damaged_files() {
    let strategy = || {
        let text = config_doc().prop_map(|(doc, _, st)| json5(&doc, st));
        (bytes_around(text.boxed()), env_overrides())
    };
    fuzz("config/bytes", 600, strategy, |(bytes, env)| {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("openclaw.json");
        std::fs::write(&file, &bytes).expect("write");
        check_load(&load(&options(&file, EnvSnapshot::from_pairs(env))))
    });
}

// ------------------------------------------------------------------------------------------
// models.json
// ------------------------------------------------------------------------------------------

const MODEL_VARS: &[&str] = &["BASE", "KEY", "HDR"];

/// A string with, sometimes, a `${VAR}` from [`MODEL_VARS`] in it.
fn maybe_var() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        2 => text(),
        1 => (select(MODEL_VARS), "[a-z/:.]{0,6}").prop_map(|(v, tail)| format!("${{{v}}}{tail}")),
        1 => Just("https://api.example.com/v1".to_string()),
    ]
}

/// A catalogue in the deployment guide's format (with keys this gateway ignores), and the
/// environment its `${VAR}`s are expanded from.
fn catalogue_case() -> impl Strategy<Value = (Value, Vec<(String, String)>)> {
    let model = (
        prop_oneof!["[a-z][a-z0-9.-]{0,10}", "[a-z]{1,4}/[a-z]{1,4}", text()],
        proptest::option::of(text()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(id, name, context_window, max_tokens, reasoning)| {
            json!({"id": id, "name": name, "contextWindow": context_window, "maxTokens": max_tokens,
                   "reasoning": reasoning.unwrap_or(false), "input": ["text"],
                   "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}})
        });
    let api = prop_oneof![3 => Just(OPENAI_COMPLETIONS.to_string()), 1 => Just("anthropic-messages".to_string()), 1 => text()];
    let provider = (maybe_var(), proptest::option::of(maybe_var()), api, btree_map("[A-Za-z-]{1,8}", maybe_var(), 0..3), vec(model, 0..4))
        .prop_map(|(base_url, api_key, api, headers, models)| {
            json!({"baseUrl": base_url, "apiKey": api_key, "api": api, "headers": headers, "models": models})
        });
    let env = vec((select(MODEL_VARS), "[a-z0-9]{1,6}"), 0..3)
        .prop_map(|v| v.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    (btree_map("[a-z][a-z0-9-]{0,6}", provider, 0..4), env)
        .prop_map(|(providers, env)| (json!({"providers": providers}), env))
}

/// Every model of a valid catalogue is listed and made ready to call (or says which variable
/// or api stops it); references that are not in it say why.
fn check_catalogue((doc, env): (Value, Vec<(String, String)>)) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("models.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("serializes")).expect("write");
    let c = models::load(&file).map_err(|e| TestCaseError::fail(format!("a valid catalogue was refused: {e}")))?;
    let env = EnvSnapshot::from_pairs(env);
    let providers = doc["providers"].as_object().expect("providers");
    let count: usize = providers.values().map(|p| p["models"].as_array().map_or(0, Vec::len)).sum();
    prop_assert_eq!(c.list().len(), count);
    for (name, p) in providers {
        let ids: Vec<&str> = p["models"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str()).collect();
        for id in ids.iter().copied().chain(["not-listed"]) {
            let reference = format!("{name}/{id}");
            let got = c.target(&reference, &env, &file);
            let api = p["api"].as_str().unwrap_or(OPENAI_COMPLETIONS);
            match got {
                Ok(t) => {
                    prop_assert_eq!(api, OPENAI_COMPLETIONS);
                    prop_assert_eq!(&t.reference, &reference);
                    prop_assert_eq!(t.model.id.as_str(), id);
                    let expand = |v: &Value| openclaw::config::load::expand(v.as_str().unwrap_or_default(), &env).ok();
                    prop_assert_eq!(Some(t.base_url), expand(&p["baseUrl"]));
                    prop_assert_eq!(t.api_key, p.get("apiKey").filter(|k| !k.is_null()).and_then(expand));
                    let headers: BTreeMap<String, String> = p["headers"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, v)| Some((k.clone(), expand(v)?)))
                        .collect();
                    prop_assert_eq!(t.headers, headers);
                }
                Err(TargetError::UnsupportedApi { provider, api: a }) => {
                    prop_assert_eq!((provider.as_str(), a.as_str()), (name.as_str(), api));
                    prop_assert!(api != OPENAI_COMPLETIONS);
                }
                Err(TargetError::MissingEnv { missing, file: f, .. }) => {
                    prop_assert_eq!(f, file.clone());
                    prop_assert!(!missing.is_empty() && missing.iter().all(|m| env.get(m).is_none()), "{missing:?}");
                }
                Err(e) => prop_assert!(false, "{reference}: {e}"),
            }
        }
    }
    let e = c.target("no-slash", &env, &file).unwrap_err();
    prop_assert_eq!(e, TargetError::NotAReference("no-slash".into()));
    if !providers.contains_key("absent") {
        let e = c.target("absent/m", &env, &file).unwrap_err();
        prop_assert!(matches!(e, TargetError::UnknownProvider { .. }), "{e}");
    }
    Ok(())
}

#[test]
fn fuzz_models_json_generated_catalogues_list_and_target_every_model() {
    fuzz("models/structured", 600, catalogue_case, check_catalogue);
}

#[test]
fn fuzz_models_json_arbitrary_and_damaged_files() {
    let strategy = || {
        let file = catalogue_case().prop_map(|(doc, _)| doc.to_string());
        (bytes_around(file.boxed()), text(), catalogue_case().prop_map(|(_, env)| env))
    };
    fuzz("models/bytes", 1000, strategy, |(bytes, reference, env)| {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("models.json");
        std::fs::write(&file, &bytes).expect("write");
        match models::load(&file) {
            Ok(c) => {
                let _ = c.list();
                let _ = c.target(&reference, &EnvSnapshot::from_pairs(env), &file);
            }
            Err(e) => {
                let m = e.to_string();
                prop_assert!(
                    m.starts_with(&file.display().to_string()) && m.len() > file.display().to_string().len() + 2,
                    "{m}"
                );
            }
        }
        Ok(())
    });
}

// ------------------------------------------------------------------------------------------
// `POST /rpc` body
// ------------------------------------------------------------------------------------------

const BODY_PREFIX: &str = "invalid request: ";

fn check_body(body: &[u8]) -> Result<(), TestCaseError> {
    match openclaw::http::parse_body(body) {
        Ok((method, params)) => {
            let v: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
            let o = v.as_object().expect("an accepted body is an object");
            prop_assert!(o.keys().all(|k| k == "method" || k == "params"));
            prop_assert_eq!(o.get("method").and_then(Value::as_str), Some(method.as_str()));
            prop_assert_eq!(&params, o.get("params").unwrap_or(&Value::Null));
        }
        Err(e) => {
            prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
            prop_assert!(e.message.starts_with(BODY_PREFIX) && e.message.len() > BODY_PREFIX.len(), "{e:?}");
        }
    }
    Ok(())
}

/// A body: a method (served or not), params or none, and maybe one fault.
fn body_case() -> impl Strategy<Value = (String, Option<Value>, u8, Value, String)> {
    let method = prop_oneof![select(method_names()).prop_map(str::to_string), text()];
    let extra = text().prop_filter("unknown", |k| k != "method" && k != "params");
    (method, proptest::option::of(json_any()), 0u8..8, json_any(), extra)
}

#[test]
fn fuzz_rpc_body_arbitrary_and_damaged() {
    let strategy =
        || bytes_around(body_case().prop_map(|(m, p, _, _, _)| json!({"method": m, "params": p}).to_string()).boxed());
    fuzz("rpc-body/bytes", 1500, strategy, |b| check_body(&b));
}

#[test]
fn fuzz_rpc_body_generated_parse_to_what_was_sent_or_name_the_fault() {
    fuzz("rpc-body/structured", 1500, body_case, |(method, params, fault, other, extra)| {
        let mut body = json!({"method": method});
        if let Some(p) = &params {
            body["params"] = p.clone();
        }
        let expected = match fault {
            0 => {
                body.as_object_mut().expect("object").remove("method");
                Err("must have required property 'method'".to_string())
            }
            1 if !other.is_string() => {
                body["method"] = other.clone();
                Err("must have required property 'method'".to_string())
            }
            2 => {
                body[extra.as_str()] = other.clone();
                Err(format!("must NOT have additional properties ({extra:?})"))
            }
            3 if !other.is_object() => {
                body = other.clone();
                Err("body must be a JSON object {method, params}".to_string())
            }
            _ => Ok((method.clone(), params.clone().unwrap_or(Value::Null))),
        };
        let text = body.to_string();
        check_body(text.as_bytes())?;
        let got = openclaw::http::parse_body(text.as_bytes()).map_err(|e| e.message);
        prop_assert_eq!(got, expected.map_err(|m| format!("{BODY_PREFIX}{m}")));
        Ok(())
    });
}

/// The parameter names each method reads (from its `only` list), so generated params get past
/// "additional properties" to the checks and the actors behind them.
fn method_keys(method: &str) -> &'static [&'static str] {
    match method {
        "agent" => &[
            "message",
            "agentId",
            "to",
            "sessionId",
            "sessionKey",
            "thinking",
            "deliver",
            "attachments",
            "channel",
            "timeout",
            "lane",
            "label",
            "spawnedBy",
            "idempotencyKey",
            "model",
        ],
        "agent.wait" => &["runId", "timeoutMs"],
        "chat.send" => {
            &["sessionKey", "message", "thinking", "deliver", "attachments", "timeoutMs", "idempotencyKey", "model"]
        }
        "chat.history" => &["sessionKey", "limit"],
        "chat.abort" => &["sessionKey", "runId"],
        "sessions.list" => {
            &["limit", "activeMinutes", "includeGlobal", "includeUnknown", "label", "spawnedBy", "agentId"]
        }
        "sessions.reset" => &["key"],
        "sessions.delete" => &["key", "deleteTranscript"],
        "models.list" => &["agentId"],
        "memory.status" => &["agentId"],
        "memory.search" => &["query", "agentId", "maxResults", "minScore"],
        "logs.tail" => &["cursor", "limit", "maxBytes"],
        "cron.list" => &["includeDisabled"],
        "cron.runs" => &["id", "jobId", "limit"],
        "cron.update" => &["id", "jobId", "patch"],
        "cron.remove" => &["id", "jobId"],
        "cron.run" => &["id", "jobId", "mode"],
        "device.pair.approve" | "device.pair.reject" => &["requestId", "code"],
        "device.token.rotate" => &["deviceId", "role", "scopes"],
        "device.token.revoke" => &["deviceId", "role"],
        _ => &[],
    }
}

/// The keys a method refuses to go without.
fn method_required(method: &str) -> &'static [&'static str] {
    match method {
        "agent" => &["message"],
        "chat.send" => &["sessionKey", "message"],
        "agent.wait" => &["runId"],
        "memory.search" => &["query"],
        "chat.history" | "chat.abort" => &["sessionKey"],
        "sessions.reset" | "sessions.delete" => &["key"],
        "cron.runs" | "cron.remove" | "cron.run" => &["id"],
        "cron.update" => &["id", "patch"],
        "device.pair.approve" | "device.pair.reject" => &["requestId"],
        "device.token.rotate" | "device.token.revoke" => &["deviceId", "role"],
        _ => &[],
    }
}

/// Stands for the id of a job an earlier `cron.add` of the pass made.
const JOB_ID: &str = "@job";

/// Values a parameter might take: the ones methods look for, and anything.
fn param_value() -> BoxedStrategy<Value> {
    const WORDS: &[&str] = &[
        "main",
        "agent:main:fuzz",
        "agent:main:main",
        "agent:other:x",
        "global",
        "fuzz-job",
        "config-0",
        "due",
        "force",
        "operator",
        "node",
        "off",
        "high",
        "deepseek/deepseek-chat",
        "hello",
        "../x",
        "",
        JOB_ID,
        JOB_ID,
    ];
    prop_oneof![
        3 => select(WORDS).prop_map(Value::from),
        2 => (0u64..3000).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => vec(select(WORDS).prop_map(Value::from), 0..3).prop_map(Value::Array),
        2 => json_any(),
    ]
    .boxed()
}

/// Writes change the config (and could move the port or the token away from this pass); the
/// config loader targets above fuzz what they parse.
const LIVE_SKIPPED: &[&str] = &["config.set", "config.patch", "config.apply"];

/// A schedule as `cron.add` takes it: text or spec, with anchors and times anywhere in i64.
fn rpc_schedule() -> BoxedStrategy<Value> {
    let every_spec = (prop_oneof![1000u64..100_000, any::<u64>()], proptest::option::of(any::<i64>()))
        .prop_map(|(every, anchor)| json!({"kind": "every", "everyMs": every, "anchorMs": anchor}));
    let cron_spec = cron_case().prop_map(|(expr, tz, _)| json!({"kind": "cron", "expr": expr, "tz": tz}));
    prop_oneof![
        cron_case().prop_map(|(expr, _, _)| json!(expr)),
        (1u64..100, select(&["s", "m", "h", "ms", "d"][..])).prop_map(|(n, u)| json!(format!("every {n}{u}"))),
        rfc3339().prop_map(|(t, _)| json!(format!("at {t}"))),
        every_spec,
        proptest::option::of(any::<i64>()).prop_map(|at| json!({"kind": "at", "atMs": at})),
        cron_spec,
    ]
    .boxed()
}

/// A job for `cron.add` (a patch for `cron.update`: the same keys, some left out).
fn cron_job() -> BoxedStrategy<Value> {
    let agent = || proptest::option::of(select(&["main", "fuzz", "bad id!"][..]));
    let payload = prop_oneof![
        proptest::option::of(0u32..20).prop_map(|keep| json!({"kind": "backupSessions", "keep": keep})),
        (non_empty_text(), agent(), proptest::option::of(1u64..5))
            .prop_map(|(m, a, t)| json!({"kind": "agentTurn", "message": m, "agentId": a, "timeoutSeconds": t})),
    ];
    let tz = proptest::option::of(prop_oneof![select(TIME_ZONES).prop_map(str::to_string), text()]);
    let flag = || proptest::option::of(any::<bool>());
    (proptest::option::of(text()), rpc_schedule(), tz, payload, (flag(), flag(), flag()), agent())
        .prop_map(|(name, schedule, tz, payload, (enabled, catch_up, delete_after_run), agent_id)| {
            let job = json!({"name": name, "schedule": schedule, "tz": tz, "payload": payload, "enabled": enabled,
                             "catchUp": catch_up, "deleteAfterRun": delete_after_run, "agentId": agent_id});
            // Absent, not null: serde refuses null for a bool.
            let set = job.as_object().into_iter().flatten().filter(|(_, v)| !v.is_null());
            Value::Object(set.map(|(k, v)| (k.clone(), v.clone())).collect())
        })
        .boxed()
}

fn live_body() -> impl Strategy<Value = Vec<u8>> {
    let methods: Vec<&'static str> = method_names().into_iter().filter(|m| !LIVE_SKIPPED.contains(m)).collect();
    select(methods).prop_flat_map(|method| {
        let keys = method_keys(method);
        let own = if keys.is_empty() {
            Just(Value::Null).boxed()
        } else {
            let needed: Vec<_> = method_required(method)
                .iter()
                .map(|k| {
                    proptest::option::weighted(0.9, param_value()).prop_map(move |v| v.map(|v| (k.to_string(), v)))
                })
                .collect();
            (needed, vec((select(keys), param_value()), 0..4))
                .prop_map(|(needed, more)| {
                    let more = more.into_iter().map(|(k, v)| (k.to_string(), v));
                    Value::Object(needed.into_iter().flatten().chain(more).collect())
                })
                .boxed()
        };
        // cron.add takes a job, cron.update a patch of one: as the config schema has them.
        let job = match method {
            "cron.add" => cron_job(),
            "cron.update" => cron_job().prop_map(|patch| json!({"id": JOB_ID, "patch": patch})).boxed(),
            _ => json_any(),
        };
        let params = prop_oneof![4 => own, 1 => Just(Value::Null), 1 => json_any(), 4 => job];
        params.prop_map(move |params| json!({"method": method, "params": params}).to_string().into_bytes())
    })
}

/// A whole gateway in this process, for the live pass.
struct Live {
    addr: std::net::SocketAddr,
    /// The gateway's state dir, removed after it stops.
    _state: tempfile::TempDir,
    /// Resolves the gateway's shutdown future (on drop).
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

const LIVE_TOKEN: &str = "fuzz-live-token";

impl Live {
    fn start() -> Self {
        let state = tempfile::tempdir().expect("tempdir");
        // No mDNS (no avahi needed) and no file watcher: nothing restarts but what fails.
        let config = format!(
            "{{ gateway: {{ auth: {{ token: '{LIVE_TOKEN}' }}, reload: {{ mode: 'off' }} }}, \
             discovery: {{ mdns: {{ mode: 'off' }} }}, logging: {{ level: 'error' }} }}"
        );
        std::fs::write(state.path().join("config.json5"), config).expect("write config");
        let options = common::inprocess_options(state.path());
        let loaded = load(&options).expect("config loads");
        let gateway = openclaw::gateway::Gateway::new(loaded, options, None);
        let handle = gateway.handle();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            gateway.serve(async {
                let _ = rx.await;
            })
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            assert!(!thread.is_finished(), "the gateway ended during start-up");
            if let Some(a) = handle.ready().and_then(|a| a.first().copied()) {
                break a;
            }
            assert!(Instant::now() < deadline, "the in-process gateway was not ready within 30 s");
            std::thread::sleep(Duration::from_millis(10));
        };
        Self { addr, _state: state, shutdown: Some(tx) }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One `POST /rpc` on a keep-alive connection: the status and the body.
fn post_rpc(conn: &mut std::io::BufReader<std::net::TcpStream>, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{BufRead, Read, Write};
    let head = format!(
        "POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {LIVE_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // One write: a head and a body in two segments meet Nagle and delayed ACKs (40 ms each).
    conn.get_mut().write_all(&[head.as_bytes(), body].concat())?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("status line {line:?}")))?;
    let mut length = 0;
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut out = vec![0; length];
    conn.read_exact(&mut out)?;
    Ok((status, out))
}

/// `POST /rpc` bodies through the whole gateway: every method's parameter checks and the
/// actors behind them. Every answer is `{ok, ...}` JSON with a status the README lists, and
/// afterwards no child has restarted (a panic in an actor restarts it).
#[test]
fn fuzz_rpc_body_through_a_live_gateway() {
    let live = Live::start();
    let addr = live.addr;
    let connect = move || {
        let s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        std::io::BufReader::new(s)
    };
    let conn = Arc::new(Mutex::new(connect()));
    let jobs: Arc<Mutex<Vec<String>>> = Arc::default();
    fuzz("rpc-body/live", 600, live_body, move |body| {
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
        // Jobs made earlier in the pass, so update, run, runs and remove reach a real job.
        let placeholder = format!("\"{JOB_ID}\"");
        let body = match jobs.get(body.len() % jobs.len().max(1)) {
            Some(id) => String::from_utf8_lossy(&body).replace(&placeholder, &format!("\"{id}\"")).into_bytes(),
            None => body,
        };
        let (status, answer) = match post_rpc(&mut conn, &body) {
            Ok(r) => r,
            Err(e) => return Err(TestCaseError::fail(format!("no answer: {e}"))),
        };
        let v: Value = serde_json::from_slice(&answer).map_err(|e| {
            TestCaseError::fail(format!("{status}: not JSON ({e}): {}", String::from_utf8_lossy(&answer)))
        })?;
        prop_assert!([200, 400, 403, 404, 409, 429, 503, 504].contains(&status), "{status}: {v}");
        prop_assert_eq!(v["ok"].as_bool(), Some(status == 200), "{}: {}", status, v);
        if let Some(id) = v["payload"]["id"].as_str().filter(|_| body.starts_with(br#"{"method":"cron.add""#)) {
            jobs.push(id.to_string());
        }
        Ok(())
    });
    let mut conn = connect();
    let (status, health) = post_rpc(&mut conn, br#"{"method":"health"}"#).expect("health after the pass");
    let health: Value = serde_json::from_slice(&health).expect("JSON");
    assert_eq!(status, 200, "{health}");
    let children = health["payload"]["children"].as_array().expect("children");
    assert!(children.iter().all(|c| c["restarts"] == 0), "a child restarted during the pass: {health}");
}

// ------------------------------------------------------------------------------------------
// Regressions: the exact inputs of crashes the targets found
// ------------------------------------------------------------------------------------------

/// Runs `f` on its own thread and fails if it has not answered within `limit`: for inputs
/// that once never returned.
fn within<T: Send + 'static>(what: &str, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|e| panic!("{what}: no answer within {limit:?} ({e})"))
}

/// config/bytes found it: `OPENCLAW____Gq_M` is the path `["", "gqM"]`, so validation reports
/// the unknown key `""`, and finding its line searched for the empty string forever.
#[test]
fn an_empty_key_from_an_env_override_is_reported_not_searched_for_forever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openclaw.json");
    let text = "{\n  agents: {},\n  cron: {\n    enabled: false\n  },\n  memory: {\n    chunkSize: 988,\n    indexEnabled: false\n  }\n}";
    std::fs::write(&file, text).expect("write");
    let env = EnvSnapshot::from_pairs([("OPENCLAW____Gq_M".to_string(), "89k2".to_string())]);
    let opts = options(&file, env);
    let result = within("load with OPENCLAW____Gq_M", Duration::from_secs(10), move || load(&opts));
    let e = result.expect_err("an unknown key is refused");
    assert!(e.problems.iter().any(|p| p.path.is_empty() && p.message.starts_with("unknown key \"\"")), "{e}");
    // The same key written in the file.
    let line = within("locate an empty key", Duration::from_secs(10), || validate::locate("{\n  \"\": 1\n}", ""));
    assert_eq!(line, None);
}

/// device/arbitrary found it: a `signedAt` this far from now overflowed `now - signedAt`
/// (a panic in debug builds; in release a wrapped difference).
#[test]
fn a_signed_at_near_the_end_of_i64_is_expired_not_an_overflow() {
    let p = connect::parse(&json!({"minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "webchat-ui", "version": "", "platform": "", "mode": "webchat"}}))
    .expect("valid params");
    let d = connect::DeviceProof {
        id: "2044a15278f54f8023755066ca6719aacb2f9ff82d171a9d258fcdb0e3a1766e".into(),
        public_key: "Wako0AZIe0bFE9zUf2BvFDVTLQX5QcUA93Jd5GI5Xjo".into(),
        signature: String::new(),
        signed_at: -335_400_505_078_087_079,
        nonce: None,
    };
    assert_eq!(device::verify(&p, &d, "", "", 8_887_971_531_776_688_729, false), Err(DeviceError::Expired));
    // device/signed: the same through a real signature.
    let id = Identity::generate();
    let d = id.prove(&p, "", None, -794_994_734_489_741_486);
    assert_eq!(device::verify(&p, &d, "", "", 8_428_377_302_365_034_322, false), Err(DeviceError::Expired));
    assert_eq!(device::verify(&p, &d, "", "", -794_994_734_489_741_486, true), Ok(()));
}

/// schedule/every-at found it: the next run of an `every` schedule overflowed when the moment
/// or the anchor was near the ends of i64; `anchorMs` comes from a config or `cron.add`.
#[test]
fn every_schedules_near_the_ends_of_i64_compute_without_overflow() {
    let s = schedule::parse(&Schedule::Text("every 1s".into()), None, 0).expect("parses");
    assert_eq!(s.next_after(i64::MAX), None, "the next run is past the end of time");
    assert_eq!(s.next_after(1_500), Some(2_000));
    let spec = Schedule::Spec(ScheduleSpec::Every { every_ms: 1000, anchor_ms: Some(i64::MIN) });
    let s = schedule::parse(&spec, None, 0).expect("parses");
    // i64::MIN is 192 past a whole second: so is every run.
    assert_eq!(s.next_after(1_700_000_000_000), Some(1_700_000_000_192));
    assert_eq!(
        s.missed(1_700_000_000_000, 1_700_000_002_500, 10),
        (3, Some(1_700_000_000_192), Some(1_700_000_002_192))
    );
}
