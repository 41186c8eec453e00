//! SQL, one module per aggregate. Every query that reads or changes an account's objects takes
//! the account id, so a caller can never reach another account's rows by guessing an id.

pub mod accounts;
pub mod audit;
pub mod checks;
mod conditions;
pub mod invites;
pub mod key_checks;
pub mod keys;
pub mod memberships;
pub mod own_permissions;
pub mod passkeys;
pub mod provisioning;
pub mod scim_tokens;
pub mod second_factors;
pub mod service_accounts;
pub mod sso_identities;
pub mod users;
pub mod webhooks;
