//! Cron schedules: 5- or 6-field cron expressions in a time zone, `every` intervals and
//! one-shot `at` times; the next run after a moment, and the runs missed between two.
//! In `config` because loading a config checks that its schedules parse, and config sits
//! below `cron`, which plans and runs them.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::model::{Schedule, ScheduleSpec};

/// A parsed schedule. Times are Unix milliseconds.
#[derive(Debug, Clone)]
pub enum Sched {
    Cron(Box<cron::Schedule>, Tz),
    Every { every_ms: i64, anchor_ms: i64 },
    At(i64),
}

/// Parses a schedule; `tz` applies to cron expressions without their own; `created_ms`
/// anchors `every` schedules without an anchor.
pub fn parse(s: &Schedule, tz: Option<&str>, created_ms: i64) -> Result<Sched, String> {
    match s {
        Schedule::Text(t) => parse_text(t.trim(), tz, created_ms),
        Schedule::Spec(ScheduleSpec::Cron { expr, tz: own }) => cron_expr(expr, own.as_deref().or(tz)),
        Schedule::Spec(ScheduleSpec::Every { every_ms, anchor_ms }) => {
            every(*every_ms as i64, anchor_ms.unwrap_or(created_ms))
        }
        Schedule::Spec(ScheduleSpec::At { at_ms, at }) => match (at_ms, at) {
            (Some(ms), None) => Ok(Sched::At(*ms)),
            (None, Some(t)) => at_text(t),
            _ => Err("an `at` schedule needs exactly one of atMs or at".into()),
        },
    }
}

fn parse_text(t: &str, tz: Option<&str>, created_ms: i64) -> Result<Sched, String> {
    if let Some(d) = t.strip_prefix("every ") {
        return every(duration_ms(d.trim())?, created_ms);
    }
    if let Some(a) = t.strip_prefix("at ") {
        return at_text(a.trim());
    }
    cron_expr(t, tz)
}

fn every(every_ms: i64, anchor_ms: i64) -> Result<Sched, String> {
    if every_ms < 1000 {
        return Err(format!("every: the interval must be at least 1s (got {every_ms} ms)"));
    }
    Ok(Sched::Every { every_ms, anchor_ms })
}

fn at_text(t: &str) -> Result<Sched, String> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| Sched::At(d.timestamp_millis()))
        .map_err(|e| format!("at: {t:?} is not an RFC 3339 time like 2026-12-01T09:00:00Z ({e})"))
}

/// `30s`, `5m`, `2h`, `1d`, `1500ms`.
pub fn duration_ms(d: &str) -> Result<i64, String> {
    let split = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
    let (n, unit) = d.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("every: {d:?} is not a duration like 30s, 5m, 2h or 1d"))?;
    let mult = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("every: {d:?} has an unknown unit (use ms, s, m, h or d)")),
    };
    Ok(n.saturating_mul(mult))
}

fn cron_expr(expr: &str, tz: Option<&str>) -> Result<Sched, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 => expr.to_string(),
        n => {
            return Err(format!(
                "cron: {expr:?} has {n} fields; use 5 (min hour dom mon dow) or 6 (with seconds first)"
            ));
        }
    };
    let sched = cron::Schedule::from_str(&full).map_err(|e| format!("cron: {expr:?} is not valid ({e})"))?;
    let tz = match tz {
        None => Tz::UTC,
        Some(name) => Tz::from_str(name)
            .map_err(|_| format!("time zone {name:?} is unknown (use an IANA name like Europe/Berlin)"))?,
    };
    Ok(Sched::Cron(Box::new(sched), tz))
}

impl Sched {
    /// The first run strictly after `after_ms`.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Sched::Cron(s, tz) => {
                let at = tz.timestamp_millis_opt(after_ms).single()?;
                s.after(&at).next().map(|d| d.with_timezone(&Utc).timestamp_millis())
            }
            Sched::Every { every_ms, anchor_ms } => {
                if after_ms < *anchor_ms {
                    return Some(*anchor_ms);
                }
                let k = (after_ms - anchor_ms) / every_ms + 1;
                Some(anchor_ms + k * every_ms)
            }
            Sched::At(t) => (*t > after_ms).then_some(*t),
        }
    }

    /// Runs in `(from_ms, to_ms]`: how many (counting at most `cap`), the first and the last.
    pub fn missed(&self, from_ms: i64, to_ms: i64, cap: usize) -> (usize, Option<i64>, Option<i64>) {
        let (mut n, mut first, mut last) = (0, None, None);
        while let Some(next) = self.next_after(last.unwrap_or(from_ms)).filter(|t| *t <= to_ms) {
            first.get_or_insert(next);
            last = Some(next);
            n = (n + 1).min(cap);
        }
        (n, first, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn five_and_six_field_cron_in_a_time_zone() {
        let s = parse(&Schedule::Text("0 */6 * * *".into()), None, 0).unwrap();
        assert_eq!(s.next_after(ms("2026-01-01T01:00:00Z")), Some(ms("2026-01-01T06:00:00Z")));
        let s = parse(&Schedule::Text("30 0 9 * * *".into()), Some("Europe/Berlin"), 0).unwrap();
        // 09:00:30 in Berlin (UTC+1 in January) is 08:00:30 UTC.
        assert_eq!(s.next_after(ms("2026-01-01T00:00:00Z")), Some(ms("2026-01-01T08:00:30Z")));
        assert!(parse(&Schedule::Text("* * *".into()), None, 0).unwrap_err().contains("3 fields"));
        assert!(parse(&Schedule::Text("61 * * * *".into()), None, 0).unwrap_err().contains("not valid"));
        assert!(parse(&Schedule::Text("0 * * * *".into()), Some("Mars/Olympus"), 0).unwrap_err().contains("Mars"));
    }

    #[test]
    fn every_and_at() {
        let s = parse(&Schedule::Text("every 5m".into()), None, 1_000).unwrap();
        assert_eq!(s.next_after(0), Some(1_000));
        assert_eq!(s.next_after(1_000), Some(301_000));
        assert_eq!(s.missed(1_000, 1_000 + 3 * 300_000, 100), (3, Some(301_000), Some(901_000)));
        assert_eq!(
            s.missed(1_000, 1_000 + 3 * 300_000, 2),
            (2, Some(301_000), Some(901_000)),
            "capped count, true last"
        );
        let s =
            parse(&Schedule::Spec(ScheduleSpec::At { at_ms: None, at: Some("2026-12-01T09:00:00Z".into()) }), None, 0)
                .unwrap();
        assert_eq!(s.next_after(0), Some(ms("2026-12-01T09:00:00Z")));
        assert_eq!(s.next_after(ms("2026-12-01T09:00:00Z")), None);
        assert!(parse(&Schedule::Text("every 5 parsecs".into()), None, 0).is_err());
        assert!(parse(&Schedule::Text("every 10ms".into()), None, 0).unwrap_err().contains("at least 1s"));
    }
}
