//! What the Control UI asks about parts this gateway does not run yet, answered in upstream's
//! shapes so its tabs render: `node.list` (no nodes), `channels.status` (configured channels
//! listed as not running), `skills.status` (no skills), `last-heartbeat` (no heartbeats).

use serde_json::{Map, Value, json};

use super::Params;
use crate::config::model::Channel;
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn node_list(p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    Ok(json!({"ts": now(), "nodes": []}))
}

pub fn last_heartbeat(p: &Params) -> Result<Value, ErrorShape> {
    p.only(&[])?;
    Ok(Value::Null)
}

pub fn skills_status(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["agentId"])?;
    p.opt_str("agentId")?;
    let state = &s.options.paths.state_dir;
    Ok(json!({"workspaceDir": state.join("workspace"), "managedSkillsDir": state.join("skills"), "skills": []}))
}

/// Upstream's labels and system images for the channels the config names.
const META: &[(&str, &str, &str, &str)] =
    &[("discord", "Discord", "Discord Bot", "bubble.left.and.bubble.right"), ("slack", "Slack", "Slack Bot", "number")];

pub fn channels_status(s: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["probe", "timeoutMs"])?;
    match p.obj()?.and_then(|o| o.get("probe")) {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(_) => return Err(p.bad("at /probe: must be boolean")),
    }
    p.opt_u64("timeoutMs", 1000, 600_000)?;
    let live = s.config();
    let channels = &live.loaded.config.channels;
    let (mut order, mut labels, mut details, mut images) = (vec![], Map::new(), Map::new(), Map::new());
    let (mut meta, mut summaries, mut accounts, mut defaults) = (vec![], Map::new(), Map::new(), Map::new());
    for &(id, label, detail, image) in META {
        let c: &Channel = if id == "discord" { &channels.discord } else { &channels.slack };
        if !c.enabled {
            continue;
        }
        order.push(id);
        labels.insert(id.into(), json!(label));
        details.insert(id.into(), json!(detail));
        images.insert(id.into(), json!(image));
        meta.push(json!({"id": id, "label": label, "detailLabel": detail, "systemImage": image}));
        // Enabled in the config, but no channel runs in this gateway yet: say so, never "running".
        let configured = c.bot_token.is_some();
        let summary = json!({"configured": configured, "tokenSource": if configured { "config" } else { "none" },
            "running": false, "lastStartAt": null, "lastStopAt": null,
            "lastError": "channel not implemented by this gateway", "probe": null, "lastProbeAt": null});
        let mut account = summary.clone();
        account["accountId"] = json!("default");
        account["enabled"] = json!(true);
        summaries.insert(id.into(), summary);
        accounts.insert(id.into(), json!([account]));
        defaults.insert(id.into(), json!("default"));
    }
    Ok(json!({"ts": now(), "channelOrder": order, "channelLabels": labels, "channelDetailLabels": details,
              "channelSystemImages": images, "channelMeta": meta, "channels": summaries,
              "channelAccounts": accounts, "channelDefaultAccountId": defaults}))
}
