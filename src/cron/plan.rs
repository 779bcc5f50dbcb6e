//! Schedule planning, pure: from the jobs, what the scheduler remembers of each and the time
//! now, which runs are due, which were missed (run once with `catchUp`, or recorded as one
//! skipped run), and when to wake next. No clock and no I/O: the CronActor passes `now` in
//! and carries the plan out, so start-up catch-up and the timer share one scan.

use super::JobState;
use crate::config::schedule::Sched;

/// Missed runs counted at most (a job every second, down for two days, is "100000+").
pub const MISSED_CAP: usize = 100_000;

/// One job as the planner sees it.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub id: &'a str,
    /// Whether it runs on its schedule: the job enabled and cron as a whole enabled.
    pub enabled: bool,
    pub catch_up: bool,
    /// `None` when the schedule does not parse: never due.
    pub sched: Option<&'a Sched>,
    /// `None` before the scheduler has seen the job: never due.
    pub state: Option<&'a JobState>,
}

/// Which scan: at start, for runs missed while the gateway was down; on the timer, for runs
/// that came due while it was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Startup,
    Timer,
}

impl Pass {
    /// The `reason` of the runs this pass makes.
    pub fn reason(self) -> &'static str {
        match self {
            Pass::Startup => "catch-up",
            Pass::Timer => "schedule",
        }
    }
}

/// A job with scheduled times reached since the last one handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: String,
    /// How many times were reached (at most [`MISSED_CAP`]).
    pub missed: usize,
    /// The latest of them: the job's new `last_scheduled_ms`, whatever the action.
    pub last_ms: i64,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run once, for `last_ms` (a late timer or a catch-up runs once, not once per time).
    Run,
    /// Record one skipped run for the first missed time, saying why.
    Skip { first_ms: i64, why: String },
}

/// The job's next scheduled time after the last one handled (after first sight if none was),
/// enabled or not.
pub fn next_run(job: &Job<'_>) -> Option<i64> {
    let st = job.state?;
    job.sched?.next_after(st.last_scheduled_ms.unwrap_or(st.seen_at_ms))
}

/// Whether an enabled job has a scheduled time at or before `now_ms` not yet handled.
pub fn is_due(job: &Job<'_>, now_ms: i64) -> bool {
    job.enabled && next_run(job).is_some_and(|t| t <= now_ms)
}

/// What `pass` does at `now_ms`, in job order. At start, a job that missed runs runs once with
/// `catchUp` and is otherwise recorded as skipped; on the timer, a due job runs once.
pub fn due(jobs: &[Job<'_>], now_ms: i64, pass: Pass) -> Vec<Due> {
    let mut out = Vec::new();
    for job in jobs.iter().filter(|j| j.enabled) {
        let (Some(sched), Some(st)) = (job.sched, job.state) else { continue };
        let from = st.last_scheduled_ms.unwrap_or(st.seen_at_ms);
        let (n, first, last) = sched.missed(from, now_ms, MISSED_CAP);
        let (Some(first_ms), Some(last_ms)) = (first, last) else { continue };
        let action = if pass == Pass::Timer || job.catch_up {
            Action::Run
        } else {
            let more = if n >= MISSED_CAP { "+" } else { "" };
            Action::Skip {
                first_ms,
                why: format!("missed {n}{more} run(s) while the gateway was down (set catchUp to run once at start)"),
            }
        };
        out.push(Due { id: job.id.to_string(), missed: n, last_ms, action });
    }
    out
}

/// When the timer should next fire: the earliest next run of an enabled job.
pub fn next_wake(jobs: &[Job<'_>]) -> Option<i64> {
    jobs.iter().filter(|j| j.enabled).filter_map(next_run).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Schedule, ScheduleSpec};
    use crate::config::schedule;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn sched(text: &str) -> Sched {
        schedule::parse(&Schedule::Text(text.into()), None, 0).unwrap()
    }

    fn seen(at: i64, last: Option<i64>) -> JobState {
        JobState { seen_at_ms: at, last_scheduled_ms: last, last_run: None }
    }

    fn job<'a>(id: &'a str, sched: &'a Sched, state: &'a JobState) -> Job<'a> {
        Job { id, enabled: true, catch_up: false, sched: Some(sched), state: Some(state) }
    }

    #[test]
    fn due_now_and_not_yet() {
        let every = sched("every 1h");
        let st = seen(0, None);
        let j = job("a", &every, &st);
        assert_eq!(next_run(&j), Some(HOUR));
        assert!(due(&[j], HOUR - 1, Pass::Timer).is_empty());
        assert!(!is_due(&j, HOUR - 1));
        assert!(is_due(&j, HOUR));
        let d = due(&[j], HOUR, Pass::Timer);
        assert_eq!(d, [Due { id: "a".into(), missed: 1, last_ms: HOUR, action: Action::Run }]);
        // Once handled, the next hour is the next run.
        let st = seen(0, Some(HOUR));
        let j = job("a", &every, &st);
        assert!(due(&[j], HOUR + 1, Pass::Timer).is_empty());
        assert_eq!(next_run(&j), Some(2 * HOUR));
    }

    #[test]
    fn a_late_timer_runs_once_for_the_latest_time() {
        let every = sched("every 1h");
        let st = seen(0, None);
        let j = job("a", &every, &st);
        let d = due(&[j], 3 * HOUR + 5, Pass::Timer);
        assert_eq!(d, [Due { id: "a".into(), missed: 3, last_ms: 3 * HOUR, action: Action::Run }]);
    }

    #[test]
    fn missed_at_start_skipped_or_caught_up_once() {
        let every = sched("every 1h");
        let st = seen(0, Some(HOUR));
        let skip = job("skip", &every, &st);
        let catch = Job { catch_up: true, ..job("catch", &every, &st) };
        let d = due(&[skip, catch], 4 * HOUR + MIN, Pass::Startup);
        assert_eq!(
            d,
            [
                Due {
                    id: "skip".into(),
                    missed: 3,
                    last_ms: 4 * HOUR,
                    action: Action::Skip {
                        first_ms: 2 * HOUR,
                        why: "missed 3 run(s) while the gateway was down (set catchUp to run once at start)".into(),
                    },
                },
                Due { id: "catch".into(), missed: 3, last_ms: 4 * HOUR, action: Action::Run },
            ]
        );
        assert_eq!(Pass::Startup.reason(), "catch-up");
        assert_eq!(Pass::Timer.reason(), "schedule");
        // Nothing missed: nothing to do at start either.
        assert!(due(&[skip, catch], 2 * HOUR - 1, Pass::Startup).is_empty());
    }

    #[test]
    fn missed_runs_are_counted_up_to_the_cap() {
        let every = sched("every 1s");
        let st = seen(0, None);
        let j = job("busy", &every, &st);
        let down = 2 * 86_400_000;
        let d = due(&[j], down, Pass::Startup);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].missed, d[0].last_ms), (MISSED_CAP, down), "capped count, true last time");
        let Action::Skip { first_ms, why } = &d[0].action else { panic!("{d:?}") };
        assert_eq!(*first_ms, 1000);
        assert!(why.starts_with("missed 100000+ run(s)"), "{why}");
        let d = due(&[j], 99_999_000, Pass::Startup);
        let Action::Skip { why, .. } = &d[0].action else { panic!("{d:?}") };
        assert!(why.starts_with("missed 99999 run(s)"), "{why}");
    }

    #[test]
    fn disabled_unparsed_and_unseen_jobs_are_never_due() {
        let every = sched("every 1h");
        let st = seen(0, None);
        let off = Job { enabled: false, ..job("off", &every, &st) };
        let bad = Job { sched: None, ..job("bad", &every, &st) };
        let new = Job { state: None, ..job("new", &every, &st) };
        for pass in [Pass::Startup, Pass::Timer] {
            assert!(due(&[off, bad, new], 10 * HOUR, pass).is_empty());
        }
        assert!(!is_due(&off, 10 * HOUR));
        assert_eq!(next_wake(&[off, bad, new]), None);
        // A disabled job still has a next run (shown in events), just no wake-up.
        assert_eq!(next_run(&off), Some(HOUR));
        assert_eq!((next_run(&bad), next_run(&new)), (None, None));
    }

    #[test]
    fn next_wake_is_the_earliest_enabled_job() {
        let hourly = sched("every 1h");
        let cron = sched("*/10 * * * *");
        let st_h = seen(0, Some(HOUR));
        let st_c = seen(0, Some(HOUR + 20 * MIN));
        let h = job("h", &hourly, &st_h);
        let c = job("c", &cron, &st_c);
        assert_eq!(next_wake(&[h, c]), Some(HOUR + 30 * MIN));
        assert_eq!(next_wake(&[h, Job { enabled: false, ..c }]), Some(2 * HOUR));
        assert_eq!(next_wake(&[]), None);
    }

    #[test]
    fn cron_expressions_plan_like_intervals() {
        let cron = sched("0 */6 * * *");
        let st = seen(0, None);
        let j = Job { catch_up: true, ..job("c", &cron, &st) };
        let d = due(&[j], 13 * HOUR, Pass::Startup);
        assert_eq!(d, [Due { id: "c".into(), missed: 2, last_ms: 12 * HOUR, action: Action::Run }]);
        assert_eq!(next_run(&j), Some(6 * HOUR));
    }

    #[test]
    fn a_one_shot_is_due_once() {
        let at =
            schedule::parse(&Schedule::Spec(ScheduleSpec::At { at_ms: Some(5 * MIN), at: None }), None, 0).unwrap();
        let st = seen(0, None);
        let j = job("once", &at, &st);
        assert_eq!(next_wake(&[j]), Some(5 * MIN));
        let d = due(&[j], 6 * MIN, Pass::Timer);
        assert_eq!(d, [Due { id: "once".into(), missed: 1, last_ms: 5 * MIN, action: Action::Run }]);
        let st = seen(0, Some(5 * MIN));
        let j = job("once", &at, &st);
        assert!(due(&[j], HOUR, Pass::Timer).is_empty());
        assert_eq!((next_run(&j), next_wake(&[j])), (None, None));
    }
}
