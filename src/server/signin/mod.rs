//! People signing in with a browser: the session store and its cookie (`sessions`), password
//! hashing kept off the executor (`passwords`), and the checks a sign-in, a sign-up or a
//! password change make before acting (`login_checks`: a throttled password proof, the quota on
//! new logins, a throttled second-factor proof), second factors (`second_factor`: authenticator
//! codes and recovery codes), passkeys (`passkeys`: the WebAuthn ceremonies) and the recent proof sensitive actions ask for (`step_up`).

pub mod login_checks;
pub mod passkeys;
pub mod passwords;
pub mod second_factor;
pub mod sessions;
pub mod step_up;
