//! Black-box tests: the real router on port 0, a fresh database, HTTP calls like a program's.

mod accounts;
mod attacks;
mod audit;
mod checks;
mod cli;
mod containment;
mod instances;
mod keys;
mod lists;
mod mail;
mod matrix;
mod passkeys;
mod permissions;
mod platform;
mod scim;
mod second_factor;
mod service_accounts;
mod sso;
mod step_up;
mod support;
mod verify;
mod webhooks;
