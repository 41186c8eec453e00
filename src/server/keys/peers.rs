//! Instances that share a PostgreSQL database, and how a change to key checks made on one is
//! acknowledged by the others instead of waited for.
//!
//! `keys::cache` makes a change safe on every instance by waiting one cache window after the
//! commit: by then no instance trusts what it kept from before. This module lets the writer
//! answer as soon as every *live* instance has said that it forgot, and keeps the window only
//! for an instance that does not answer:
//!
//! - **Heartbeats.** Each instance writes its row in `key_check_instances` (the database's own
//!   clock, `seen_at`) on every reading of the key-check counter, and trusts its kept keys only
//!   after a tick in which both succeeded — until one window after that tick began. An instance
//!   is *live* when its row is younger than one window and the margin, by the database's clock.
//! - **Notifications.** After its commit, the writer forgets the changed accounts' keys itself,
//!   asks the database which other instances are live, and sends `NOTIFY keyward_key_checks`
//!   with a change id and the accounts. Each instance listening forgets those accounts' keys and
//!   answers `NOTIFY keyward_key_acks`. The writer answers once every live instance it asked
//!   about has acknowledged, or after the window and margin, whichever comes first.
//! - **Why that is exact.** An instance that acknowledged has forgotten the keys (and a row it
//!   was reading at that moment is not kept: the cache's generation moved), so its next check
//!   reads what was committed. An instance that was not live when the writer asked had its last
//!   heartbeat more than a window and a margin earlier, and its trust ended a window after the
//!   tick that wrote it, so it trusts nothing now; it trusts again only after a new reading,
//!   which sees the moved counter and forgets the changed accounts. An instance that is live but
//!   silent (paused, its listener reconnecting) is covered by the wait, as before.
//!
//! A notification lost while a listener reconnects costs only the fallback wait: nothing relies
//! on a notification arriving.

use crate::domain::ids::AccountId;
use crate::server::db::Pool;
use sqlx::postgres::PgListener;
use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::Duration,
};
use tokio::sync::oneshot;

const CHECKS_CHANNEL: &str = "keyward_key_checks";
const ACKS_CHANNEL: &str = "keyward_key_acks";
/// Rows of instances gone for a day are deleted.
const FORGET_AFTER_MS: i64 = crate::domain::time::DAY.as_millis() as i64;
/// The database's clock, in milliseconds since the epoch.
const DATABASE_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// This instance among the others on one PostgreSQL database.
pub struct Peers {
    id: String,
    database_url: String,
    /// Changes this instance announced and is waiting to hear acknowledged.
    pending: Mutex<HashMap<u64, Pending>>,
}

struct Pending {
    waiting_for: HashSet<String>,
    all_heard: Option<oneshot::Sender<()>>,
}

/// What announcing a change left to wait for.
pub enum Announced {
    /// No other instance is live: nothing to wait for.
    Alone,
    /// `heard` resolves when every live instance has acknowledged `change`.
    Waiting {
        change: u64,
        heard: oneshot::Receiver<()>,
    },
}

impl Peers {
    pub fn new(database_url: &str) -> Peers {
        Peers {
            id: crate::domain::random::new_id("ins"),
            database_url: database_url.to_string(),
            pending: Mutex::new(HashMap::new()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Writes this instance's heartbeat (with the database's clock).
    pub async fn heartbeat(&self, pool: &Pool) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO key_check_instances (id, seen_at) VALUES ($1, {DATABASE_NOW_MS}) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at"
        ))
        .bind(&self.id)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Takes this instance out of the live set (on shutdown), and deletes rows of instances
    /// long gone.
    pub async fn leave(&self, pool: &Pool) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "DELETE FROM key_check_instances WHERE id = $1 OR seen_at < {DATABASE_NOW_MS} - $2"
        ))
        .bind(&self.id)
        .bind(FORGET_AFTER_MS)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Announces a committed change of these accounts' key checks to the other instances that
    /// are live (heard from within `live_for`).
    pub async fn announce(
        &self,
        pool: &Pool,
        accounts: &HashSet<AccountId>,
        live_for: Duration,
    ) -> Result<Announced, sqlx::Error> {
        let live: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT id FROM key_check_instances WHERE id <> $1 AND seen_at > {DATABASE_NOW_MS} - $2"
        ))
        .bind(&self.id)
        .bind(i64::try_from(live_for.as_millis()).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
        if live.is_empty() {
            return Ok(Announced::Alone);
        }
        let change = rand::random::<u64>();
        let (all_heard, heard) = oneshot::channel();
        self.pending.lock().expect("peers lock poisoned").insert(
            change,
            Pending {
                waiting_for: live.into_iter().map(|(id,)| id).collect(),
                all_heard: Some(all_heard),
            },
        );
        let accounts: Vec<&str> = accounts.iter().map(AccountId::as_str).collect();
        let sent = notify(
            pool,
            CHECKS_CHANNEL,
            &format!("{change} {} {}", self.id, accounts.join(",")),
        )
        .await;
        if let Err(error) = sent {
            self.pending
                .lock()
                .expect("peers lock poisoned")
                .remove(&change);
            return Err(error);
        }
        Ok(Announced::Waiting { change, heard })
    }

    /// Gives up on a change's acknowledgements (its wait ran out).
    pub fn stop_waiting(&self, change: u64) {
        self.pending
            .lock()
            .expect("peers lock poisoned")
            .remove(&change);
    }

    /// Listens for the other instances' changes (forgetting their accounts' keys in `forget`,
    /// then acknowledging) and for acknowledgements of this instance's own, for as long as the
    /// server runs; reconnects when the connection drops.
    pub async fn listen(&self, pool: &Pool, forget: impl Fn(&HashSet<AccountId>)) {
        let mut failing = false;
        loop {
            let mut listener = match PgListener::connect(&self.database_url).await {
                Ok(listener) => listener,
                Err(error) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(%error, "cannot listen for other instances' key changes; they will wait a cache window for this one");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen_all([CHECKS_CHANNEL, ACKS_CHANNEL]).await {
                tracing::warn!(%error, "cannot listen for other instances' key changes");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            if std::mem::take(&mut failing) {
                tracing::info!("listening for other instances' key changes again");
            }
            // `None`: the connection was lost (and notifications with it); connect again.
            while let Ok(Some(notification)) = listener.try_recv().await {
                let payload = notification.payload();
                match notification.channel() {
                    CHECKS_CHANNEL => self.heard_change(pool, payload, &forget).await,
                    ACKS_CHANNEL => self.heard_ack(payload),
                    _ => {}
                }
            }
        }
    }

    async fn heard_change(
        &self,
        pool: &Pool,
        payload: &str,
        forget: &impl Fn(&HashSet<AccountId>),
    ) {
        let Some(change) = Change::parse(payload) else {
            tracing::warn!("an unreadable key-change notification");
            return;
        };
        if change.writer == self.id {
            return;
        }
        forget(&change.accounts);
        let ack = format!("{} {} {}", change.id, change.writer, self.id);
        if let Err(error) = notify(pool, ACKS_CHANNEL, &ack).await {
            tracing::warn!(%error, "could not acknowledge a key change; its writer waits a cache window");
        }
    }

    fn heard_ack(&self, payload: &str) {
        let mut parts = payload.split(' ');
        let (Some(change), Some(writer), Some(from)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if writer != self.id {
            return;
        }
        let Ok(change) = change.parse::<u64>() else {
            return;
        };
        let mut pending = self.pending.lock().expect("peers lock poisoned");
        let Some(waiting) = pending.get_mut(&change) else {
            return;
        };
        waiting.waiting_for.remove(from);
        if waiting.waiting_for.is_empty() {
            if let Some(all_heard) = waiting.all_heard.take() {
                let _ = all_heard.send(());
            }
            pending.remove(&change);
        }
    }
}

/// A change as a notification carries it: `<id> <writer> <account>,<account>…`.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    id: u64,
    writer: String,
    accounts: HashSet<AccountId>,
}

impl Change {
    fn parse(payload: &str) -> Option<Change> {
        let mut parts = payload.splitn(3, ' ');
        let id = parts.next()?.parse().ok()?;
        let writer = parts.next()?.to_string();
        let accounts = parts
            .next()
            .unwrap_or_default()
            .split(',')
            .filter(|account| !account.is_empty())
            .map(|account| AccountId::parse("account", account).ok())
            .collect::<Option<HashSet<_>>>()?;
        Some(Change {
            id,
            writer,
            accounts,
        })
    }
}

/// `NOTIFY` with a payload of ids, digits, spaces and commas only (checked, since a payload
/// cannot be a bind parameter of `NOTIFY`).
async fn notify(pool: &Pool, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
    let plain = payload
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b" ,_-".contains(&byte));
    if !plain {
        return Err(sqlx::Error::Protocol(format!(
            "refusing to send the notification payload {payload:?}"
        )));
    }
    sqlx::query(&format!("NOTIFY {channel}, '{payload}'"))
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_notification_reads_back_as_it_was_sent() {
        let account = AccountId::generate();
        let payload = format!("42 ins_abc {account}");
        let change = Change::parse(&payload).unwrap();
        assert_eq!(change.id, 42);
        assert_eq!(change.writer, "ins_abc");
        assert_eq!(change.accounts, [account].into_iter().collect());
        // A leak report that revoked nothing still announces (and is acknowledged).
        assert!(Change::parse("7 ins_abc ").unwrap().accounts.is_empty());
        assert!(Change::parse("x ins_abc").is_none());
        assert!(Change::parse("7 ins_abc bad'id").is_none());
    }

    #[test]
    fn an_acknowledgement_from_the_last_live_instance_ends_the_wait() {
        let peers = Peers::new("postgres://unused");
        let (all_heard, mut heard) = oneshot::channel();
        peers.pending.lock().unwrap().insert(
            9,
            Pending {
                waiting_for: ["ins_b".to_string(), "ins_c".to_string()].into(),
                all_heard: Some(all_heard),
            },
        );
        let writer = peers.id().to_string();
        peers.heard_ack(&format!("9 {writer} ins_b"));
        assert!(heard.try_recv().is_err(), "one of two is not enough");
        peers.heard_ack("9 ins_other ins_c");
        assert!(
            heard.try_recv().is_err(),
            "an ack for another writer's change"
        );
        peers.heard_ack(&format!("9 {writer} ins_c"));
        assert!(heard.try_recv().is_ok());
        assert!(peers.pending.lock().unwrap().is_empty());
    }
}
