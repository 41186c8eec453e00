//! Webhooks: the account's audit events, delivered to the endpoints it names, signed in the
//! Standard Webhooks format.
//!
//! **Nothing lost, nothing invented.** The audit append writes one delivery row per matching
//! endpoint in the transaction of the change it records (`stores::webhooks::enqueue`): a change
//! that rolls back leaves no delivery, and a change that commits has its deliveries on disk
//! before anyone hears of it — a crash (even `kill -9`) right after the commit delays them
//! until an instance starts again, and loses none.
//!
//! **Sent once per attempt, by one instance.** The [`worker`] claims due rows with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL: two instances never take the same row). A worker
//! that dies while sending leaves its lease to run out and the row is sent again, so a receiver
//! can see a delivery twice — with the same `webhook-id`, by which it tells the repeat.
//!
//! **Soon.** The worker sleeps until it is woken: on PostgreSQL by `NOTIFY keyward_webhooks`,
//! which the writing transaction sends and the database delivers at commit, to every instance;
//! on SQLite (one instance) by [`wake`], which the append calls just before its commit. A wake
//! that comes too early finds nothing and the next poll (every second) finds the row: waking
//! is about speed, never about whether a delivery is made.

pub mod signing;
pub mod targets;
pub mod worker;

use std::sync::LazyLock;
use tokio::sync::Notify;

/// This instance's worker's doorbell.
static DOORBELL: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Tells this instance's worker that deliveries may be due.
pub fn wake() {
    DOORBELL.notify_one();
}

async fn rung() {
    DOORBELL.notified().await;
}
