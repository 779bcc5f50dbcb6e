//! Token usage and cost over days (`usage.cost`), summed from the usage each assistant turn
//! records in its transcript line, priced with models.json's `cost` when it has one.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use serde_json::{Value, json};

use super::models::Price;

/// One day's (or the whole range's) sums, upstream's field names.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
        self.total_tokens += o.total_tokens;
        self.total_cost += o.total_cost;
    }

    pub fn to_json(self) -> Value {
        json!({"input": self.input, "output": self.output, "cacheRead": self.cache_read,
               "cacheWrite": self.cache_write, "totalTokens": self.total_tokens, "totalCost": self.total_cost})
    }
}

/// What one transcript entry used (`None`: the entry records no usage).
pub fn of_entry(entry: &Value, price: &dyn Fn(&str) -> Option<Price>) -> Option<Totals> {
    let raw = entry.get("usage").filter(|u| u.is_object())?;
    let u = super::usage(raw);
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut t = Totals { input: n("input"), output: n("output"), cache_read: n("cacheRead"), ..Totals::default() };
    t.total_tokens = n("total");
    if let Some(p) = entry.get("model").and_then(Value::as_str).and_then(price) {
        t.total_cost =
            (t.input as f64 * p.input + t.output as f64 * p.output + t.cache_read as f64 * p.cache_read) / 1_000_000.0;
    }
    Some(t)
}

/// Per-day sums (UTC dates) of the entries from `since` on, and their total.
pub fn summarize<'a>(
    entries: impl IntoIterator<Item = &'a Value>,
    since: NaiveDate,
    price: &dyn Fn(&str) -> Option<Price>,
) -> (BTreeMap<NaiveDate, Totals>, Totals) {
    let mut daily: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
    let mut totals = Totals::default();
    for e in entries {
        let Some(date) = e.get("ts").and_then(Value::as_i64).and_then(DateTime::from_timestamp_millis) else {
            continue;
        };
        let date = date.date_naive();
        if date < since {
            continue;
        }
        if let Some(t) = of_entry(e, price) {
            daily.entry(date).or_default().add(&t);
            totals.add(&t);
        }
    }
    (daily, totals)
}

/// Adds one part's sums (another agent's) into the running ones.
pub fn merge(daily: &mut BTreeMap<NaiveDate, Totals>, totals: &mut Totals, d: BTreeMap<NaiveDate, Totals>, t: Totals) {
    for (date, v) in d {
        daily.entry(date).or_default().add(&v);
    }
    totals.add(&t);
}

/// Every transcript of every agent under `state_dir` (files whose name ends in `.jsonl`).
pub fn transcripts(state_dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for agent in super::roster::ids(state_dir) {
        let dir = super::transcript::dir(state_dir, &agent);
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "jsonl") {
                out.push((agent.clone(), e.path()));
            }
        }
    }
    out
}

/// `usage.cost`'s answer over the last `days` days (today included).
pub fn report(daily: &BTreeMap<NaiveDate, Totals>, totals: Totals, days: u64, now_ms: i64) -> Value {
    let daily: Vec<Value> = daily
        .iter()
        .map(|(d, t)| {
            let mut v = t.to_json();
            v["date"] = json!(d.format("%Y-%m-%d").to_string());
            v
        })
        .collect();
    json!({"updatedAt": now_ms, "days": days, "daily": daily, "totals": totals.to_json()})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day_ms(y: i32, m: u32, d: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp_millis()
    }

    #[test]
    fn sums_per_day_from_the_start_date_priced_per_million() {
        let entries = [
            json!({"ts": day_ms(2026, 1, 1), "model": "p/m", "usage": {"prompt_tokens": 1000, "completion_tokens": 10}}),
            json!({"ts": day_ms(2026, 1, 2), "model": "p/m", "usage": {"prompt_tokens": 1000, "completion_tokens": 500,
                   "total_tokens": 1500, "prompt_tokens_details": {"cached_tokens": 400}}}),
            json!({"ts": day_ms(2026, 1, 2), "model": "other/x", "usage": {"prompt_tokens": 5, "completion_tokens": 5}}),
            json!({"ts": day_ms(2026, 1, 2), "message": {"role": "user", "content": "no usage"}}),
            json!({"ts": day_ms(2026, 1, 3), "usage": null}),
        ];
        let price =
            |r: &str| (r == "p/m").then_some(Price { input: 1.0, output: 2.0, cache_read: 0.5, cache_write: 0.0 });
        let since = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let (daily, totals) = summarize(&entries, since, &price);
        assert_eq!(daily.len(), 1);
        let want_cost = (600.0 + 500.0 * 2.0 + 400.0 * 0.5) / 1e6;
        assert_eq!(
            totals,
            Totals {
                input: 605,
                output: 505,
                cache_read: 400,
                cache_write: 0,
                total_tokens: 1510,
                total_cost: want_cost
            }
        );
        let r = report(&daily, totals, 2, 7);
        assert_eq!(r["daily"][0]["date"], "2026-01-02");
        assert_eq!(r["totals"]["totalTokens"], 1510);
        assert_eq!((&r["days"], &r["updatedAt"]), (&json!(2), &json!(7)));
    }
}
