//! Lane benchmark, in process against the real LaneActor under the real supervisor:
//! dispatch overhead (enqueue -> slot granted) with no-op jobs, no-op jobs per second through
//! a lane of 4, and the memory of 100,000 queued jobs. Run: `cargo bench --bench lanes`
//! (see bench/README.md). Writes bench/results/lanes.json.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw::actors::children::ChildRegistry;
use openclaw::actors::lane;
use openclaw::actors::supervisor::{Supervisor, SupervisorHandles};
use openclaw::config::env::EnvSnapshot;
use openclaw::config::live::LiveConfig;
use openclaw::config::{LoadOptions, Paths};
use openclaw::lanes::Lanes;

const SEQ_JOBS: usize = 20_000;
const THROUGHPUT_JOBS: usize = 400_000;
const PRODUCERS: usize = 16;
const QUEUED: usize = 100_000;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let env = EnvSnapshot::from_pairs([]);
    let opts = LoadOptions {
        paths: Paths::resolve(None, Some(state.path()), &env),
        env,
        flags: vec![
            ("bench".into(), "lanes.main.queueCapacity".into(), serde_json::json!(1_000_000)),
            ("bench".into(), "agents.defaults.maxConcurrent".into(), serde_json::json!(4)),
        ],
        require_file: false,
    };
    let loaded = openclaw::config::load(&opts).expect("default config");
    let system = actix::System::new();
    let results = system.block_on(run(loaded));
    let out = serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "results": results,
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/lanes.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// Only what a lane child needs: its lanes, the phase, the config, under a supervisor.
async fn run(loaded: openclaw::config::Loaded) -> serde_json::Value {
    use actix::Actor;
    let lanes = Arc::new(Lanes::new(&loaded.config));
    let (config, _writer) = LiveConfig::new(loaded);
    let (phase_writer, _reload, phase) = openclaw::lifecycle::phase();
    let registry = Arc::new(ChildRegistry::default());
    let (stopping, _) = openclaw::topic::topic();
    let handles = SupervisorHandles {
        config: config.clone(),
        phase: phase_writer,
        listen: tokio::sync::watch::channel(Vec::new()).1,
        children: tokio::sync::watch::channel(Vec::new()).0,
        registry: registry.clone(),
        stopping,
    };
    let lane_handles = lane::LaneHandles { lanes: lanes.clone(), phase, config };
    Supervisor::new(vec![lane::spec("lane.main", lane_handles)], handles).start();
    let t0 = Instant::now();
    while registry.get::<lane::LaneActor>("lane.main").is_none() {
        assert!(t0.elapsed() < Duration::from_secs(5), "the lane actor did not start");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    let main = lanes.get("main").unwrap().clone();

    // 1. Dispatch overhead: one job at a time on an idle lane, enqueue -> slot granted.
    let mut lat = Vec::with_capacity(SEQ_JOBS);
    for _ in 0..SEQ_JOBS {
        let t = Instant::now();
        let slot = main.enqueue("noop").unwrap().slot().await.unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        drop(slot);
    }
    lat.sort_by(f64::total_cmp);
    let dispatch = serde_json::json!({"jobs": SEQ_JOBS, "p50_us": pct(&lat, 0.5), "p99_us": pct(&lat, 0.99),
                                      "max_us": lat[lat.len() - 1]});

    // 2. Throughput: producers keep the lane of 4 busy with no-op jobs.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..PRODUCERS {
        let lane = main.clone();
        tasks.push(actix_rt::spawn(async move {
            for _ in 0..THROUGHPUT_JOBS / PRODUCERS {
                drop(lane.enqueue("noop").unwrap().slot().await.unwrap());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    let throughput = serde_json::json!({"jobs": THROUGHPUT_JOBS, "limit": 4, "producers": PRODUCERS,
                                        "seconds": secs, "jobs_per_s": THROUGHPUT_JOBS as f64 / secs});

    // 3. Memory: 4 running jobs hold the lane; 100,000 more wait in its queue.
    let held: Vec<_> = futures_join(&main, 4).await;
    let before = rss_kib();
    let pending: Vec<_> = (0..QUEUED).map(|_| main.enqueue("queued job").unwrap()).collect();
    let after = rss_kib();
    let queued = main.stats().queued;
    assert_eq!(queued, QUEUED);
    drop(pending);
    drop(held);
    let memory = serde_json::json!({"queued": QUEUED, "rss_before_kib": before, "rss_after_kib": after,
                                    "delta_mib": (after - before) as f64 / 1024.0,
                                    "bytes_per_job": (after - before) as f64 * 1024.0 / QUEUED as f64});
    actix::System::current().stop();
    serde_json::json!({"dispatch": dispatch, "throughput": throughput, "memory_100k_queued": memory})
}

async fn futures_join(lane: &Arc<openclaw::lanes::Lane>, n: usize) -> Vec<openclaw::lanes::Slot> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(lane.enqueue("hold").unwrap().slot().await.unwrap());
    }
    out
}
