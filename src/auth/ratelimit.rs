//! Per-address lockout after repeated authentication failures (pure, unit-tested).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::model::RateLimit;

#[derive(Debug, Default)]
struct Entry {
    failures: Vec<Instant>,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    entries: HashMap<IpAddr, Entry>,
}

impl RateLimiter {
    /// `Err(retry_after)` while `ip` is locked out.
    pub fn check(&mut self, ip: IpAddr, now: Instant, cfg: &RateLimit) -> Result<(), Duration> {
        if cfg.exempt_loopback && ip.is_loopback() {
            return Ok(());
        }
        match self.entries.get(&ip).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            Some(_) => {
                self.entries.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a failure; returns the lockout when this one crossed the limit.
    pub fn fail(&mut self, ip: IpAddr, now: Instant, cfg: &RateLimit) -> Option<Duration> {
        if cfg.exempt_loopback && ip.is_loopback() {
            return None;
        }
        let window = Duration::from_millis(cfg.window_ms);
        let e = self.entries.entry(ip).or_default();
        e.failures.retain(|t| now.duration_since(*t) < window);
        e.failures.push(now);
        if e.failures.len() >= cfg.max_attempts as usize {
            let lock = Duration::from_millis(cfg.lockout_ms);
            e.locked_until = Some(now + lock);
            e.failures.clear();
            return Some(lock);
        }
        None
    }

    pub fn succeed(&mut self, ip: IpAddr) {
        self.entries.remove(&ip);
    }

    /// Drops stale entries so the map cannot grow without bound.
    pub fn prune(&mut self, now: Instant, cfg: &RateLimit) {
        let window = Duration::from_millis(cfg.window_ms);
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now) || e.failures.iter().any(|t| now.duration_since(*t) < window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RateLimit {
        RateLimit { max_attempts: 3, window_ms: 1000, lockout_ms: 5000, exempt_loopback: true }
    }

    #[test]
    fn locks_out_after_max_attempts_and_expires() {
        let mut r = RateLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        assert!(r.fail(ip, t, &cfg()).is_none());
        assert!(r.fail(ip, t, &cfg()).is_none());
        assert_eq!(r.fail(ip, t, &cfg()), Some(Duration::from_secs(5)));
        assert_eq!(r.check(ip, t + Duration::from_secs(1), &cfg()), Err(Duration::from_secs(4)));
        assert_eq!(r.check(ip, t + Duration::from_secs(6), &cfg()), Ok(()));
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let mut r = RateLimiter::default();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let t = Instant::now();
        for i in 0..10 {
            assert!(r.fail(ip, t + Duration::from_millis(600) * i, &cfg()).is_none(), "failure {i}");
        }
    }

    #[test]
    fn loopback_is_exempt_when_configured() {
        let mut r = RateLimiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..10 {
            assert!(r.fail(ip, Instant::now(), &cfg()).is_none());
        }
        let strict = RateLimit { exempt_loopback: false, ..cfg() };
        let t = Instant::now();
        r.fail(ip, t, &strict);
        r.fail(ip, t, &strict);
        assert!(r.fail(ip, t, &strict).is_some());
    }
}
