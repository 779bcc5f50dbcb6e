//! Latency summaries shared by the benches that include this file (`#[path] mod stats;`):
//! n, min, p50, p99 and max of samples in milliseconds.

use serde_json::{Value, json};

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// p50 / p99 / max of samples in milliseconds.
pub fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    json!({"n": ms.len(), "min_ms": ms[0], "p50_ms": pct(&ms, 0.5), "p99_ms": pct(&ms, 0.99),
           "max_ms": ms[ms.len() - 1]})
}
