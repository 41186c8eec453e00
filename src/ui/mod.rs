//! Pages and components. They call the server functions in `crate::api` and ask the policy in
//! `crate::domain` what to show; the server refuses what a role cannot do anyway.

pub mod components;
pub mod grant_picker;
pub mod key_table;
pub mod layout;
pub mod own_permissions;
pub mod pages;
pub mod paging;
pub mod passkeys;
pub mod second_factor;
pub mod service_accounts;
pub mod single_sign_on;
pub mod step_up;
pub mod webauthn;
pub mod webhooks;
