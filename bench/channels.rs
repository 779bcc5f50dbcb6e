//! Channel benchmark, the release binary against the fake Discord of `tests/common` and the
//! instant mock provider: inbound message -> first reply chunk posted (sequential DMs), 100 DMs
//! from 100 senders at once (all answered once, the main lane's concurrency respected), and
//! reconnect -> receiving again after the fake comes back. Run: `cargo bench --bench channels`
//! (see bench/README.md). Writes bench/results/channels.json.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "stats.rs"]
mod stats;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::discord::{FakeDiscord, MessageSpec};
use common::provider::MockProvider;
use common::{Spawn, wait_until};
use serde_json::json;
use stats::summary;

const TOKEN: &str = "bench-token";
const SEQUENTIAL: usize = 200;
const WARMUP: usize = 10;
const BURST: usize = 100;
const RECONNECTS: usize = 10;
const CONCURRENCY: usize = 4;
const T: Duration = Duration::from_secs(60);
const TARGET_P50_MS: f64 = 10.0;
const TARGET_RECONNECT_S: f64 = 2.0;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let fake = FakeDiscord::start(TOKEN);
    let provider = MockProvider::start();
    let cfg = format!(
        "{{ agents: {{ defaults: {{ model: 'mock/ok', maxConcurrent: {CONCURRENCY} }} }}, \
         lanes: {{ main: {{ queueCapacity: 1000 }}, session: {{ queueCapacity: 100 }} }}, \
         session: {{ dmScope: 'per-channel-peer' }}, channels: {{ discord: {{ dm: {{ policy: 'open' }} }} }} }}"
    );
    let gw = provider
        .install(Spawn::default().config(&cfg), &["ok"])
        .env("OPENCLAW_DISCORD_API_BASE", &fake.api_base())
        .env("OPENCLAW_DISCORD_GATEWAY_URL", &fake.gateway_url())
        .env("DISCORD_BOT_TOKEN", TOKEN)
        .start();
    fake.wait_ready_sessions(1, T);

    // 1. One DM at a time: dispatch -> the reply's POST received by the fake.
    let mut latencies = Vec::new();
    for i in 0..WARMUP + SEQUENTIAL {
        let before = fake.posted().len();
        let t0 = Instant::now();
        fake.send(MessageSpec::dm("D1", "U1", &format!("ping {i}")));
        let posts = wait_until("the reply", T, || {
            let p = fake.posted();
            (p.len() > before).then_some(p)
        });
        if i >= WARMUP {
            latencies.push(posts[before].at.duration_since(t0).as_secs_f64() * 1000.0);
        }
    }
    let latency = summary(latencies);

    // 2. 100 senders at once, each in its own DM and session.
    provider.seen.max_in_flight.store(0, Ordering::SeqCst);
    let before = fake.posted().len();
    let t0 = Instant::now();
    for i in 0..BURST {
        fake.send(MessageSpec::dm(&format!("B{i}"), &format!("S{i}"), "hello"));
    }
    let posts = wait_until("all 100 answered", T, || {
        let p = fake.posted();
        (p.len() >= before + BURST).then_some(p)
    });
    let burst_s = t0.elapsed().as_secs_f64();
    let mut per_channel: HashMap<String, usize> = HashMap::new();
    for p in &posts[before..] {
        *per_channel.entry(p.channel_id.clone()).or_default() += 1;
    }
    let answered = per_channel.len();
    let duplicates = per_channel.values().filter(|n| **n > 1).count();
    let max_in_flight = provider.seen.max_in_flight.load(Ordering::SeqCst);

    // 3. Reconnect: the fake goes away, comes back; time until the session is ready again.
    let mut reconnect_ms = Vec::new();
    for r in 0..RECONNECTS {
        fake.set_down(true);
        wait_until("the socket gone", T, || (fake.live() == 0).then_some(()));
        // Long enough for the backoff to reach its cap.
        std::thread::sleep(Duration::from_millis(1500));
        let ready_before = 2 + r;
        let t0 = Instant::now();
        fake.set_down(false);
        fake.wait_ready_sessions(ready_before, T);
        reconnect_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let reconnect = summary(reconnect_ms);
    let after = fake.posted().len();
    fake.send(MessageSpec::dm("D1", "U1", "after the reconnects"));
    fake.wait_posted(after + 1, T);

    let out = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "results": {
            "first_reply_ms": latency,
            "first_reply_target_p50_ms": TARGET_P50_MS,
            "burst": {"messages": BURST, "answered": answered, "duplicates": duplicates, "seconds": burst_s,
                      "max_runs_in_flight": max_in_flight, "lane_concurrency": CONCURRENCY},
            "reconnect_to_ready_ms": reconnect,
            "reconnect_target_s": TARGET_RECONNECT_S,
        },
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/channels.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    assert_eq!((answered, duplicates), (BURST, 0), "every DM answered once");
    assert!(max_in_flight <= CONCURRENCY, "lane concurrency exceeded: {max_in_flight}");
    drop(gw);
}
