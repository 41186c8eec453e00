//! Throttles against guessing and flooding.
//!
//! Sign-in counts *failed* attempts, in three budgets: per (email, client address), per client
//! address, and a much higher ceiling per email against guessing spread over many addresses.
//! So one attacker cannot lock a person out, while the person at their own address still gets
//! in. An attempt is charged when it is *admitted*, before the password hash runs, and given
//! back when it succeeds: a guesser firing forty attempts at once meets the same budget as one
//! sending them one after another (charging after the hash let every attempt in flight pass).
//!
//! Clients are counted by [`AddressGroup`]: an IPv4 address, or the /64 network of an IPv6 one
//! (one host is handed a whole /64, so counting single IPv6 addresses would be no limit at all).
//!
//! With `KEYWARD_REDIS_URL` the budgets live in Redis (`limits::shared`), so several instances
//! count as one; without it, or while Redis does not answer, each instance counts in its own
//! memory. One budget is always per instance: failed bearer attempts with legacy-shaped tokens
//! per address, so that a key check costs no round trip to Redis.

use crate::server::limits::key_rate::{wait_until, KeyRateLimits};
use crate::server::limits::shared::{Budget, SharedLimits, Unavailable};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Leak reports allowed per client address per minute (each of up to 100 secrets): a scanner
/// reports in batches, and a flood of lookups from one address is refused.
pub const LEAK_REPORTS_PER_MINUTE: u32 = 30;
/// Challenges for a sign-in with a passkey alone, per address: each keeps its state in a new
/// session row, and anyone may ask.
pub const PASSKEY_CHALLENGES_PER_MINUTE: u32 = 30;

/// What per-address budgets count by: an IPv4 address (or an IPv4-mapped IPv6 one), or the
/// /64 network of an IPv6 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressGroup(IpAddr);

impl AddressGroup {
    pub fn of(address: IpAddr) -> AddressGroup {
        match address {
            IpAddr::V4(v4) => AddressGroup(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressGroup(IpAddr::V4(v4)),
                None => {
                    let network = u128::from(v6) & !((1u128 << 64) - 1);
                    AddressGroup(IpAddr::V6(Ipv6Addr::from(network)))
                }
            },
        }
    }
}

/// What a throttle counts by, and its name in Redis.
pub trait ThrottleKey: Hash + Eq + Clone {
    fn shared_name(&self) -> String;
}

impl ThrottleKey for AddressGroup {
    fn shared_name(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("{v6}/64"),
        }
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

impl ThrottleKey for (String, Option<AddressGroup>) {
    fn shared_name(&self) -> String {
        match &self.1 {
            Some(group) => format!("{}|{}", self.0, group.shared_name()),
            None => format!("{}|-", self.0),
        }
    }
}

fn quota(budget: Budget) -> Quota {
    Quota::with_period(budget.period)
        .expect("a non-zero period")
        .allow_burst(NonZeroU32::new(budget.burst).expect("a non-zero burst"))
}

/// GCRA cells in this instance's memory that can also give a request back (governor's cannot):
/// per key, the time at which the budget is whole again ("theoretical arrival time").
struct Cells<K> {
    budget: Budget,
    arrivals: Mutex<HashMap<K, Instant>>,
}

impl<K: ThrottleKey> Cells<K> {
    fn new(budget: Budget) -> Self {
        Cells {
            budget,
            arrivals: Mutex::new(HashMap::new()),
        }
    }

    fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut arrivals = self.arrivals.lock().expect("throttle lock poisoned");
        let arrival = arrivals.get(key).copied().unwrap_or(now).max(now);
        let next = arrival + self.budget.period;
        let span = self.budget.period * self.budget.burst.max(1);
        match next.checked_sub(span) {
            Some(allowed_at) if allowed_at > now => Err(allowed_at - now),
            _ => {
                arrivals.insert(key.clone(), next);
                Ok(())
            }
        }
    }

    fn give_back(&self, key: &K, now: Instant) {
        let mut arrivals = self.arrivals.lock().expect("throttle lock poisoned");
        if let Some(arrival) = arrivals.get_mut(key) {
            *arrival = arrival
                .checked_sub(self.budget.period)
                .map_or(now, |earlier| earlier.max(now));
        }
    }

    fn forget_idle(&self) {
        let now = Instant::now();
        self.arrivals
            .lock()
            .expect("throttle lock poisoned")
            .retain(|_, arrival| *arrival > now);
    }
}

/// Where an admitted attempt was charged, so that a success gives it back there.
#[must_use = "give an attempt that succeeded back"]
#[derive(Debug)]
pub struct Admitted {
    shared: bool,
}

/// Attempts that may fail (password guesses, unknown keys): `burst` at once and one more every
/// `period`. Each attempt is charged when admitted, before the work that decides it, and given
/// back when it succeeds — so successes cost nothing, and attempts in flight at the same time
/// are counted as if they came one after another.
pub struct AttemptGate<K: ThrottleKey> {
    name: &'static str,
    budget: Budget,
    local: Cells<K>,
    shared: Option<SharedLimits>,
}

impl<K: ThrottleKey> AttemptGate<K> {
    /// A gate counted in this instance's memory only.
    pub fn new(name: &'static str, burst: u32, period: Duration) -> Self {
        let budget = Budget { burst, period };
        AttemptGate {
            name,
            budget,
            local: Cells::new(budget),
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

    /// Charges one attempt for `key`; `Err(wait)` when its budget is spent.
    pub async fn admit(&self, key: &K) -> Result<Admitted, Duration> {
        if let Some(shared) = &self.shared {
            match shared.take(&self.shared_name(key), self.budget).await {
                Ok(taken) if taken.allowed => return Ok(Admitted { shared: true }),
                Ok(taken) => return Err(taken.wait),
                Err(Unavailable) => {} // counted here instead
            }
        }
        self.local
            .take(key, Instant::now())
            .map(|()| Admitted { shared: false })
    }

    /// Gives an admitted attempt back: it succeeded.
    pub async fn give_back(&self, key: &K, admitted: Admitted) {
        if admitted.shared {
            if let Some(shared) = &self.shared {
                // Unavailable: the attempt stays counted, which errs on the safe side.
                let _ = shared.give_back(&self.shared_name(key), self.budget).await;
            }
        } else {
            self.local.give_back(key, Instant::now());
        }
    }

    /// Forgets keys that are back to a full budget, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.local.forget_idle();
    }
}

/// A budget of requests per client address (new logins, leak reports): each one counts.
pub struct AddressBudget {
    name: &'static str,
    budget: Budget,
    local: DefaultKeyedRateLimiter<AddressGroup>,
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
        let Some(address) = address.map(AddressGroup::of) else {
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

/// Sign-in attempts: password guesses at `auth/login`, at `invites/accept` for an existing
/// login, and at `auth/change-password`.
pub struct SignInThrottle {
    per_email_and_address: AttemptGate<(String, Option<AddressGroup>)>,
    per_address: AttemptGate<AddressGroup>,
    per_email: AttemptGate<String>,
}

/// One admitted sign-in attempt: [`SignInThrottle::succeeded`] gives it back; dropped, it stays
/// counted as a failure.
#[must_use = "a sign-in attempt that succeeded is given back"]
pub struct SignInAttempt {
    email: String,
    address: Option<AddressGroup>,
    pair: Admitted,
    by_address: Option<Admitted>,
    by_email: Admitted,
}

impl SignInThrottle {
    fn new(shared: Option<SharedLimits>) -> Self {
        SignInThrottle {
            // Five wrong passwords in a row, then one guess a minute (about 64 an hour).
            per_email_and_address: AttemptGate::new("sign-in:pair", 5, Duration::from_secs(60))
                .shared(shared.clone()),
            // One address guessing across many emails: 30 a minute.
            per_address: AttemptGate::new("sign-in:address", 30, Duration::from_secs(2))
                .shared(shared.clone()),
            // Guesses at one email from everywhere: 200 an hour, more than three addresses at
            // the per-pair rate can spend, so locking a person out takes a botnet.
            per_email: AttemptGate::new("sign-in:email", 200, Duration::from_secs(18))
                .shared(shared),
        }
    }

    /// Admits one attempt for `email` from `address`, charging every budget; `Err(wait)` (and
    /// nothing charged) when one of them is spent.
    pub async fn admit(
        &self,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<SignInAttempt, Duration> {
        let address = address.map(AddressGroup::of);
        let pair_key = (email.to_string(), address);
        let email_key = email.to_string();
        let pair = self.per_email_and_address.admit(&pair_key).await?;
        let by_address = match &address {
            None => None,
            Some(group) => match self.per_address.admit(group).await {
                Ok(admitted) => Some(admitted),
                Err(wait) => {
                    self.per_email_and_address.give_back(&pair_key, pair).await;
                    return Err(wait);
                }
            },
        };
        let by_email = match self.per_email.admit(&email_key).await {
            Ok(admitted) => admitted,
            Err(wait) => {
                self.per_email_and_address.give_back(&pair_key, pair).await;
                if let (Some(group), Some(admitted)) = (&address, by_address) {
                    self.per_address.give_back(group, admitted).await;
                }
                return Err(wait);
            }
        };
        Ok(SignInAttempt {
            email: email_key,
            address,
            pair,
            by_address,
            by_email,
        })
    }

    /// The attempt proved the password: it costs nothing.
    pub async fn succeeded(&self, attempt: SignInAttempt) {
        let SignInAttempt {
            email,
            address,
            pair,
            by_address,
            by_email,
        } = attempt;
        self.per_email_and_address
            .give_back(&(email.clone(), address), pair)
            .await;
        if let (Some(group), Some(admitted)) = (&address, by_address) {
            self.per_address.give_back(group, admitted).await;
        }
        self.per_email.give_back(&email, by_email).await;
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
    /// Bearer attempts with tokens that are not `kw_` keys (legacy-shaped guesses) per address
    /// group. Per instance even with Redis (see the module comment).
    pub bearer_attempts: Arc<AttemptGate<AddressGroup>>,
    /// Leak reports per address: a scanner reports in batches, not in a stream.
    leak_reports: Arc<AddressBudget>,
    /// Challenges for a passkey sign-in without a password, per address (each writes a
    /// session row for anyone who asks).
    passkey_challenges: Arc<AddressBudget>,
    /// Each key's own per-minute limit (`rate_limit_per_minute`).
    pub key_limits: Arc<KeyRateLimits>,
    /// Invites per account (each may be an email keyward sends).
    invites: Arc<AttemptGate<String>>,
    /// Wrong second-factor codes per person (by user id), from anywhere: whoever tries has
    /// the password already. Five, then one every five minutes: at three live codes in a
    /// million, guessing one takes years, and every miss is in the person's audit trail.
    pub second_factor: Arc<AttemptGate<String>>,
}

impl Throttles {
    /// `shared`: the Redis budgets, when `KEYWARD_REDIS_URL` is set.
    pub fn new(signups_per_hour: u32, invites_per_hour: u32, shared: Option<SharedLimits>) -> Self {
        let signups = signups_per_hour.max(1);
        let invites = invites_per_hour.max(1);
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
            bearer_attempts: Arc::new(AttemptGate::new(
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
            passkey_challenges: Arc::new(AddressBudget::new(
                "passkey-challenges",
                Budget {
                    burst: PASSKEY_CHALLENGES_PER_MINUTE,
                    period: Duration::from_secs(60) / PASSKEY_CHALLENGES_PER_MINUTE,
                },
                shared.clone(),
            )),
            invites: Arc::new(
                AttemptGate::new("invites", invites, Duration::from_secs(3600) / invites)
                    .shared(shared.clone()),
            ),
            second_factor: Arc::new(
                AttemptGate::new("second-factor", 5, Duration::from_secs(300))
                    .shared(shared.clone()),
            ),
            key_limits: Arc::new(KeyRateLimits::new(shared)),
        }
    }

    /// Counts one invite sent by `account_id`; `Err(wait)` when it must wait.
    pub async fn invite(&self, account_id: &crate::domain::ids::AccountId) -> Result<(), Duration> {
        // Never given back: an invite sent is an invite sent.
        self.invites
            .admit(&account_id.to_string())
            .await
            .map(|_sent| ())
    }

    /// A leak report from `address`: 30 a minute, of up to 100 secrets each.
    pub async fn leak_report(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        self.leak_reports.take(address).await
    }

    /// A challenge for a passkey sign-in from `address`: 30 a minute.
    pub async fn passkey_challenge(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        self.passkey_challenges.take(address).await
    }

    /// Counts one new login from `address`; `Err(wait)` when it must wait.
    pub async fn sign_up(&self, address: Option<IpAddr>) -> Result<(), Duration> {
        self.sign_up.take(address).await
    }

    pub fn forget_idle(&self) {
        self.sign_in.forget_idle();
        self.sign_up.local.retain_recent();
        self.leak_reports.local.retain_recent();
        self.passkey_challenges.local.retain_recent();
        self.key_limits.forget_idle();
        self.bearer_attempts.forget_idle();
        self.invites.forget_idle();
        self.second_factor.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_admits_its_budget_and_successes_are_given_back() {
        let gate = AttemptGate::new("test", 2, Duration::from_secs(60));
        let first = gate.admit(&"a").await.unwrap();
        gate.give_back(&"a", first).await;
        for _ in 0..2 {
            let _failed = gate.admit(&"a").await.unwrap();
        }
        let wait = gate.admit(&"a").await.unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(gate.admit(&"b").await.is_ok(), "keys are independent");
    }

    #[tokio::test]
    async fn a_guesser_at_one_address_does_not_lock_the_person_out_elsewhere() {
        let throttle = SignInThrottle::new(None);
        let attacker = Some("203.0.113.5".parse().unwrap());
        let person = Some("198.51.100.7".parse().unwrap());
        for _ in 0..5 {
            let _failed = throttle.admit("alice@example.com", attacker).await.unwrap();
        }
        assert!(throttle.admit("alice@example.com", attacker).await.is_err());
        let attempt = throttle.admit("alice@example.com", person).await.unwrap();
        throttle.succeeded(attempt).await;
    }

    #[tokio::test]
    async fn guessing_spread_over_many_addresses_meets_the_per_email_ceiling() {
        let throttle = SignInThrottle::new(None);
        for n in 0..250u32 {
            let address = Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            let _ = throttle.admit("bob@example.com", address).await;
        }
        let fresh = Some("192.0.2.1".parse().unwrap());
        assert!(throttle.admit("bob@example.com", fresh).await.is_err());
        assert!(throttle.admit("carol@example.com", fresh).await.is_ok());
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_and_ipv4_stays_whole() {
        let group = |text: &str| AddressGroup::of(text.parse().unwrap());
        assert_eq!(
            group("2001:db8:1:2::1"),
            group("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(group("2001:db8:1:2::1"), group("2001:db8:1:3::1"));
        assert_ne!(group("192.0.2.1"), group("192.0.2.2"));
        assert_eq!(group("::ffff:192.0.2.1"), group("192.0.2.1"));
        assert_eq!(group("2001:db8:1:2::9").shared_name(), "2001:db8:1:2::/64");
    }
}
