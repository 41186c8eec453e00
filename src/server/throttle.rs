//! Throttles against guessing and flooding, on governor's keyed GCRA limiters.
//!
//! Sign-in counts *failures* only, in three budgets: per (email, client address), per client
//! address, and a much higher ceiling per email against guessing spread over many addresses.
//! So one attacker cannot lock a person out (the old per-email limit of 5 a minute could, with
//! one request every 12 s), while the person at their own address still gets in. Each instance
//! keeps its own counters in memory.

use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota, RateLimiter,
};
use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Leak reports allowed per client address per minute (each of up to 100 secrets): a scanner
/// reports in batches, and a flood of lookups from one address is refused.
pub const LEAK_REPORTS_PER_MINUTE: u32 = 30;

/// Allows `burst` failures at once and one more every `period`; past that the key is blocked
/// until the budget has a place again. Successes cost nothing.
pub struct FailureGate<K: Hash + Eq + Clone> {
    budget: DefaultKeyedRateLimiter<K>,
    blocked_until: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> FailureGate<K> {
    pub fn new(burst: u32, period: Duration) -> Self {
        let quota = Quota::with_period(period)
            .expect("a non-zero period")
            .allow_burst(NonZeroU32::new(burst).expect("a non-zero burst"));
        FailureGate {
            budget: RateLimiter::keyed(quota),
            blocked_until: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `key` is blocked.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let blocked = self.blocked_until.lock().expect("throttle lock poisoned");
        match blocked.get(key) {
            Some(until) => match until.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => Err(wait),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Counts one failure; the one past the budget blocks the key.
    pub fn record_failure(&self, key: K) {
        if let Err(not_until) = self.budget.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.blocked_until
                .lock()
                .expect("throttle lock poisoned")
                .insert(key, Instant::now() + wait);
        }
    }

    /// Forgets keys that are back to a full budget, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.budget.retain_recent();
        let now = Instant::now();
        self.blocked_until
            .lock()
            .expect("throttle lock poisoned")
            .retain(|_, until| *until > now);
    }
}

/// Sign-in failures: password guesses at `auth/login`, at `invites/accept` for an existing
/// login, and at `auth/change-password`.
pub struct SignInThrottle {
    per_email_and_address: FailureGate<(String, Option<IpAddr>)>,
    per_address: FailureGate<IpAddr>,
    per_email: FailureGate<String>,
}

impl SignInThrottle {
    fn new() -> Self {
        SignInThrottle {
            // The 5th wrong password in a row waits; then one guess a minute (about 64 an hour).
            per_email_and_address: FailureGate::new(4, Duration::from_secs(60)),
            // One address guessing across many emails: 30 a minute.
            per_address: FailureGate::new(30, Duration::from_secs(2)),
            // Guesses at one email from everywhere: 200 an hour, more than three addresses at
            // the per-pair rate can spend, so locking a person out takes a botnet.
            per_email: FailureGate::new(200, Duration::from_secs(18)),
        }
    }

    /// `Err(wait)` when this email or address must wait before the next attempt.
    pub fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        self.per_email_and_address
            .check(&(email.to_string(), address))?;
        if let Some(address) = address {
            self.per_address.check(&address)?;
        }
        self.per_email.check(&email.to_string())
    }

    pub fn record_failure(&self, email: &str, address: Option<IpAddr>) {
        self.per_email_and_address
            .record_failure((email.to_string(), address));
        if let Some(address) = address {
            self.per_address.record_failure(address);
        }
        self.per_email.record_failure(email.to_string());
    }

    fn forget_idle(&self) {
        self.per_email_and_address.forget_idle();
        self.per_address.forget_idle();
        self.per_email.forget_idle();
    }
}

/// Every throttle of one instance.
#[derive(Clone)]
pub struct Throttles {
    pub sign_in: Arc<SignInThrottle>,
    /// New logins (sign-up, or accepting an invite as a new person) per client address.
    sign_up: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Bearer attempts that failed (unknown, revoked, expired or malformed keys) per address.
    pub bearer_failures: Arc<FailureGate<IpAddr>>,
    /// Leak reports per address: a scanner reports in batches, not in a stream.
    leak_reports: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Each key's own per-minute limit (`rate_limit_per_minute`).
    pub key_limits: Arc<KeyRateLimits>,
}

type InformingLimiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    governor::middleware::StateInformationMiddleware,
>;

/// One GCRA limiter per key with a limit, made with that key's own quota (and made again
/// when the key's limit changes). Each instance keeps its own (see README, "Several
/// instances").
#[derive(Default)]
pub struct KeyRateLimits {
    limiters: Mutex<HashMap<crate::domain::ids::KeyId, KeyLimiter>>,
}

struct KeyLimiter {
    per_minute: u32,
    limiter: Arc<InformingLimiter>,
    last_used: Instant,
}

/// Where a key stands against its limit, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStanding {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full allowance is back.
    pub reset_seconds: u64,
    /// When refused: how long until the next request is allowed.
    pub retry_after: Option<Duration>,
}

impl KeyRateLimits {
    /// Counts one request of `key_id` against `per_minute`; `Err` carries the standing of a
    /// refused request.
    pub fn check(
        &self,
        key_id: &crate::domain::ids::KeyId,
        per_minute: u32,
    ) -> Result<RateStanding, RateStanding> {
        let per_minute = per_minute.max(1);
        let limiter = {
            let mut limiters = self.limiters.lock().expect("key limits lock poisoned");
            let entry = limiters
                .entry(key_id.clone())
                .or_insert_with(|| KeyLimiter::new(per_minute));
            if entry.per_minute != per_minute {
                *entry = KeyLimiter::new(per_minute);
            }
            entry.last_used = Instant::now();
            entry.limiter.clone()
        };
        // Seconds for one request to come back.
        let refill = 60.0 / f64::from(per_minute);
        match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(per_minute);
                Ok(RateStanding {
                    limit: per_minute,
                    remaining,
                    reset_seconds: (f64::from(per_minute - remaining) * refill).ceil() as u64,
                    retry_after: None,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(RateStanding {
                    limit: per_minute,
                    remaining: 0,
                    reset_seconds: (f64::from(per_minute) * refill).ceil() as u64,
                    retry_after: Some(wait),
                })
            }
        }
    }

    /// Forgets limiters not used for two minutes: their allowance is whole again anyway.
    pub fn forget_idle(&self) {
        let mut limiters = self.limiters.lock().expect("key limits lock poisoned");
        limiters.retain(|_, entry| entry.last_used.elapsed() < Duration::from_secs(120));
    }
}

impl KeyLimiter {
    fn new(per_minute: u32) -> KeyLimiter {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        KeyLimiter {
            per_minute,
            limiter: Arc::new(
                RateLimiter::direct(quota)
                    .with_middleware::<governor::middleware::StateInformationMiddleware>(),
            ),
            last_used: Instant::now(),
        }
    }
}

impl Throttles {
    pub fn new(signups_per_hour: u32) -> Self {
        let signups = NonZeroU32::new(signups_per_hour).unwrap_or(NonZeroU32::MIN);
        Throttles {
            sign_in: Arc::new(SignInThrottle::new()),
            sign_up: Arc::new(RateLimiter::keyed(Quota::per_hour(signups))),
            bearer_failures: Arc::new(FailureGate::new(60, Duration::from_secs(1))),
            leak_reports: Arc::new(RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(LEAK_REPORTS_PER_MINUTE).expect("non-zero"),
            ))),
            key_limits: Arc::new(KeyRateLimits::default()),
        }
    }

    /// A leak report from `address`: 30 a minute, of up to 100 secrets each.
    pub fn leak_report(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        let Some(address) = address else {
            return Ok(());
        };
        self.leak_reports
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Counts one new login from `address`; `Err(wait)` when it must wait.
    pub fn sign_up(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        let Some(address) = address else {
            return Ok(());
        };
        self.sign_up
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    pub fn forget_idle(&self) {
        self.sign_in.forget_idle();
        self.sign_up.retain_recent();
        self.leak_reports.retain_recent();
        self.key_limits.forget_idle();
        self.bearer_failures.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_blocks_after_its_budget_of_failures_and_successes_cost_nothing() {
        let gate = FailureGate::new(2, Duration::from_secs(60));
        for _ in 0..2 {
            assert!(gate.check(&"a").is_ok());
            gate.record_failure("a");
        }
        assert!(
            gate.check(&"a").is_ok(),
            "the budget is spent, not exceeded"
        );
        gate.record_failure("a");
        let wait = gate.check(&"a").unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(gate.check(&"b").is_ok(), "keys are independent");
    }

    #[test]
    fn a_guesser_at_one_address_does_not_lock_the_person_out_elsewhere() {
        let throttle = SignInThrottle::new();
        let attacker = Some("203.0.113.5".parse().unwrap());
        let person = Some("198.51.100.7".parse().unwrap());
        for _ in 0..20 {
            throttle.record_failure("alice@example.com", attacker);
        }
        assert!(throttle.check("alice@example.com", attacker).is_err());
        assert!(throttle.check("alice@example.com", person).is_ok());
    }

    #[test]
    fn guessing_spread_over_many_addresses_meets_the_per_email_ceiling() {
        let throttle = SignInThrottle::new();
        for n in 0..250u32 {
            let address = Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            throttle.record_failure("bob@example.com", address);
        }
        let fresh = Some("192.0.2.1".parse().unwrap());
        assert!(throttle.check("bob@example.com", fresh).is_err());
        assert!(throttle.check("carol@example.com", fresh).is_ok());
    }
}
