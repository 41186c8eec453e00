//! The state every request handler and server function can reach.

use super::{
    audit::Repeats, config::Config, db::Pool, keys::KeyHasher, passwords::Passwords,
    sessions::HashedSessionStore, throttle::Throttles, usage::KeyUsage,
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct AppState {
    /// Behind an `Arc`: the state is cloned several times a request (Leptos' context, the
    /// server functions), and `LeptosOptions` is a dozen strings.
    pub leptos_options: Arc<LeptosOptions>,
    pub pool: Pool,
    pub config: Arc<Config>,
    pub key_hasher: KeyHasher,
    pub passwords: Passwords,
    pub key_usage: KeyUsage,
    pub throttles: Throttles,
    pub sessions: HashedSessionStore,
    /// Repeated failures (refused keys, wrong passwords) waiting to be counted into the trail.
    pub audit_repeats: Repeats,
    /// Set when `KEYWARD_SMTP_URL` is.
    pub mailer: Option<Arc<super::mail::Mailer>>,
}

/// leptos_axum's file handler takes the options from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos_options.as_ref().clone()
    }
}
