//! Everything that runs only on the server, grouped by what it owns (each folder's `mod.rs` says
//! what it holds): who is calling (`principal`, `caller`, `request`), `signin`, `sso` (single
//! sign-on and provisioning from an identity provider), `keys`, `audit`,
//! `limits`, `mail`, the SQL `stores`, and the plumbing they share (configuration, the database,
//! the clock, paging). The HTTP router, the OpenAPI document and the CLI are above it, in `host`.

pub mod audit;
pub mod caller;
pub mod config;
pub mod db;
pub mod error;
pub mod joining;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod paging;
pub mod principal;
pub mod request;
pub mod respond;
pub mod signin;
pub mod sso;
pub mod state;
pub mod stores;
pub mod webhooks;

pub use principal::Principal;
pub use state::AppState;
