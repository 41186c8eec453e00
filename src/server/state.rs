//! The state every request handler and server function can reach.

use crate::server::audit::repeats::Repeats;
use crate::server::config::Config;
use crate::server::db::Pool;
use crate::server::keys::cache::KeyCache;
use crate::server::keys::secret::KeyHasher;
use crate::server::keys::usage::KeyUsage;
use crate::server::limits::throttle::Throttles;
use crate::server::signin::passwords::Passwords;
use crate::server::signin::sessions::HashedSessionStore;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::{ops::Deref, sync::Arc};

/// The services behind one `Arc`: the state is cloned several times a request (axum's `State`,
/// Leptos' context, every server function's `app_state()`), and a clone is then one atomic
/// increment rather than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub leptos_options: LeptosOptions,
    pub pool: Pool,
    pub config: Config,
    pub key_hasher: KeyHasher,
    /// The keys this instance has verified, while it may trust them.
    pub key_cache: KeyCache,
    /// The other instances on the same PostgreSQL database (`None` on SQLite).
    pub peers: Option<crate::server::keys::peers::Peers>,
    pub passwords: Passwords,
    /// keyward as a WebAuthn relying party (`signin::passkeys`).
    pub passkeys: crate::server::signin::passkeys::Passkeys,
    pub key_usage: KeyUsage,
    pub throttles: Throttles,
    pub sessions: HashedSessionStore,
    /// Repeated failures (refused keys, wrong passwords) waiting to be counted into the trail.
    pub audit_repeats: Repeats,
    /// Set when `KEYWARD_SMTP_URL` is.
    pub mailer: Option<Arc<crate::server::mail::Mailer>>,
    /// Single sign-on, set when `KEYWARD_OIDC_ISSUER` is (`sso::oidc`).
    pub oidc: Option<Arc<crate::server::sso::oidc::Oidc>>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// leptos_axum's file handler takes the options from the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos_options.clone()
    }
}
