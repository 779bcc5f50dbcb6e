//! Channels under operations, end to end with both fakes: a reload that changes the Discord
//! token restarts Discord only (Slack and WebSocket clients stay connected), a rules change
//! applies without a reconnect, a channel account that panics is restarted without answering
//! anything twice, and `/health` reports a connected channel that has gone quiet.

mod common;

use std::time::Duration;

use common::discord::{FakeDiscord, MessageSpec};
use common::provider::MockProvider;
use common::slack::FakeSlack;
use common::{Gateway, Spawn, wait_until};
use serde_json::{Value, json};

const BOT: &str = "xoxb-ops-bot";
const APP: &str = "xapp-ops-app";
const T: Duration = Duration::from_secs(15);

fn cfg(discord_token: &str, discord_dm: &str, extra: &str) -> String {
    format!(
        "{{ agents: {{ defaults: {{ model: 'mock/say' }} }}, \
         channels: {{ {extra} discord: {{ token: '{discord_token}', dm: {{ policy: '{discord_dm}' }} }}, \
                     slack: {{ botToken: '{BOT}', appToken: '{APP}', dm: {{ policy: 'open' }} }} }} }}"
    )
}

struct Setup {
    discord: FakeDiscord,
    slack: FakeSlack,
    _provider: MockProvider,
    gw: Gateway,
}

fn start(cfg: &str, discord_token: &str) -> Setup {
    let (discord, slack, provider) =
        (FakeDiscord::start(discord_token), FakeSlack::start(BOT, APP), MockProvider::start());
    let gw = provider
        .install(Spawn::default().config(cfg), &["say"])
        .env("OPENCLAW_DISCORD_API_BASE", &discord.api_base())
        .env("OPENCLAW_DISCORD_GATEWAY_URL", &discord.gateway_url())
        .env("OPENCLAW_SLACK_API_BASE", &slack.api_base())
        .start();
    discord.wait_ready_sessions(1, T);
    wait_until("the Slack socket", T, || (slack.open() == 1).then_some(()));
    Setup { discord, slack, _provider: provider, gw }
}

fn dm(s: &Setup, text: &str) {
    s.discord.send(MessageSpec::dm("D1", "U1", text));
    wait_until(&format!("the reply to {text:?}"), T, || {
        s.discord.posted().iter().any(|p| p.content == text).then_some(())
    });
}

fn discord_status(s: &Setup) -> Value {
    let mut ws = s.gw.ws();
    ws.call("channels.status", json!({}))["payload"]["channels"]["discord"].clone()
}

#[test]
fn a_new_discord_token_restarts_discord_only_and_new_rules_apply_without_a_reconnect() {
    let s = start(&cfg("tok-a", "open", ""), "tok-a");
    let mut client = s.gw.ws();
    dm(&s, "before");
    s.discord.set_token("tok-b");
    common::write_by_rename(&s.gw.config_path(), &cfg("tok-b", "open", ""));
    wait_until("Discord identified with the new token", T, || {
        (s.discord.identifies() == 2 && s.discord.last_identify()?["token"] == "tok-b").then_some(())
    });
    s.discord.wait_ready_sessions(2, T);
    dm(&s, "after the token change");
    assert_eq!(s.slack.connections(), 1, "Slack kept its socket");
    assert_eq!(client.call("health", json!({}))["ok"], true, "the WebSocket client kept its session");
    // A policy change reaches the running account: no new connection anywhere.
    common::write_by_rename(&s.gw.config_path(), &cfg("tok-b", "disabled", ""));
    s.gw.wait_log("channel rules changed; applied without reconnecting");
    s.discord.send(MessageSpec::dm("D1", "U1", "DMs are off now"));
    s.discord.send(MessageSpec::guild("G1", "C1", "U1", "not allowed either", true));
    common::write_by_rename(&s.gw.config_path(), &cfg("tok-b", "open", ""));
    wait_until("the rules switched back", T, || {
        (s.gw.dump_logs().matches("channel rules changed; applied without reconnecting").count() == 2).then_some(())
    });
    dm(&s, "DMs are on again");
    assert!(s.discord.posted().iter().all(|p| p.content != "DMs are off now"), "{:?}", s.discord.posted());
    assert_eq!((s.discord.connections(), s.slack.connections()), (2, 1), "no reconnect for a rules change");
}

#[test]
fn a_panicking_channel_account_is_restarted_and_answers_nothing_twice() {
    let s = start(&cfg("tok-a", "open", ""), "tok-a");
    dm(&s, "first");
    s.discord.send(MessageSpec::dm("D1", "U1", "openclaw-fault:panic"));
    wait_until("the account restarted", T, || {
        let st = discord_status(&s);
        (st["restarts"] == 1 && st["connected"] == true).then_some(st)
    });
    s.gw.wait_log("channel account failed; restarting");
    dm(&s, "after the panic");
    let posts = s.discord.posted();
    assert_eq!(posts.iter().filter(|p| p.content == "first").count(), 1, "{posts:?}");
    assert!(posts.iter().all(|p| !p.content.contains("openclaw-fault")), "{posts:?}");
    let health = s.gw.health();
    let child = health["children"].as_array().unwrap().iter().find(|c| c["id"] == "channels").cloned().unwrap();
    assert_eq!((child["state"].as_str(), child["restarts"].as_u64()), (Some("running"), Some(0)), "{child}");
    assert_eq!(s.slack.connections(), 1, "Slack untouched");
}

#[test]
fn health_reports_a_connected_channel_that_went_quiet_after_traffic() {
    let s = start(&cfg("tok-a", "open", "staleAfterSeconds: 1,"), "tok-a");
    assert_eq!(s.gw.health()["channels"]["discord:default"]["healthy"], true, "no traffic yet: nothing expected");
    dm(&s, "some traffic");
    let h =
        s.gw.wait_health("the quiet Discord channel reported", |h| h["channels"]["discord:default"]["stale"] == true);
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["channels"]["slack:default"]["healthy"], true, "Slack never had traffic: {h}");
    dm(&s, "more traffic");
    assert_eq!(s.gw.health()["channels"]["discord:default"]["stale"], false);
}
