//! Usage methods: `usage.cost` (tokens and cost per day, from the transcripts) and
//! `usage.status` (provider quota windows: none known here).

use serde_json::{Value, json};

use super::Params;
use crate::agents::{models, transcript, usage_report};
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

pub fn status(p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    // No provider reports quota windows to this gateway: an empty list is upstream's "nothing known".
    Ok(json!({"updatedAt": chrono::Utc::now().timestamp_millis(), "providers": []}))
}

/// Checks the params; the scan itself ([`cost`]) reads files, so it runs off the event loop.
pub fn cost_days(p: &Params) -> Result<u64, ErrorShape> {
    p.only(&["days"])?;
    Ok(p.opt_u64("days", 1, 3650)?.unwrap_or(30))
}

pub fn cost(s: &Runtime, days: u64) -> Value {
    let state_dir = &s.options.paths.state_dir;
    let live = s.config();
    let now = chrono::Utc::now();
    let since = now.date_naive() - chrono::Days::new(days - 1);
    let mut entries = Vec::new();
    let mut catalogues = std::collections::HashMap::new();
    for (agent, file) in usage_report::transcripts(state_dir) {
        let (lines, _) = transcript::read(&file);
        for e in lines.into_iter().filter(|e| e.get("usage").is_some_and(Value::is_object)) {
            entries.push((agent.clone(), e));
        }
        catalogues.entry(agent.clone()).or_insert_with(|| {
            models::load_merged(&models::path(state_dir, &agent), &live.loaded.config.models.providers).ok()
        });
    }
    let (mut daily, mut totals) = (Default::default(), usage_report::Totals::default());
    // Each agent's entries priced with its own catalogue.
    for (agent, cat) in &catalogues {
        let price = |r: &str| cat.as_ref().and_then(|c| c.price(r));
        let (d, t) = usage_report::summarize(entries.iter().filter(|(a, _)| a == agent).map(|(_, e)| e), since, &price);
        usage_report::merge(&mut daily, &mut totals, d, t);
    }
    usage_report::report(&daily, totals, days, now.timestamp_millis())
}
