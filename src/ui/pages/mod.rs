pub mod account_keys;
pub mod checks;
pub mod home;
pub mod invite;
pub mod keys;
pub mod login;
pub mod members;
pub mod signup;
