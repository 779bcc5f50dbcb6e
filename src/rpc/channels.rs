//! `channels.status` in upstream's shape (per channel and account: configured, running, the
//! last start/stop/error/inbound/outbound, and with `probe` the platform's own answer:
//! Discord `GET /users/@me`, Slack `auth.test`), and DM pairing for the Control UI:
//! `channels.pairing.list` and `channels.pairing.approve` (the CLI's `openclaw pairing`).

use serde_json::{Map, Value, json};

use super::Params;
use crate::channels::pairing::Store;
use crate::channels::settings::{self, DISCORD, SLACK, Tokens};
use crate::channels::{discord, slack};
use crate::protocol::ErrorShape;
use crate::rpc::Runtime;

/// Upstream's labels and system images.
const META: &[(&str, &str, &str, &str)] =
    &[(DISCORD, "Discord", "Discord Bot", "bubble.left.and.bubble.right"), (SLACK, "Slack", "Slack Bot", "number")];

/// Asks the platform who the token belongs to, within `timeout`.
async fn probe(rt: &Runtime, channel: &str, timeout: std::time::Duration) -> Value {
    let cfg = rt.config();
    let env = &rt.options.env;
    let asked = async {
        match settings::tokens(&cfg.loaded.config, channel) {
            Some(Tokens::Discord { bot }) => {
                discord::rest::Rest::new(&discord::api_base(env), &bot).me().await.map(|v| v["username"].clone())
            }
            Some(Tokens::Slack { bot, .. }) => {
                slack::web::Web::new(&slack::api_base(env), &bot, None).auth_test().await.map(|v| v["user"].clone())
            }
            None => Err(crate::channels::api::ApiError::Failed("not configured".into())),
        }
    };
    match tokio::time::timeout(timeout, asked).await {
        Ok(Ok(bot)) => json!({"ok": true, "status": 200, "error": null, "bot": bot}),
        Ok(Err(e)) => {
            let status = if matches!(e, crate::channels::api::ApiError::Auth(_)) { 401 } else { 0 };
            json!({"ok": false, "status": status, "error": e.to_string()})
        }
        Err(_) => json!({"ok": false, "status": 0, "error": "probe timed out"}),
    }
}

pub async fn status(rt: &Runtime, p: &Params<'_>) -> Result<Value, ErrorShape> {
    p.only(&["probe", "timeoutMs"])?;
    let want_probe = match p.obj()?.and_then(|o| o.get("probe")) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(p.bad("at /probe: must be boolean")),
    };
    let timeout = std::time::Duration::from_millis(p.opt_u64("timeoutMs", 1000, 600_000)?.unwrap_or(10_000));
    let accounts = rt.channels.all();
    let (mut order, mut labels, mut details, mut images) = (vec![], Map::new(), Map::new(), Map::new());
    let (mut meta, mut summaries, mut per_channel, mut defaults) = (vec![], Map::new(), Map::new(), Map::new());
    for &(id, label, detail, image) in META {
        let mine: Vec<_> = accounts.iter().filter(|(c, _, _)| c == id).collect();
        if mine.is_empty() {
            continue;
        }
        order.push(id);
        labels.insert(id.into(), json!(label));
        details.insert(id.into(), json!(detail));
        images.insert(id.into(), json!(image));
        meta.push(json!({"id": id, "label": label, "detailLabel": detail, "systemImage": image}));
        let probed = if want_probe { Some(probe(rt, id, timeout).await) } else { None };
        let mut list = Vec::new();
        for (_, account, st) in mine {
            let mut v = serde_json::to_value(st).expect("serializes");
            v["probe"] = probed.clone().unwrap_or(Value::Null);
            v["lastProbeAt"] = if want_probe { json!(crate::sys::now_ms()) } else { Value::Null };
            if account == settings::ACCOUNT {
                summaries.insert(id.into(), v.clone());
            }
            v["accountId"] = json!(account);
            v["enabled"] = json!(st.configured);
            list.push(v);
        }
        per_channel.insert(id.into(), Value::Array(list));
        defaults.insert(id.into(), json!(settings::ACCOUNT));
    }
    Ok(json!({"ts": crate::sys::now_ms(), "channelOrder": order, "channelLabels": labels,
              "channelDetailLabels": details, "channelSystemImages": images, "channelMeta": meta,
              "channels": summaries, "channelAccounts": per_channel, "channelDefaultAccountId": defaults}))
}

fn channel_param(p: &Params) -> Result<String, ErrorShape> {
    let c = p.str("channel")?;
    if c != DISCORD && c != SLACK {
        return Err(p.bad("at /channel: must be \"discord\" or \"slack\""));
    }
    Ok(c)
}

/// `{channel?}` -> `{requests: [{channel, code, senderId, senderName?, createdAtMs}]}`.
pub fn pairing_list(rt: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["channel"])?;
    let store = Store::new(&rt.options.paths.state_dir);
    let channels = match p.opt_str("channel")? {
        Some(_) => vec![channel_param(p)?],
        None => vec![DISCORD.to_string(), SLACK.to_string()],
    };
    let mut out = Vec::new();
    for c in channels {
        for r in store.pending(&c, crate::sys::now_ms()).map_err(|e| ErrorShape::unavailable(e.to_string()))? {
            let mut v = serde_json::to_value(&r).expect("serializes");
            v["channel"] = json!(c);
            out.push(v);
        }
    }
    Ok(json!({"requests": out}))
}

/// `{channel, code}` -> `{approved: {senderId, ...}}`; an unknown or expired code is refused.
pub fn pairing_approve(rt: &Runtime, p: &Params) -> Result<Value, ErrorShape> {
    p.only(&["channel", "code"])?;
    let channel = channel_param(p)?;
    let code = p.str("code")?.trim().to_uppercase();
    let store = Store::new(&rt.options.paths.state_dir);
    match store.approve(&channel, &code, crate::sys::now_ms()).map_err(|e| ErrorShape::unavailable(e.to_string()))? {
        Some(r) => {
            tracing::info!(channel = %channel, sender = %r.sender_id, "pairing approved");
            Ok(json!({"approved": r}))
        }
        None => Err(ErrorShape::invalid(format!(
            "no pending pairing request with code {code} on {channel} (expired after 1 h, or already approved)"
        ))),
    }
}
