//! The state every request handler and server function can reach.

use super::{
    config::Config, db::Pool, keys::KeyHasher, passwords::Passwords, sessions::SessionBackend,
    usage::KeyUsage,
};
use axum::extract::FromRef;
use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota, RateLimiter,
};
use leptos::config::LeptosOptions;
use std::{num::NonZeroU32, sync::Arc, time::Duration};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: Pool,
    pub config: Arc<Config>,
    pub key_hasher: KeyHasher,
    pub passwords: Passwords,
    pub key_usage: KeyUsage,
    pub login_throttle: LoginThrottle,
    pub sessions: SessionBackend,
}

/// Throttles sign-in attempts per email address and per client address, so that guessing a
/// password is slow whichever of the two an attacker varies.
#[derive(Clone)]
pub struct LoginThrottle {
    per_email: Arc<DefaultKeyedRateLimiter<String>>,
    per_address: Arc<DefaultKeyedRateLimiter<String>>,
}

impl LoginThrottle {
    pub fn new() -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).expect("non-zero quota"));
        LoginThrottle {
            per_email: Arc::new(RateLimiter::keyed(per_minute(5))),
            per_address: Arc::new(RateLimiter::keyed(per_minute(30))),
        }
    }

    /// Counts one attempt; `Err(wait)` when the caller must wait before trying again.
    pub fn attempt(&self, email: &str, address: Option<&str>) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        let email_check = self.per_email.check_key(&email.to_string());
        let address_check = match address {
            Some(address) => self.per_address.check_key(&address.to_string()),
            None => Ok(()),
        };
        match (email_check, address_check) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(not_until), _) | (_, Err(not_until)) => Err(not_until.wait_time_from(clock.now())),
        }
    }

    /// Forgets keys that are back to a full quota, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.per_email.retain_recent();
        self.per_address.retain_recent();
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}
