//! Types shared by the server and the browser: roles and the access policy, validated inputs,
//! the error type of every server function, and the views sent over the wire.

pub mod audit;
pub mod error;
pub mod ids;
pub mod inputs;
pub mod key_state;
pub mod permissions;
pub mod policy;
#[cfg(feature = "ssr")]
pub mod random;
pub mod requests;
pub mod time;
pub mod views;
pub mod webhooks;
pub mod wire;

pub use error::{ApiError, ErrorCode};
pub use permissions::{Grant, Granted, OwnPermission, Permission, PermissionName, PermissionSet};
pub use policy::{
    allows, key_access, new_service_key_access, KeyChange, KeyHolder, KeyRefusal, Role, Via,
};
