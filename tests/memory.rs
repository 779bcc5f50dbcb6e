//! Memory end to end: the real binary's `openclaw memory` commands and gateway over a real
//! workspace, with the fake embeddings server in `common::embedder`. Keyword-only and CJK hits,
//! a semantic hit sharing no word with the query, an edit re-embedding only its own chunks, a
//! model change re-embedding in the background with keyword fallback meanwhile, `kill -9`
//! mid-index, the agent's memory tools, and memory switched off.

mod common;

use std::path::Path;
use std::time::Duration;

use common::embedder::FakeEmbedder;
use common::provider::MockProvider;
use common::{Gateway, Spawn, run, wait_until, write_by_rename};
use serde_json::{Value, json};

fn put(state: &Path, rel: &str, text: &str) {
    let p = state.join("workspace").join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn remote(fake: &FakeEmbedder, model: &str) -> String {
    format!("{{ memory: {{ remote: {{ baseUrl: '{}' }}, embeddingModel: '{model}' }} }}", fake.base_url())
}

fn state_with(config: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("config.json5"), config).unwrap();
    d
}

fn cli(state: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(state, args, &[]);
    assert_eq!(code, 0, "openclaw {args:?}: {out}{err}");
    out
}

fn search(state: &Path, query: &str) -> Value {
    serde_json::from_str(&cli(state, &["memory", "search", query, "--json"])).unwrap()
}

fn paths(v: &Value) -> Vec<String> {
    v["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap().to_string()).collect()
}

fn status(state: &Path) -> Value {
    let v: Value = serde_json::from_str(&cli(state, &["memory", "status", "--json"])).unwrap();
    v["agents"][0].clone()
}

fn chunk_ids(state: &Path, path: &str) -> Vec<i64> {
    let db = rusqlite::Connection::open(state.join("memory/main.sqlite")).unwrap();
    let mut st = db.prepare("SELECT id FROM chunks WHERE path = ?1 ORDER BY id").unwrap();
    st.query_map([path], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn rpc_status(ws: &mut common::Ws) -> Value {
    let r = ws.call("memory.status", json!({"agentId": "main"}));
    assert_eq!(r["ok"], true, "{r}");
    r["payload"]["agents"][0].clone()
}

#[test]
fn without_an_embedder_keyword_hits_and_cjk_are_found_and_status_says_keyword_only() {
    let d = state_with("{}");
    let s = d.path();
    put(s, "MEMORY.md", "# Ops\nThe deploy key lives in vault path secret/ops/deploy.\n");
    put(s, "memory/2026-12-01.md", "今天我们讨论了部署密钥的轮换计划。\n");
    put(s, "memory/shopping.md", "Groceries: milk, eggs and bread.\n");
    put(s, "README.md", "The deploy key is not memory: this file is not indexed.\n");
    let out = cli(s, &["memory", "index"]);
    assert!(out.contains("3 files") && out.contains("mode keyword"), "{out}");

    let v = search(s, "deploy key");
    assert_eq!(paths(&v), ["MEMORY.md"], "{v}");
    let hit = &v["results"][0];
    assert_eq!((hit["startLine"].as_u64(), hit["endLine"].as_u64()), (Some(1), Some(2)), "{v}");
    assert_eq!(hit["source"], "memory");
    assert!(hit["snippet"].as_str().unwrap().contains("secret/ops/deploy"), "{v}");
    assert_eq!(v["mode"], "keyword");
    assert!(v["fallback"].as_str().unwrap().contains("no embedder configured"), "{v}");

    assert_eq!(paths(&search(s, "部署密钥")), ["memory/2026-12-01.md"]);
    assert_eq!(paths(&search(s, "密钥")), ["memory/2026-12-01.md"], "two characters: below a trigram");
    assert!(paths(&search(s, "zebra")).is_empty());

    let st = status(s);
    assert_eq!((st["files"].as_u64(), st["dirty"].as_u64()), (Some(3), Some(0)), "{st}");
    assert_eq!(st["mode"], "keyword");
    assert!(st["fallback"].as_str().unwrap().contains("memory.remote"), "names the fix: {st}");
    let human = cli(s, &["memory", "status"]);
    assert!(human.contains("keyword-only: no embedder configured"), "{human}");
}

#[test]
fn with_only_common_words_chunks_holding_all_of_them_lead_and_the_rest_still_come() {
    // Both words are in half the chunks or more: the search asks for chunks with all of them
    // first and tops the list up with chunks holding any; a one-word hit must not be lost.
    let d = state_with("{}");
    let s = d.path();
    put(s, "memory/both.md", "The budget review is on Friday.\n");
    for i in 0..2 {
        put(s, &format!("memory/budget-{i}.md"), &format!("Budget line {i}: approved.\n"));
    }
    for i in 0..2 {
        put(s, &format!("memory/review-{i}.md"), &format!("Review note {i}: done.\n"));
    }
    cli(s, &["memory", "index"]);
    let v = search(s, "budget review");
    let found = paths(&v);
    assert_eq!(found.first().map(String::as_str), Some("memory/both.md"), "{v}");
    assert_eq!(found.len(), 5, "every chunk with either word: {v}");
}

#[test]
fn a_semantic_hit_is_found_with_no_word_shared_with_the_query() {
    let fake = FakeEmbedder::start();
    let d = state_with(&remote(&fake, "embed-1"));
    let s = d.path();
    put(s, "memory/family.md", "Yesterday we got a new automobile for the family.\n");
    put(s, "memory/food.md", "Dinner recipes: pasta with tomatoes.\n");
    put(s, "MEMORY.md", "Remember to water the plants on Fridays.\n");
    cli(s, &["memory", "index"]);
    assert_eq!(fake.inputs(), 3);
    let v = search(s, "vehicle");
    assert_eq!(v["mode"], "hybrid", "{v}");
    assert_eq!(paths(&v), ["memory/family.md"], "{v}");
    assert_eq!(status(s)["mode"], "hybrid");
    // Keywords still count in hybrid mode: an exact word the vectors miss is found.
    assert_eq!(paths(&search(s, "Fridays"))[0], "MEMORY.md");
}

#[test]
fn editing_a_file_re_embeds_only_its_own_chunks() {
    let fake = FakeEmbedder::start();
    let d = state_with(&remote(&fake, "embed-1"));
    let s = d.path();
    put(s, "memory/a.md", "alpha notes\n");
    put(s, "memory/b.md", &(1..=200).map(|i| format!("beta line {i} with some words in it\n")).collect::<String>());
    cli(s, &["memory", "index"]);
    let (inputs, b_ids) = (fake.inputs(), chunk_ids(s, "memory/b.md"));
    assert!(b_ids.len() > 1, "b spans several chunks");

    put(s, "memory/a.md", "alpha notes\nand one more line\n");
    let out = cli(s, &["memory", "index"]);
    assert!(out.contains("(1 changed)"), "{out}");
    assert_eq!(fake.inputs() - inputs, 1, "only a.md's one chunk is embedded again");
    assert_eq!(chunk_ids(s, "memory/b.md"), b_ids, "b.md's chunks are untouched");
    assert_eq!(paths(&search(s, "one more line"))[0], "memory/a.md");

    let inputs = fake.inputs();
    let out = cli(s, &["memory", "index"]);
    assert!(out.contains("(0 changed)"), "{out}");
    assert_eq!(fake.inputs(), inputs, "nothing changed, nothing embedded");
    // A removed file leaves the index.
    std::fs::remove_file(s.join("workspace/memory/a.md")).unwrap();
    cli(s, &["memory", "index"]);
    assert!(search(s, "alpha")["results"].as_array().unwrap().is_empty());
    assert_eq!(status(s)["files"], 1);
}

#[test]
fn a_model_change_re_embeds_in_the_background_with_keyword_search_meanwhile() {
    let fake = FakeEmbedder::start();
    // Upstream's spelling of the settings.
    let config = |model: &str| {
        format!(
            "{{ agents: {{ defaults: {{ memorySearch: {{ remote: {{ baseUrl: '{}' }}, model: '{model}' }} }} }} }}",
            fake.base_url()
        )
    };
    let spawn = Spawn::default().config(&config("embed-1"));
    put(spawn.state.path(), "memory/cars.md", "We bought an automobile.\n");
    put(spawn.state.path(), "memory/notes.md", "The release train leaves on Tuesday.\n");
    let gw = spawn.start();
    let mut ws = gw.ws();
    wait_until("the first index to be hybrid", Duration::from_secs(20), || {
        let st = rpc_status(&mut ws);
        (st["mode"] == "hybrid" && st["pendingEmbeddings"] == 0).then_some(())
    });

    fake.set_delay(Duration::from_secs(3));
    write_by_rename(&gw.config_path(), &config("embed-2"));
    let st = wait_until("the new model to put search in keyword mode", Duration::from_secs(20), || {
        let st = rpc_status(&mut ws);
        (st["mode"] == "keyword").then_some(st)
    });
    // Never the old model's vectors: keyword-only from the moment the settings change.
    let stale = |why: &Value| {
        let why = why.as_str().unwrap_or_default();
        why.contains("re-embedding") || why.contains("another embedder")
    };
    assert!(stale(&st["fallback"]), "{st}");
    let r = ws.call("memory.search", json!({"query": "release train"}));
    assert_eq!(r["payload"]["mode"], "keyword", "{r}");
    assert_eq!(r["payload"]["results"][0]["path"], "memory/notes.md", "{r}");
    assert!(stale(&r["payload"]["fallback"]), "{r}");

    fake.set_delay(Duration::ZERO);
    wait_until("re-embedding with the new model to finish", Duration::from_secs(30), || {
        (rpc_status(&mut ws)["mode"] == "hybrid").then_some(())
    });
    assert!(fake.models_seen().contains(&"embed-2".to_string()));
    let r = ws.call("memory.search", json!({"query": "vehicle"}));
    assert_eq!(r["payload"]["mode"], "hybrid", "{r}");
    assert_eq!(r["payload"]["results"][0]["path"], "memory/cars.md", "{r}");
    assert!(gw.has_log("re-embedding finished"), "{}", gw.dump_logs());
}

#[test]
fn kill_9_while_indexing_leaves_a_usable_database_that_finishes_on_the_next_start() {
    let fake = FakeEmbedder::start();
    let spawn = Spawn::default().config(&remote(&fake, "embed-1"));
    for i in 0..600 {
        put(spawn.state.path(), &format!("memory/n{i:03}.md"), &format!("note number {i} about topic{}\n", i % 7));
    }
    fake.set_delay(Duration::from_millis(1500));
    let gw = spawn.start();
    let mut ws = gw.ws();
    // The first round of 512 vectors is committed; the rest are in flight.
    wait_until("the first embedding round to be stored", Duration::from_secs(30), || {
        let st = rpc_status(&mut ws);
        (st["sync"]["phase"] == "embedding" && st["sync"]["done"].as_u64() >= Some(512)).then_some(())
    });
    let state = gw.kill_keep_state();

    let db = rusqlite::Connection::open(state.path().join("memory/main.sqlite")).unwrap();
    let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let (chunks, pending): (i64, i64) =
        db.query_row("SELECT count(*), sum(embedded = 0) FROM chunks", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(chunks, 600, "every file's chunks were committed");
    assert!(pending > 0 && pending < 600, "killed part way: {pending} pending");
    drop(db);

    fake.set_delay(Duration::ZERO);
    let gw = Spawn::in_state(state).config(&remote(&fake, "embed-1")).start();
    let mut ws = gw.ws();
    let st = wait_until("the next start to finish the index", Duration::from_secs(30), || {
        let st = rpc_status(&mut ws);
        (st["pendingEmbeddings"] == 0 && st["mode"] == "hybrid").then_some(st)
    });
    assert_eq!(st["files"], 600, "{st}");
    let r = ws.call("memory.search", json!({"query": "note number 599"}));
    assert_eq!(r["payload"]["results"][0]["path"], "memory/n599.md", "{r}");
}

fn tool_result(ws: &mut common::Ws, key: &str, tool: &str, args: Value) -> (String, bool) {
    let params = json!({"message": args.to_string(), "model": format!("mock/call-{tool}"),
                        "sessionKey": format!("agent:main:{key}"), "idempotencyKey": key});
    ws.send_text(&json!({"type": "req", "id": key, "method": "agent", "params": params}).to_string());
    let mut result = None;
    let mut responses = 0;
    while responses < 2 {
        let v = ws.recv().unwrap_or_else(|c| panic!("closed during run {key}: {c:?}"));
        if v["type"] == "res" && v["id"] == key {
            responses += 1;
        } else if v["event"] == "agent" && v["payload"]["stream"] == "tool" && v["payload"]["data"]["phase"] == "result"
        {
            let d = &v["payload"]["data"];
            result = Some((
                d["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string(),
                d["isError"].as_bool().unwrap(),
            ));
        }
    }
    result.unwrap_or_else(|| panic!("no {tool} result"))
}

fn agent_gateway(mock: &MockProvider, config: &str) -> Gateway {
    let spawn = mock
        .install(Spawn::default().config(config), &["call-memory_search", "call-memory_get"])
        .env("OPENCLAW__AGENTS__DEFAULTS__SANDBOX__MODE", "off");
    put(spawn.state.path(), "MEMORY.md", "# Home\nThe wifi password is hunter2.\n");
    put(spawn.state.path(), "notes.md", "Not a memory file.\n");
    spawn.start()
}

#[test]
fn the_agent_searches_and_reads_its_memory_and_nothing_else() {
    let mock = MockProvider::start();
    let gw = agent_gateway(&mock, "{}");
    let mut ws = gw.ws();
    wait_until("the start-up index", Duration::from_secs(20), || (rpc_status(&mut ws)["files"] == 1).then_some(()));

    let (text, err) = tool_result(&mut ws, "s1", "memory_search", json!({"query": "wifi password"}));
    assert!(!err, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["results"][0]["path"], "MEMORY.md", "{v}");
    assert!(v["results"][0]["snippet"].as_str().unwrap().contains("hunter2"), "{v}");
    assert_eq!(v["mode"], "keyword");

    let (text, err) = tool_result(&mut ws, "g1", "memory_get", json!({"path": "MEMORY.md", "from": 2, "lines": 1}));
    assert!(!err, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["text"], "The wifi password is hunter2.");
    for (i, bad) in ["notes.md", "../config.json5", "memory/../notes.md", "/etc/passwd"].iter().enumerate() {
        let (text, err) = tool_result(&mut ws, &format!("bad{i}"), "memory_get", json!({"path": bad}));
        assert!(err && text.contains("is not a memory file"), "{bad}: {text}");
    }
    // A new note is indexed by the watcher without a restart.
    put(gw.state_path(), "memory/today.md", "Met Alice about the roadmap.\n");
    wait_until("the watcher to index a new note", Duration::from_secs(20), || {
        let r = ws.call("memory.search", json!({"query": "roadmap"}));
        (r["payload"]["results"][0]["path"] == "memory/today.md").then_some(())
    });
}

#[test]
fn memory_off_hides_the_tools_and_says_how_to_turn_it_on() {
    let mock = MockProvider::start();
    let gw = agent_gateway(&mock, "{ memory: { indexEnabled: false } }");
    let mut ws = gw.ws();
    let lanes = ws.call("lanes.status", json!({}));
    let tools = lanes["payload"]["tools"]["main"]["tools"].as_array().unwrap();
    assert!(!tools.iter().any(|t| t.as_str().unwrap().starts_with("memory_")), "{tools:?}");
    let r = ws.call("memory.search", json!({"query": "wifi"}));
    assert_eq!(r["ok"], false);
    assert!(r["error"]["message"].as_str().unwrap().contains("memory.indexEnabled"), "{r}");
    let (code, _, err) = run(gw.state_path(), &["memory", "search", "wifi"], &[]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("memory.indexEnabled"), "{err}");
    assert!(!gw.state_path().join("memory/main.sqlite").exists(), "nothing indexed while off");
    // Bad input: a search without a query, an overlap not below the chunk size.
    let r = ws.call("memory.status", json!({"agentId": 5}));
    assert_eq!(r["ok"], false, "{r}");
    let d = state_with("{ memory: { chunkSize: 100, chunkOverlap: 100 } }");
    let (code, out, err) = run(d.path(), &["config", "validate"], &[]);
    assert_eq!(code, 78, "{out}{err}");
    assert!(format!("{out}{err}").contains("memory.chunkOverlap"), "{out}{err}");
}

#[test]
fn a_models_json_provider_serves_embeddings_and_an_outage_leaves_keyword_search() {
    let fake = FakeEmbedder::start();
    let d = state_with("{ memory: { provider: 'local', embeddingModel: 'embed-1' } }");
    let s = d.path();
    let agent = s.join("agents/main/agent");
    std::fs::create_dir_all(&agent).unwrap();
    let models = json!({"providers": {"local": {"baseUrl": fake.base_url(), "apiKey": "k", "models": []}}});
    std::fs::write(agent.join("models.json"), models.to_string()).unwrap();
    put(s, "memory/cars.md", "We bought an automobile.\n");
    put(s, "memory/plants.md", "Water the ferns weekly.\n");

    // The embedder is down: the files are indexed for keywords, the vectors wait.
    fake.set_failing(true);
    let (code, out, err) = run(s, &["memory", "index"], &[]);
    assert_eq!(code, 69, "{out}{err}");
    assert!(err.contains("embeddings") && err.contains("500"), "{err}");
    let v = search(s, "ferns");
    assert_eq!((v["mode"].as_str(), paths(&v)), (Some("keyword"), vec!["memory/plants.md".to_string()]), "{v}");
    let st = status(s);
    assert_eq!((st["files"].as_u64(), st["pendingEmbeddings"].as_u64()), (Some(2), Some(2)), "{st}");
    assert!(st["sync"]["lastSyncAtMs"].is_null(), "a failed pass is not a sync: {st}");

    fake.set_failing(false);
    cli(s, &["memory", "index"]);
    let v = search(s, "vehicle");
    assert_eq!((v["mode"].as_str(), v["provider"].as_str()), (Some("hybrid"), Some("local")), "{v}");
    assert_eq!(paths(&v), ["memory/cars.md"]);
    let human = cli(s, &["memory", "status"]);
    assert!(
        human.contains("hybrid (keywords + vectors from local embed-1)") && human.contains("last sync: 20"),
        "{human}"
    );
}

#[test]
fn session_transcripts_are_searchable_when_they_are_a_source() {
    let mock = MockProvider::start();
    let spawn = mock
        .install(Spawn::default().config("{ memory: { sources: ['memory', 'sessions'] } }"), &["echo"])
        .env("OPENCLAW__AGENTS__DEFAULTS__SANDBOX__MODE", "off");
    let gw = spawn.start();
    let mut ws = gw.ws();
    let r = ws.call(
        "agent",
        json!({"message": "the quarterly budget review is on Thursday", "model": "mock/echo",
               "sessionKey": "agent:main:t1", "idempotencyKey": "t1"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let hit = wait_until("the transcript to be indexed", Duration::from_secs(20), || {
        let r = ws.call("memory.search", json!({"query": "quarterly budget"}));
        let hit = r["payload"]["results"][0].clone();
        (hit["source"] == "sessions").then_some(hit)
    });
    assert!(hit["path"].as_str().unwrap().starts_with("sessions/"), "{hit}");
    assert!(hit["snippet"].as_str().unwrap().contains("User: the quarterly budget review"), "{hit}");
}
