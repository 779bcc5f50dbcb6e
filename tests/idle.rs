//! An idle gateway sleeps: with nothing connected and nothing to do, it wakes about once a
//! second at most (the mDNS check every 3 s, cron and auth upkeep), counted as context switches
//! of all its threads over 10 s. It woke about 30 times a second before presence flushing and
//! mDNS polling waited for work and actix-http's Date cache stopped ticking (patches/actix-http).

mod common;

use std::time::Duration;

use common::{Spawn, wait_until};

/// Context switches (voluntary and not) of thread `tid` of `pid`, or of every thread.
fn switches(pid: i32, tid: Option<i32>) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the gateway's threads");
    tasks
        .flatten()
        .filter(|t| tid.is_none_or(|tid| t.file_name().to_str() == Some(tid.to_string().as_str())))
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[test]
fn an_idle_gateway_wakes_rarely() {
    let gw = Spawn::default().start();
    let pid = gw.pid();
    // Past start-up: the settle timer that gives start-up pages back, the first checks.
    let (main0, all0) = wait_until("start-up to settle", Duration::from_secs(20), || {
        let a = switches(pid, Some(pid));
        std::thread::sleep(Duration::from_secs(3));
        let b = switches(pid, Some(pid));
        (b - a <= 6).then(|| (b, switches(pid, None)))
    });
    std::thread::sleep(Duration::from_secs(10));
    let (main, all) = (switches(pid, Some(pid)) - main0, switches(pid, None) - all0);
    assert!(main <= 15, "the main thread woke {main} times in 10 s of idling (it was ~210)");
    // At most one a second, doubled for a busy machine; the HTTP workers' share was ~85.
    assert!(all <= 20, "the gateway woke {all} times in 10 s of idling (it was ~300)");
}
