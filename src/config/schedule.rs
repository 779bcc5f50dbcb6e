//! Cron schedules: 5- or 6-field cron expressions in a time zone, `every` intervals and
//! one-shot `at` times; the next run after a moment, and the runs missed between two.
//! In `config` because loading a config checks that its schedules parse, and config sits
//! below `cron`, which plans and runs them.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};

use super::model::{Schedule, ScheduleSpec};
use super::zone::Zone;

/// Why a schedule does not parse. The `Display` names the form at fault (`cron:`, `every:`,
/// `at:`) and how to write it.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("an `at` schedule needs exactly one of atMs or at")]
    AtFields,
    #[error("at: {text:?} is not an RFC 3339 time like 2026-12-01T09:00:00Z ({source})")]
    AtTime { text: String, source: chrono::ParseError },
    #[error("every: {0}")]
    Duration(#[from] DurationError),
    #[error("every: the interval must be at least 1s (got {0} ms)")]
    TooShort(i64),
    #[error("cron: {expr:?} has {fields} fields; use 5 (min hour dom mon dow) or 6 (with seconds first)")]
    CronFields { expr: String, fields: usize },
    #[error("cron: {expr:?} is not valid ({source})")]
    CronExpr { expr: String, source: cron::error::Error },
    #[error("time zone {0:?} is unknown (use an IANA name like Europe/Berlin)")]
    TimeZone(String),
}

/// Why a duration (`30s`, `5m`) does not parse. Without a prefix: the caller names the field
/// (`every:` in a schedule, `--grace:` on the command line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration like 30s, 5m, 2h or 1d")]
    NotANumber(String),
    #[error("{0:?} has an unknown unit (use ms, s, m, h or d)")]
    UnknownUnit(String),
}

/// A parsed schedule. Times are Unix milliseconds.
#[derive(Debug, Clone)]
pub enum Sched {
    Cron(Box<cron::Schedule>, Zone),
    Every { every_ms: i64, anchor_ms: i64 },
    At(i64),
}

/// Parses a schedule; `tz` applies to cron expressions without their own; `created_ms`
/// anchors `every` schedules without an anchor.
pub fn parse(s: &Schedule, tz: Option<&str>, created_ms: i64) -> Result<Sched, ScheduleError> {
    match s {
        Schedule::Text(t) => parse_text(t.trim(), tz, created_ms),
        Schedule::Spec(ScheduleSpec::Cron { expr, tz: own }) => cron_expr(expr, own.as_deref().or(tz)),
        Schedule::Spec(ScheduleSpec::Every { every_ms, anchor_ms }) => {
            every(*every_ms as i64, anchor_ms.unwrap_or(created_ms))
        }
        Schedule::Spec(ScheduleSpec::At { at_ms, at }) => match (at_ms, at) {
            (Some(ms), None) => Ok(Sched::At(*ms)),
            (None, Some(t)) => at_text(t),
            _ => Err(ScheduleError::AtFields),
        },
    }
}

fn parse_text(t: &str, tz: Option<&str>, created_ms: i64) -> Result<Sched, ScheduleError> {
    if let Some(d) = t.strip_prefix("every ") {
        return every(duration_ms(d.trim())?, created_ms);
    }
    if let Some(a) = t.strip_prefix("at ") {
        return at_text(a.trim());
    }
    cron_expr(t, tz)
}

fn every(every_ms: i64, anchor_ms: i64) -> Result<Sched, ScheduleError> {
    if every_ms < 1000 {
        return Err(ScheduleError::TooShort(every_ms));
    }
    Ok(Sched::Every { every_ms, anchor_ms })
}

fn at_text(t: &str) -> Result<Sched, ScheduleError> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| Sched::At(d.timestamp_millis()))
        .map_err(|source| ScheduleError::AtTime { text: t.into(), source })
}

/// `30s`, `5m`, `2h`, `1d`, `1500ms`.
pub fn duration_ms(d: &str) -> Result<i64, DurationError> {
    let split = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
    let (n, unit) = d.split_at(split);
    let n: i64 = n.parse().map_err(|_| DurationError::NotANumber(d.into()))?;
    let mult = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(DurationError::UnknownUnit(d.into())),
    };
    Ok(n.saturating_mul(mult))
}

fn cron_expr(expr: &str, tz: Option<&str>) -> Result<Sched, ScheduleError> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 => expr.to_string(),
        fields => return Err(ScheduleError::CronFields { expr: expr.into(), fields }),
    };
    let sched =
        cron::Schedule::from_str(&full).map_err(|source| ScheduleError::CronExpr { expr: expr.into(), source })?;
    let tz = match tz {
        None => Zone::utc(),
        Some(name) => Zone::named(name).ok_or_else(|| ScheduleError::TimeZone(name.into()))?,
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
                // In i128: an anchor (from a config or a job store) or a moment near the ends of
                // i64 overflowed here; a run past the end of i64 is no run.
                let (after, anchor, every) = (i128::from(after_ms), i128::from(*anchor_ms), i128::from(*every_ms));
                i64::try_from(anchor + ((after - anchor) / every + 1) * every).ok()
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
        // 02:30 does not exist in Berlin on 29 March 2026 (clocks go to summer time): that day
        // has no run, and the next is 02:30 summer time (UTC+2).
        let s = parse(&Schedule::Text("30 2 * * *".into()), Some("Europe/Berlin"), 0).unwrap();
        assert_eq!(s.next_after(ms("2026-03-28T02:00:00Z")), Some(ms("2026-03-30T00:30:00Z")));
        assert!(parse(&Schedule::Text("* * *".into()), None, 0).unwrap_err().to_string().contains("3 fields"));
        assert!(parse(&Schedule::Text("61 * * * *".into()), None, 0).unwrap_err().to_string().contains("not valid"));
        assert!(
            parse(&Schedule::Text("0 * * * *".into()), Some("Mars/Olympus"), 0)
                .unwrap_err()
                .to_string()
                .contains("Mars")
        );
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
        assert!(parse(&Schedule::Text("every 10ms".into()), None, 0).unwrap_err().to_string().contains("at least 1s"));
    }

    #[test]
    fn errors_keep_their_text_and_say_which_failure() {
        let err = |t: &str| parse(&Schedule::Text(t.into()), None, 0).unwrap_err();
        assert_eq!(
            err("every 5 parsecs").to_string(),
            r#"every: "5 parsecs" has an unknown unit (use ms, s, m, h or d)"#
        );
        assert_eq!(err("every soon").to_string(), r#"every: "soon" is not a duration like 30s, 5m, 2h or 1d"#);
        assert_eq!(
            err("* * *").to_string(),
            r#"cron: "* * *" has 3 fields; use 5 (min hour dom mon dow) or 6 (with seconds first)"#
        );
        assert!(err("at tomorrow").to_string().starts_with(r#"at: "tomorrow" is not an RFC 3339 time"#));
        assert!(matches!(err("every 10ms"), ScheduleError::TooShort(10)));
        assert!(matches!(err("every soon"), ScheduleError::Duration(DurationError::NotANumber(_))));
    }
}
