//! The server functions: keyward's whole API, used by the web UI and by programs alike at
//! `/api/v1/...` (see `docs/api.md`). Each one does the same four steps — resolve the caller,
//! authorize, call the store, return a view — and nothing else.

pub mod account;
pub mod audit;
pub mod auth;
pub mod checks;
pub mod invites;
pub mod keys;
pub mod members;
pub mod passkeys;
pub mod permissions;
pub mod second_factor;
pub mod service_accounts;
pub mod sso;
pub mod webhooks;
