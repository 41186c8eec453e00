//! A company's identity provider in charge of its people: single sign-on with OpenID Connect
//! (`oidc`: keyward as the relying party; `sign_in`: what a person the provider vouches for
//! becomes here) and provisioning with SCIM 2.0 (`scim`: the account's token, and what switching
//! a person off, on or out does — their sessions and keys follow on the next request).

pub mod oidc;
pub mod scim;
pub mod sign_in;
