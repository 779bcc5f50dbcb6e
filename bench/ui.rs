//! Control UI figures on the release build, in Debian's headless Chromium (`tests/common/cdp.rs`):
//! page load to first data shown (the page's own `openclaw:first-data` mark, from navigation
//! start), a chat delta from the provider's write to the screen, the gateway's CPU while a UI
//! idles on the overview against none open, and the embedded assets' size gzipped.
//! Writes `bench/results/ui.json`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::Spawn;
use common::cdp::Browser;
use common::provider::MockProvider;
use serde_json::json;

/// Page loads measured (after one warm-up load).
const LOADS: usize = 10;
/// Deltas of the streamed reply, and the provider's pause between two.
const DELTAS: usize = 40;
const DELTA_GAP_MS: u64 = 25;
/// How long the gateway's CPU is read, with no UI and with one idling.
const IDLE_WINDOW: Duration = Duration::from_secs(30);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// The gateway's CPU over `IDLE_WINDOW`, in percent of one core.
fn cpu_percent(pid: i32) -> f64 {
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(IDLE_WINDOW);
    (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0
}

fn main() {
    let mock = MockProvider::start();
    let model = format!("slow-{DELTAS}-{DELTA_GAP_MS}");
    let gw = mock.install(Spawn::default(), &[model.as_str()]).start();
    let url = |path: &str| format!("http://{}{path}", gw.addr);

    let cpu_without_ui = cpu_percent(gw.pid());

    let mut b = Browser::start("bench");
    b.navigate(&url("/"));
    b.wait("the sign-in form", "document.querySelector('#token')");
    b.fill("#token", &gw.token());
    b.click("#unauthorized button[type=submit]");
    b.wait("the connection", "document.querySelector('#conn').dataset.state === 'connected'");

    // Page load -> connected -> first data: each a fresh navigation (assets from the cache, as
    // a returning user has them; the first load fetched them).
    let mut loads = Vec::new();
    for _ in 0..=LOADS {
        b.navigate(&url("/overview"));
        let ms = b.wait("the first-data mark", "performance.getEntriesByName('openclaw:first-data')[0]?.startTime");
        loads.push(ms.as_f64().unwrap());
    }
    let first_load = loads.remove(0);
    loads.sort_by(f64::total_cmp);

    let cpu_with_ui = cpu_percent(gw.pid());

    // A streamed reply: when each delta shows, against when the provider wrote it (one clock:
    // the browser's wall time and the mock's are the same machine's).
    b.navigate(&url("/chat"));
    b.wait(
        "the chat page",
        "document.querySelector('main oc-chat #send') && !document.querySelector('#send').disabled",
    );
    b.eval(
        "window.__shown = []; new MutationObserver(() => { \
           const m = document.querySelector('.msg.assistant.streaming .text'); if (!m) return; \
           const n = (m.textContent.match(/tick/g) || []).length; \
           while (window.__shown.length < n) window.__shown.push(performance.timeOrigin + performance.now()); \
         }).observe(document.querySelector('#messages'), {subtree: true, childList: true, characterData: true})",
    );
    b.fill("#message", "count");
    b.click("#send");
    b.wait_for("the final answer", "document.querySelector('.msg.assistant.final')", Duration::from_secs(30));
    let shown: Vec<f64> = serde_json::from_value(b.eval("window.__shown")).unwrap();
    let sent = mock.seen.delta_sent_ms.lock().unwrap().clone();
    let mut lags: Vec<f64> = sent.iter().zip(&shown).map(|(s, d)| d - *s as f64).collect();
    lags.sort_by(f64::total_cmp);

    // Every embedded file is served as its own response: gzipped one by one.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/assets");
    let (mut raw, mut gzipped) = (0usize, 0usize);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        raw += bytes.len();
        gzipped += gz.finish().unwrap().len();
    }

    let out = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "page_load_to_first_data_ms": {
            "first_visit_after_sign_in": first_load,
            "loads": loads.len(), "p50": percentile(&loads, 0.5), "max": loads[loads.len() - 1],
            "target": 300,
        },
        "chat_delta_to_screen_ms": {
            "deltas": lags.len(), "sent": sent.len(), "p50": percentile(&lags, 0.5), "p99": percentile(&lags, 0.99),
            "max": lags[lags.len() - 1], "target": 20,
        },
        "gateway_cpu_percent_of_one_core": {
            "window_s": IDLE_WINDOW.as_secs(), "no_ui": cpu_without_ui, "ui_idle_on_overview": cpu_with_ui,
            "ui_cost": cpu_with_ui - cpu_without_ui, "target_ui_cost": 1.0,
        },
        "embedded_assets_bytes": {"raw": raw, "gzipped": gzipped, "target_gzipped": 250 * 1024},
    });
    let text = serde_json::to_string_pretty(&out).unwrap();
    println!("{text}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/ui.json");
    std::fs::write(path, text + "\n").unwrap();
}
