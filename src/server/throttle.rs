//! Throttles against guessing and flooding, on governor's keyed GCRA limiters.
//!
//! Sign-in counts *failures* only, in three budgets: per (email, client address), per client
//! address, and a much higher ceiling per email against guessing spread over many addresses.
//! So one attacker cannot lock a person out (the old per-email limit of 5 a minute could, with
//! one request every 12 s), while the person at their own address still gets in.
//!
//! With `KEYWARD_REDIS_URL` the budgets live in Redis (`shared_limits`), so several instances
//! count as one; without it, or while Redis does not answer, each instance counts in its own
//! memory. One budget is always per instance: failed bearer keys per address, which is checked
//! before every key-authenticated request, so that a key check costs no round trip to Redis.

use super::shared_limits::{Budget, SharedLimits, Unavailable};
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

/// What a throttle counts by, and its name in Redis.
pub trait ThrottleKey: Hash + Eq + Clone {
    fn shared_name(&self) -> String;
}

impl ThrottleKey for IpAddr {
    fn shared_name(&self) -> String {
        self.to_string()
    }
}

impl ThrottleKey for String {
    fn shared_name(&self) -> String {
        self.clone()
    }
}

impl ThrottleKey for &'static str {
    fn shared_name(&self) -> String {
        (*self).to_string()
    }
}

impl ThrottleKey for (String, Option<IpAddr>) {
    fn shared_name(&self) -> String {
        match &self.1 {
            Some(address) => format!("{}|{address}", self.0),
            None => format!("{}|-", self.0),
        }
    }
}

fn quota(budget: Budget) -> Quota {
    Quota::with_period(budget.period)
        .expect("a non-zero period")
        .allow_burst(NonZeroU32::new(budget.burst).expect("a non-zero burst"))
}

fn wait_until(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> Duration {
    not_until.wait_time_from(DefaultClock::default().now())
}

/// Allows `burst` failures at once and one more every `period`; past that the key is blocked
/// until the budget has a place again. Successes cost nothing.
pub struct FailureGate<K: ThrottleKey> {
    name: &'static str,
    budget: Budget,
    local: DefaultKeyedRateLimiter<K>,
    blocked_until: Mutex<HashMap<K, Instant>>,
    shared: Option<SharedLimits>,
}

impl<K: ThrottleKey> FailureGate<K> {
    /// A gate counted in this instance's memory only.
    pub fn new(name: &'static str, burst: u32, period: Duration) -> Self {
        let budget = Budget { burst, period };
        FailureGate {
            name,
            budget,
            local: RateLimiter::keyed(quota(budget)),
            blocked_until: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts in Redis when `shared` is set (and in memory while Redis does not answer).
    fn shared(mut self, shared: Option<SharedLimits>) -> Self {
        self.shared = shared;
        self
    }

    fn shared_name(&self, key: &K) -> String {
        format!("{}:{}", self.name, key.shared_name())
    }

    /// `Err(wait)` while `key` is blocked.
    pub async fn check(&self, key: &K) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            match shared.blocked_for(&self.shared_name(key)).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(wait),
                Err(Unavailable) => {} // counted here instead
            }
        }
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
    pub async fn record_failure(&self, key: K) {
        if let Some(shared) = &self.shared {
            // Unavailable: counted here instead.
            if let Ok(()) = shared
                .record_failure(&self.shared_name(&key), self.budget)
                .await
            {
                return;
            }
        }
        if let Err(not_until) = self.local.check_key(&key) {
            let wait = wait_until(not_until);
            self.blocked_until
                .lock()
                .expect("throttle lock poisoned")
                .insert(key, Instant::now() + wait);
        }
    }

    /// Forgets keys that are back to a full budget, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.local.retain_recent();
        let now = Instant::now();
        self.blocked_until
            .lock()
            .expect("throttle lock poisoned")
            .retain(|_, until| *until > now);
    }
}

/// A budget of requests per client address (new logins, leak reports): each one counts.
pub struct AddressBudget {
    name: &'static str,
    budget: Budget,
    local: DefaultKeyedRateLimiter<IpAddr>,
    shared: Option<SharedLimits>,
}

impl AddressBudget {
    fn new(name: &'static str, budget: Budget, shared: Option<SharedLimits>) -> Self {
        AddressBudget {
            name,
            budget,
            local: RateLimiter::keyed(quota(budget)),
            shared,
        }
    }

    /// Counts one request from `address`; `Err(wait)` when it must wait.
    async fn take(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        let Some(address) = address else {
            return Ok(());
        };
        if let Some(shared) = &self.shared {
            let name = format!("{}:{}", self.name, address.shared_name());
            match shared.take(&name, self.budget).await {
                Ok(taken) if taken.allowed => return Ok(()),
                Ok(taken) => return Err(taken.wait),
                Err(Unavailable) => {} // counted here instead
            }
        }
        self.local.check_key(&address).map_err(wait_until)
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
    fn new(shared: Option<SharedLimits>) -> Self {
        SignInThrottle {
            // The 5th wrong password in a row waits; then one guess a minute (about 64 an hour).
            per_email_and_address: FailureGate::new("sign-in:pair", 4, Duration::from_secs(60))
                .shared(shared.clone()),
            // One address guessing across many emails: 30 a minute.
            per_address: FailureGate::new("sign-in:address", 30, Duration::from_secs(2))
                .shared(shared.clone()),
            // Guesses at one email from everywhere: 200 an hour, more than three addresses at
            // the per-pair rate can spend, so locking a person out takes a botnet.
            per_email: FailureGate::new("sign-in:email", 200, Duration::from_secs(18))
                .shared(shared),
        }
    }

    /// `Err(wait)` when this email or address must wait before the next attempt.
    pub async fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        self.per_email_and_address
            .check(&(email.to_string(), address))
            .await?;
        if let Some(address) = address {
            self.per_address.check(&address).await?;
        }
        self.per_email.check(&email.to_string()).await
    }

    pub async fn record_failure(&self, email: &str, address: Option<IpAddr>) {
        self.per_email_and_address
            .record_failure((email.to_string(), address))
            .await;
        if let Some(address) = address {
            self.per_address.record_failure(address).await;
        }
        self.per_email.record_failure(email.to_string()).await;
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
    sign_up: Arc<AddressBudget>,
    /// Bearer attempts that failed (unknown, revoked, expired or malformed keys) per address.
    /// Per instance even with Redis (see the module comment).
    pub bearer_failures: Arc<FailureGate<IpAddr>>,
    /// Leak reports per address: a scanner reports in batches, not in a stream.
    leak_reports: Arc<AddressBudget>,
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
/// when the key's limit changes); in Redis when it is configured.
pub struct KeyRateLimits {
    limiters: Mutex<HashMap<crate::domain::ids::KeyId, KeyLimiter>>,
    shared: Option<SharedLimits>,
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
    fn new(shared: Option<SharedLimits>) -> Self {
        KeyRateLimits {
            limiters: Mutex::default(),
            shared,
        }
    }

    /// Counts one request of `key_id` against `per_minute`; `Err` carries the standing of a
    /// refused request.
    pub async fn check(
        &self,
        key_id: &crate::domain::ids::KeyId,
        per_minute: u32,
    ) -> Result<RateStanding, RateStanding> {
        let per_minute = per_minute.max(1);
        if let Some(shared) = &self.shared {
            // The limit is part of the name: a changed limit starts from a whole allowance,
            // as it does in memory.
            let name = format!("key:{}:{per_minute}", key_id.as_str());
            let budget = Budget {
                burst: per_minute,
                period: Duration::from_secs(60) / per_minute,
            };
            // Unavailable: counted here instead.
            if let Ok(taken) = shared.take(&name, budget).await {
                let standing = RateStanding {
                    limit: per_minute,
                    remaining: taken.remaining.min(per_minute),
                    reset_seconds: taken.until_whole.as_secs_f64().ceil() as u64,
                    retry_after: (!taken.allowed).then_some(taken.wait),
                };
                return if taken.allowed {
                    Ok(standing)
                } else {
                    Err(standing)
                };
            }
        }
        self.check_here(key_id, per_minute)
    }

    fn check_here(
        &self,
        key_id: &crate::domain::ids::KeyId,
        per_minute: u32,
    ) -> Result<RateStanding, RateStanding> {
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
            Err(not_until) => Err(RateStanding {
                limit: per_minute,
                remaining: 0,
                reset_seconds: (f64::from(per_minute) * refill).ceil() as u64,
                retry_after: Some(wait_until(not_until)),
            }),
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
    /// `shared`: the Redis budgets, when `KEYWARD_REDIS_URL` is set.
    pub fn new(signups_per_hour: u32, shared: Option<SharedLimits>) -> Self {
        let signups = signups_per_hour.max(1);
        Throttles {
            sign_in: Arc::new(SignInThrottle::new(shared.clone())),
            sign_up: Arc::new(AddressBudget::new(
                "sign-up",
                Budget {
                    burst: signups,
                    period: Duration::from_secs(3600) / signups,
                },
                shared.clone(),
            )),
            bearer_failures: Arc::new(FailureGate::new(
                "bearer-failures",
                60,
                Duration::from_secs(1),
            )),
            leak_reports: Arc::new(AddressBudget::new(
                "leak-reports",
                Budget {
                    burst: LEAK_REPORTS_PER_MINUTE,
                    period: Duration::from_secs(60) / LEAK_REPORTS_PER_MINUTE,
                },
                shared.clone(),
            )),
            key_limits: Arc::new(KeyRateLimits::new(shared)),
        }
    }

    /// A leak report from `address`: 30 a minute, of up to 100 secrets each.
    pub async fn leak_report(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        self.leak_reports.take(address).await
    }

    /// Counts one new login from `address`; `Err(wait)` when it must wait.
    pub async fn sign_up(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        self.sign_up.take(address).await
    }

    pub fn forget_idle(&self) {
        self.sign_in.forget_idle();
        self.sign_up.local.retain_recent();
        self.leak_reports.local.retain_recent();
        self.key_limits.forget_idle();
        self.bearer_failures.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_blocks_after_its_budget_of_failures_and_successes_cost_nothing() {
        let gate = FailureGate::new("test", 2, Duration::from_secs(60));
        for _ in 0..2 {
            assert!(gate.check(&"a").await.is_ok());
            gate.record_failure("a").await;
        }
        assert!(
            gate.check(&"a").await.is_ok(),
            "the budget is spent, not exceeded"
        );
        gate.record_failure("a").await;
        let wait = gate.check(&"a").await.unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(gate.check(&"b").await.is_ok(), "keys are independent");
    }

    #[tokio::test]
    async fn a_guesser_at_one_address_does_not_lock_the_person_out_elsewhere() {
        let throttle = SignInThrottle::new(None);
        let attacker = Some("203.0.113.5".parse().unwrap());
        let person = Some("198.51.100.7".parse().unwrap());
        for _ in 0..20 {
            throttle.record_failure("alice@example.com", attacker).await;
        }
        assert!(throttle.check("alice@example.com", attacker).await.is_err());
        assert!(throttle.check("alice@example.com", person).await.is_ok());
    }

    #[tokio::test]
    async fn guessing_spread_over_many_addresses_meets_the_per_email_ceiling() {
        let throttle = SignInThrottle::new(None);
        for n in 0..250u32 {
            let address = Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            throttle.record_failure("bob@example.com", address).await;
        }
        let fresh = Some("192.0.2.1".parse().unwrap());
        assert!(throttle.check("bob@example.com", fresh).await.is_err());
        assert!(throttle.check("carol@example.com", fresh).await.is_ok());
    }
}
