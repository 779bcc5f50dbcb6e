//! Restart intensity (at most N restarts in a period) and exponential backoff: pure, unit-tested.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// OTP-style restart intensity for the whole supervisor.
#[derive(Debug, Default)]
pub struct RestartBudget {
    history: VecDeque<Instant>,
}

/// What to do with a failed child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart it after this delay.
    RestartAfter(Duration),
    /// More than `max` restarts within `period`: give up.
    Exhausted { restarts: usize },
}

impl RestartBudget {
    /// Records one failure at `now`; `recent_for_child` is that child's failures within the
    /// period (including this one) and sets the backoff.
    pub fn record(
        &mut self,
        now: Instant,
        max: u32,
        period: Duration,
        recent_for_child: usize,
        backoff: (Duration, Duration),
    ) -> Verdict {
        while self.history.front().is_some_and(|t| now.duration_since(*t) > period) {
            self.history.pop_front();
        }
        self.history.push_back(now);
        if self.history.len() > max as usize {
            return Verdict::Exhausted { restarts: self.history.len() };
        }
        Verdict::RestartAfter(backoff_delay(backoff.0, backoff.1, recent_for_child))
    }
}

/// `initial * 2^(n-1)`, capped at `max`.
pub fn backoff_delay(initial: Duration, max: Duration, n: usize) -> Duration {
    let exp = n.saturating_sub(1).min(20) as u32;
    initial.saturating_mul(2u32.saturating_pow(exp)).min(max)
}

/// A child's own failures within the period, for its backoff.
#[derive(Debug, Default)]
pub struct FailureWindow(VecDeque<Instant>);

impl FailureWindow {
    pub fn push(&mut self, now: Instant, period: Duration) -> usize {
        while self.0.front().is_some_and(|t| now.duration_since(*t) > period) {
            self.0.pop_front();
        }
        self.0.push_back(now);
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn allows_max_restarts_within_the_period_then_gives_up() {
        let mut b = RestartBudget::default();
        let t0 = Instant::now();
        let period = Duration::from_secs(10);
        for i in 0..3 {
            assert!(matches!(b.record(t0 + MS * i, 3, period, 1, (MS, MS)), Verdict::RestartAfter(_)));
        }
        assert_eq!(b.record(t0 + MS * 4, 3, period, 1, (MS, MS)), Verdict::Exhausted { restarts: 4 });
    }

    #[test]
    fn failures_older_than_the_period_are_forgotten() {
        let mut b = RestartBudget::default();
        let t0 = Instant::now();
        let period = Duration::from_secs(1);
        for i in 0..10u32 {
            let at = t0 + Duration::from_millis(600) * i;
            assert!(matches!(b.record(at, 2, period, 1, (MS, MS)), Verdict::RestartAfter(_)), "failure {i}");
        }
    }

    #[test]
    fn zero_budget_escalates_at_the_first_failure() {
        let mut b = RestartBudget::default();
        assert!(matches!(b.record(Instant::now(), 0, Duration::from_secs(1), 1, (MS, MS)), Verdict::Exhausted { .. }));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let i = Duration::from_millis(100);
        let m = Duration::from_millis(1000);
        assert_eq!(backoff_delay(i, m, 1), i);
        assert_eq!(backoff_delay(i, m, 2), i * 2);
        assert_eq!(backoff_delay(i, m, 4), i * 8);
        assert_eq!(backoff_delay(i, m, 5), m);
        assert_eq!(backoff_delay(i, m, 500), m);
    }
}
