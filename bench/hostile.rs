//! Hostile-client figures on the release build: each attack of `tests/common/hostile.rs` run in
//! turn against a fresh gateway, with the probe's `health` p99 quiet and under attack (target:
//! within 3x), its slowest call, the calls each p99 rests on, and the gateway's peak RSS against
//! the ceiling the attack states; and the floods' floor, the same flood against a bare acceptor
//! while the probe measures the untouched gateway. Writes `bench/results/hostile.json`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::hostile::{self, FIGURES};

fn main() {
    if std::env::var_os(hostile::BARE_ACCEPTOR).is_some() {
        return hostile::bare_acceptor();
    }
    let scenarios: [(&str, fn()); 9] = [
        ("slowloris", hostile::slowloris_headers_are_cut_within_the_head_timeout),
        ("half-open", hostile::ten_thousand_half_open_connections),
        // The same run's baseline for the floods: what they cost the probe with the gateway untouched.
        ("floor", hostile::half_open_floor),
        ("oversized", hostile::oversized_headers_and_frames_are_refused_without_buffering),
        ("wrong tokens", hostile::wrong_token_floods_lock_out_and_hold),
        ("malformed frames", hostile::invalid_utf8_and_bad_control_frames_close_with_their_code),
        ("ping flood", hostile::a_ping_flood_is_closed_and_costs_nothing),
        ("deflate offer", hostile::permessage_deflate_is_not_negotiated),
        ("never reads", hostile::a_client_that_never_reads_is_cut_and_freed),
    ];
    // OPENCLAW_BENCH_ONLY=<name>[,<name>...]: those attacks only (names as listed above).
    let only = std::env::var("OPENCLAW_BENCH_ONLY").ok();
    for (name, run) in scenarios {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|o| o.trim() == name)) {
            continue;
        }
        eprintln!("hostile: {name}");
        run();
    }
    let figures = FIGURES.lock().unwrap().clone();
    println!(
        "{:<42} {:>10} {:>10} {:>7} {:>9} {:>13} {:>9} {:>9}",
        "attack", "quiet p99", "p99", "ratio", "max", "calls", "peak RSS", "ceiling"
    );
    for f in &figures {
        println!(
            "{:<42} {:>7.2} ms {:>7.2} ms {:>6.2}x {:>6.1} ms {:>6}/{:<6} {:>5.1} MiB {:>5.1} MiB",
            f.attack,
            f.quiet_p99_ms,
            f.attack_p99_ms,
            f.ratio,
            f.attack_max_ms,
            f.quiet_calls,
            f.attack_calls,
            f.peak_rss_mib,
            f.ceiling_mib
        );
    }
    // The floor is the machine's, not an attack on the gateway.
    let worst = figures.iter().filter(|f| !f.attack.starts_with("floor")).map(|f| f.ratio).fold(0.0, f64::max);
    println!("worst ratio {worst:.2}x (target <= 3x)");
    let out = serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "attacks": figures,
        "worst_ratio": worst,
    });
    let path = std::env::var("OPENCLAW_BENCH_OUT").unwrap_or_else(|_| "bench/results/hostile.json".into());
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap() + "\n").expect("write the results");
    eprintln!("wrote {path}");
}
