//! Each key's own per-minute limit (`rate_limit_per_minute`), shared by the keys of one line: a GCRA
//! limiter per key with a limit, in memory or, with `KEYWARD_REDIS_URL`, in Redis; and the
//! standing it reports on every answer (`RateLimit-*` headers).

use crate::server::limits::shared::{Budget, SharedLimits};
use governor::{
    clock::{Clock, DefaultClock},
    Quota, RateLimiter,
};
use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub(crate) fn wait_until(
    not_until: governor::NotUntil<governor::clock::QuantaInstant>,
) -> Duration {
    not_until.wait_time_from(DefaultClock::default().now())
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
    pub(crate) fn new(shared: Option<SharedLimits>) -> Self {
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
