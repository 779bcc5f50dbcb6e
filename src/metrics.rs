//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4 through the `prometheus`
//! crate): counters updated where things happen (requests, errors, auth failures) and gauges
//! read at scrape time from the facts their owners publish (lanes, connections, reloads, children, process).

use std::time::Duration;

use parking_lot::Mutex;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    /// Per-method children, made on a method's first use and then reached without a label
    /// lookup; unused methods add no series to the scrape.
    per_method:
        std::collections::HashMap<&'static str, std::sync::OnceLock<(prometheus::IntCounter, prometheus::Histogram)>>,
    errors: IntCounterVec,
    auth_failures: IntCounterVec,
    queue_depth: IntGaugeVec,
    lane_active: IntGaugeVec,
    lane_rejected: IntGaugeVec,
    connections_active: IntGauge,
    connections_total: prometheus::IntCounter,
    connections_open: IntGauge,
    connections_accepted: prometheus::IntCounter,
    connections_refused: IntCounterVec,
    reloads: IntCounterVec,
    child_restarts: IntCounterVec,
    channel_messages: IntCounterVec,
    channel_reconnects: IntCounterVec,
    channel_send: HistogramVec,
    rss: IntGauge,
    cpu: prometheus::Counter,
    fds: IntGauge,
    /// One scrape at a time: the scrape-time gauges are set, then encoded.
    scrape: Mutex<()>,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauges(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::new();
        let durations = HistogramVec::new(
            HistogramOpts::new("openclaw_response_duration_seconds", "RPC handling time, by method.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method"],
        )
        .expect("valid metric");
        r.register(Box::new(durations.clone())).expect("unique metric");
        let build = gauges(&r, "openclaw_build_info", "Build information (always 1).", &["version"]);
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let cpu = prometheus::Counter::new("process_cpu_seconds_total", "User and system CPU time spent, in seconds.")
            .expect("valid metric");
        r.register(Box::new(cpu.clone())).expect("unique metric");
        let connections_total =
            prometheus::IntCounter::new("openclaw_connections_total", "WebSocket sessions since start.")
                .expect("valid metric");
        r.register(Box::new(connections_total.clone())).expect("unique metric");
        let connections_accepted = prometheus::IntCounter::new(
            "openclaw_connections_accepted_total",
            "TCP connections accepted since start (admitted or refused).",
        )
        .expect("valid metric");
        r.register(Box::new(connections_accepted.clone())).expect("unique metric");
        let channel_send = HistogramVec::new(
            HistogramOpts::new("openclaw_channel_send_seconds", "Time to post one message on a channel, by channel.")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["channel"],
        )
        .expect("valid metric");
        r.register(Box::new(channel_send.clone())).expect("unique metric");
        let requests = counter(&r, "openclaw_requests_total", "RPC requests handled, by method.", &["method"]);
        let per_method = crate::protocol::methods::METHODS
            .iter()
            .map(|m| m.name)
            .chain(["connect", "unknown"])
            .map(|m| (m, std::sync::OnceLock::new()))
            .collect();
        Self {
            per_method,
            requests,
            durations: durations.clone(),
            errors: counter(&r, "openclaw_errors_total", "RPC requests answered with an error, by code.", &["code"]),
            auth_failures: counter(
                &r,
                "openclaw_auth_failures_total",
                "Refused authentications, by reason.",
                &["reason"],
            ),
            queue_depth: gauges(&r, "openclaw_queue_depth", "Jobs waiting in each lane.", &["lane"]),
            lane_active: gauges(&r, "openclaw_lane_active", "Jobs running in each lane.", &["lane"]),
            lane_rejected: gauges(
                &r,
                "openclaw_lane_rejected",
                "Jobs refused by each lane since start (queue full or draining).",
                &["lane"],
            ),
            connections_active: gauge(&r, "openclaw_connections_active", "WebSocket sessions connected now."),
            connections_total,
            connections_open: gauge(&r, "openclaw_connections_open", "TCP connections open now (HTTP and WebSocket)."),
            connections_accepted,
            connections_refused: counter(
                &r,
                "openclaw_connections_refused_total",
                "Connections refused over a cap, by limit (total: gateway.maxConnections; per_address: gateway.maxConnectionsPerAddress).",
                &["limit"],
            ),
            reloads: counter(&r, "openclaw_reloads_total", "Config reloads since start, by outcome.", &["outcome"]),
            child_restarts: counter(
                &r,
                "openclaw_child_restarts_total",
                "Restarts of each supervised child.",
                &["child"],
            ),
            channel_messages: counter(
                &r,
                "openclaw_channel_messages_total",
                "Channel messages received (in) and posted (out), by channel.",
                &["channel", "direction"],
            ),
            channel_reconnects: counter(
                &r,
                "openclaw_channel_reconnects_total",
                "Channel connection events, by channel and kind (reconnect, resume, identify, zombie, deaf).",
                &["channel", "kind"],
            ),
            channel_send,
            rss: gauge(&r, "process_resident_memory_bytes", "Resident memory size in bytes."),
            fds: gauge(&r, "process_open_fds", "Open file descriptors."),
            cpu,
            registry: r,
            scrape: Mutex::new(()),
        }
    }
}

/// A bounded label from an auth failure message: "unauthorized: gateway token mismatch (...)"
/// becomes "gateway_token_mismatch".
pub fn reason_label(message: &str) -> String {
    let m = message.strip_prefix("unauthorized: ").unwrap_or(message);
    let m = m.split(['(', ';', ':']).next().unwrap_or(m).trim();
    m.chars().take(48).map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

impl Metrics {
    /// One RPC request answered after `took`, with its error code when it failed.
    pub fn observe(&self, method: &str, took: Duration, error: Option<crate::protocol::ErrorCode>) {
        // Unknown methods share one label, so clients cannot grow the series without bound.
        let (label, cell) = match self.per_method.get_key_value(method) {
            Some((k, c)) => (*k, c),
            None => ("unknown", &self.per_method["unknown"]),
        };
        let (count, time) = cell
            .get_or_init(|| (self.requests.with_label_values(&[label]), self.durations.with_label_values(&[label])));
        count.inc();
        time.observe(took.as_secs_f64());
        if let Some(code) = error {
            let code = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_string));
            self.errors.with_label_values(&[code.as_deref().unwrap_or("UNKNOWN")]).inc();
        }
    }

    /// A channel message received ("in") or posted ("out").
    pub fn channel_message(&self, channel: &str, direction: &str) {
        self.channel_messages.with_label_values(&[channel, direction]).inc();
    }

    pub fn channel_reconnect(&self, channel: &str, kind: &str) {
        self.channel_reconnects.with_label_values(&[channel, kind]).inc();
    }

    /// One message posted on `channel` after `took`.
    pub fn channel_send(&self, channel: &str, took: Duration) {
        self.channel_send.with_label_values(&[channel]).observe(took.as_secs_f64());
        self.channel_message(channel, "out");
    }

    pub fn auth_failed(&self, message: &str) {
        self.auth_failures.with_label_values(&[&reason_label(message)]).inc();
    }

    /// The exposition text, with the scrape-time values of `s`.
    pub fn render(&self, s: &Scrape) -> String {
        let _one = self.scrape.lock();
        for (lane, st) in &s.lanes {
            self.queue_depth.with_label_values(&[lane]).set(st.queued as i64);
            self.lane_active.with_label_values(&[lane]).set(st.active as i64);
            self.lane_rejected.with_label_values(&[lane]).set(st.rejected as i64);
        }
        self.connections_active.set(s.connections_active as i64);
        catch_up(&self.connections_total, s.connections_total);
        self.connections_open.set(s.connections_open as i64);
        catch_up(&self.connections_accepted, s.connections_accepted);
        for (limit, n) in s.connections_refused {
            catch_up(&self.connections_refused.with_label_values(&[limit]), n);
        }
        for (outcome, n) in [("applied", s.reloads[0]), ("unchanged", s.reloads[1]), ("rejected", s.reloads[2])] {
            catch_up(&self.reloads.with_label_values(&[outcome]), n);
        }
        for (id, restarts) in &s.child_restarts {
            catch_up(&self.child_restarts.with_label_values(&[id]), *restarts);
        }
        self.rss.set(s.rss_bytes as i64);
        if let Some(cpu) = cpu_seconds() {
            let seen = self.cpu.get();
            if cpu > seen {
                self.cpu.inc_by(cpu - seen);
            }
        }
        self.fds.set(open_fds());
        let mut out = Vec::with_capacity(8 * 1024);
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What a scrape reports that other owners keep: handed in by the caller, so metrics reads
/// no runtime state itself.
pub struct Scrape {
    pub lanes: Vec<(&'static str, crate::lanes::LaneStats)>,
    pub connections_active: usize,
    pub connections_total: u64,
    /// TCP connections open, and refused over each cap since start.
    pub connections_open: usize,
    pub connections_accepted: u64,
    pub connections_refused: [(&'static str, u64); 2],
    /// Reloads applied, unchanged, rejected.
    pub reloads: [u64; 3],
    pub child_restarts: Vec<(&'static str, u64)>,
    pub rss_bytes: u64,
}

/// Brings a counter up to a total kept elsewhere (monotonic; one scrape at a time).
fn catch_up(c: &prometheus::IntCounter, total: u64) {
    let seen = c.get();
    if total > seen {
        c.inc_by(total - seen);
    }
}

/// Open descriptors. Linux 6.2+ reports the count as the size of `/proc/self/fd`, read in
/// constant time; listing the directory instead costs milliseconds with 10,000 connections,
/// on the worker thread that serves the scrape (and every session it carries).
fn open_fds() -> i64 {
    match std::fs::metadata("/proc/self/fd") {
        Ok(m) if m.len() > 0 => m.len() as i64,
        _ => std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(0),
    }
}

/// utime + stime of this process, in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_reasons_are_short_stable_labels() {
        assert_eq!(
            reason_label("unauthorized: gateway token mismatch (provide gateway auth token)"),
            "gateway_token_mismatch"
        );
        assert_eq!(reason_label("pairing required"), "pairing_required");
        let m = Metrics::default();
        m.observe("health", Duration::from_millis(1), None);
        m.observe(&"x".repeat(1000), Duration::from_millis(1), None);
        assert_eq!(m.per_method["health"].get().unwrap().0.get(), 1);
        assert_eq!(m.per_method["unknown"].get().unwrap().0.get(), 1);
        assert!(m.per_method["status"].get().is_none(), "no series for methods never called");
    }
}
