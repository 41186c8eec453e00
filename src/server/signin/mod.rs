//! People signing in with a browser: the session store and its cookie (`sessions`), password
//! hashing kept off the executor (`passwords`), and the checks a sign-in, a sign-up or a
//! password change make before acting (`login_checks`: a throttled password proof, the quota on
//! new logins).

pub mod login_checks;
pub mod passwords;
pub mod sessions;
