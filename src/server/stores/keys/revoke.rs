//! Revoking keys: one, or several in one transaction — each with every key it created and every
//! successor bound to it.

use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, KeyId},
    views::Key,
};
use crate::server::audit::{Event, Target};
use crate::server::db::Pool;
use crate::server::stores::keys::DESCENDANTS;
use serde_json::json;
use sqlx::{Any, Transaction};

/// Why a key is revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// By a person or a program that may (`keys/revoke`).
    ByCaller,
    /// By a leak report: the key is also marked, so its owner is told why.
    LeakReport,
}

/// Revokes a key of this account and every key it created, recursively (a no-op on keys
/// already revoked, which keep their first time), with its event: `key.revoked`, or
/// `key.leak_reported`, which also marks the key so its owner is told why — and, since a leaked
/// secret may have rotated itself, also stops the keys it was rotated from through itself.
/// Returns how many keys stopped.
pub async fn revoke(
    pool: &Pool,
    key: &Key,
    account_id: &AccountId,
    revocation: Revocation,
    now: Millis,
    event: Event,
) -> Result<u64, sqlx::Error> {
    revoke_all(pool, vec![(key, event)], account_id, revocation, now).await
}

/// [`revoke`] for several keys of one account in one transaction: all of them stop, or none.
pub async fn revoke_all(
    pool: &Pool,
    keys: Vec<(&Key, Event)>,
    account_id: &AccountId,
    revocation: Revocation,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let mut stopped = 0;
    let mut events = Vec::new();
    for (key, event) in keys {
        let (count, event) =
            revoke_in(&mut transaction, key, account_id, revocation, now, event).await?;
        stopped += count;
        events.extend(event);
    }
    // The events last, after every key's row is locked: appending takes the chain's and the
    // key-check counter's locks, which every transaction takes last (no two wait on each other).
    for event in &events {
        crate::server::stores::audit::append(&mut transaction, event).await?;
        // A key check reads revocations: every instance must forget the account's keys.
        crate::server::stores::key_checks::changed(&mut transaction, event).await?;
    }
    transaction.commit().await?;
    Ok(stopped)
}

/// Stops one key (and its line) inside `transaction`; returns how many stopped, and the event
/// to append when any did.
async fn revoke_in(
    transaction: &mut Transaction<'static, Any>,
    key: &Key,
    account_id: &AccountId,
    revocation: Revocation,
    now: Millis,
    event: Event,
) -> Result<(u64, Option<Event>), sqlx::Error> {
    let key_id = &key.id;
    let leaked = revocation == Revocation::LeakReport;
    // First the key itself: this waits for (and then excludes) a child being inserted under
    // the lock `insert` takes on its parent.
    let reported = if leaked {
        ", leak_reported_at = $1"
    } else {
        ""
    };
    let own = sqlx::query(&format!(
        "UPDATE api_keys SET revoked_at = $1{reported} \
         WHERE account_id = $2 AND id = $3 AND revoked_at IS NULL"
    ))
    .bind(now)
    .bind(account_id)
    .bind(key_id)
    .execute(&mut **transaction)
    .await?;
    // A leaked successor of a rotation through itself takes the keys it replaced with it: the
    // thief may hold those secrets too.
    let mut tops = vec![key_id.clone()];
    let mut predecessors = 0;
    if leaked {
        let bound_to: Vec<(KeyId,)> = sqlx::query_as(
            "WITH RECURSIVE predecessors (id, bound_to) AS ( \
                 SELECT id, bound_to_key_id FROM api_keys WHERE id = $1 AND account_id = $2 \
                 UNION \
                 SELECT k.id, k.bound_to_key_id FROM api_keys k JOIN predecessors p ON k.id = p.bound_to \
             ) SELECT id FROM predecessors WHERE id <> $1",
        )
        .bind(key_id)
        .bind(account_id)
        .fetch_all(&mut **transaction)
        .await?;
        for (predecessor,) in bound_to {
            predecessors += sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 \
                 WHERE account_id = $2 AND id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(account_id)
            .bind(&predecessor)
            .execute(&mut **transaction)
            .await?
            .rows_affected();
            tops.push(predecessor);
        }
    }
    // Then the descendants, in a statement that starts after the lock was had, so it sees
    // every child committed before.
    let mut descendants = 0;
    for top in &tops {
        descendants += sqlx::query(&format!(
            "{DESCENDANTS} UPDATE api_keys SET revoked_at = $2 \
             WHERE id IN (SELECT id FROM descendants) AND account_id = $3 AND revoked_at IS NULL"
        ))
        .bind(top)
        .bind(now)
        .bind(account_id)
        .execute(&mut **transaction)
        .await?
        .rows_affected();
    }
    let stopped = own.rows_affected() + predecessors + descendants;
    // Revoking a key that was already revoked changes nothing, and records nothing.
    if stopped == 0 {
        return Ok((0, None));
    }
    let mut details = json!({
        "owner": key.owner.as_ref().map(|owner| owner.email.as_str()),
        "children_revoked": descendants,
    });
    if predecessors > 0 {
        details["predecessors_revoked"] = json!(predecessors);
    }
    let event = event
        .target(Target::key(key_id, &key.name))
        .details(details);
    Ok((stopped, Some(event)))
}
