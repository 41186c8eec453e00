//! API keys on the server: the secret's format and keyed hash (`secret`), the check every bearer
//! request passes (`check`) and the cache that makes it cheap without going stale (`cache`, with
//! `peers` telling the other instances), what a new key may be (`rules`), a key's networks
//! (`networks`) and its usage counters (`usage`).

pub mod cache;
pub mod changes;
pub mod check;
pub mod lifecycle;
pub mod networks;
pub mod peers;
pub mod rules;
pub mod secret;
pub mod usage;
pub mod verify;
