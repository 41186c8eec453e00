//! Limits against guessing, flooding and growth: the sign-in and bearer throttles and each key's
//! rate limit (`throttle`), their shared counterparts in Redis for several instances (`shared`),
//! and the ceilings on what one account may hold (`ceilings`).

pub mod ceilings;
pub mod key_rate;
pub mod shared;
pub mod throttle;
