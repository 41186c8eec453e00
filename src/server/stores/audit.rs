//! The audit trail in the database: appending (always inside the caller's transaction),
//! reading newest first with filters and a cursor, pruning by age, and walking a chain.

use crate::domain::audit::TargetKind;
use crate::domain::random::new_id;
use crate::domain::time::{rfc3339, Millis};
use crate::domain::{
    audit::{ActorType, AuditAction, AuditActor, AuditEvent, AuditTarget, Outcome},
    ids::{AccountId, KeyId, ServiceAccountId, UserId},
    views::{ServiceAccountRef, User},
};
use crate::server::audit::{ChainedFields, Event};
use crate::server::db::Pool;
use crate::server::keys::secret::KeyHasher;
use sqlx::{any::AnyRow, Any, Row, Transaction};

/// Appends `event` to its account's chain, inside `transaction` — the one that makes the
/// change the event records. Call it last, just before committing: it takes the account's
/// chain lock, and every transaction taking it last means no two wait on each other.
pub async fn append(
    transaction: &mut Transaction<'static, Any>,
    event: &Event,
) -> Result<(), sqlx::Error> {
    // Taking the next number locks the account's head row until commit: appends to one
    // account are serialised, so each links to the one before it.
    let (seq, prev_hash): (i64, String) = sqlx::query_as(
        "UPDATE audit_heads SET seq = seq + 1 WHERE account_id = $1 RETURNING seq, hash",
    )
    .bind(&event.account_id)
    .fetch_one(&mut **transaction)
    .await?;
    let id = new_id("evt");
    let details = event.details.to_string();
    let actor = &event.actor;
    let target = event.target.as_ref();
    let fields = ChainedFields {
        id: &id,
        account_id: event.account_id.as_str(),
        seq,
        time: event.time.as_i64(),
        action: event.action.as_str(),
        outcome: event.outcome.as_str(),
        actor_type: actor.kind.stored(),
        actor_user_id: actor.user.as_ref().map(|user| user.id.as_str()),
        actor_email: actor.user.as_ref().map(|user| user.email.as_str()),
        actor_key_id: actor.key_id.as_ref().map(KeyId::as_str),
        actor_key_name: actor.key_name.as_deref(),
        actor_service_account_id: actor
            .service_account
            .as_ref()
            .map(|service_account| service_account.id.as_str()),
        actor_service_account_name: actor
            .service_account
            .as_ref()
            .map(|service_account| service_account.name.as_str()),
        target_type: target.map(|target| target.kind.as_str()),
        target_id: target.map(|target| target.id.as_str()),
        target_label: target.map(|target| target.label.as_str()),
        details: &details,
        client_address: event.origin.client_address.as_deref(),
        user_agent: event.origin.user_agent.as_deref(),
        prev_hash: &prev_hash,
    };
    let hash = fields.hash(event.chain_key());
    sqlx::query(
        "INSERT INTO audit_events (id, account_id, seq, time, action, outcome, actor_type, \
             actor_user_id, actor_email, actor_key_id, actor_key_name, target_type, target_id, \
             target_label, details, client_address, user_agent, prev_hash, hash, \
             actor_service_account_id, actor_service_account_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
    )
    .bind(fields.id)
    .bind(fields.account_id)
    .bind(fields.seq)
    .bind(fields.time)
    .bind(fields.action)
    .bind(fields.outcome)
    .bind(fields.actor_type)
    .bind(fields.actor_user_id)
    .bind(fields.actor_email)
    .bind(fields.actor_key_id)
    .bind(fields.actor_key_name)
    .bind(fields.target_type)
    .bind(fields.target_id)
    .bind(fields.target_label)
    .bind(fields.details)
    .bind(fields.client_address)
    .bind(fields.user_agent)
    .bind(fields.prev_hash)
    .bind(&hash)
    .bind(fields.actor_service_account_id)
    .bind(fields.actor_service_account_name)
    .execute(&mut **transaction)
    .await?;
    sqlx::query("UPDATE audit_heads SET hash = $1 WHERE account_id = $2")
        .bind(&hash)
        .bind(&event.account_id)
        .execute(&mut **transaction)
        .await?;
    // The outbox, in the same transaction: a webhook delivery exists exactly when its event
    // (and so its change) committed.
    crate::server::stores::webhooks::enqueue(
        transaction,
        event.account_id.as_str(),
        &id,
        event.action,
        event.time,
    )
    .await?;
    Ok(())
}

/// Appends an event that records no change of its own (a sign-in, a refused key).
pub async fn append_alone(pool: &Pool, event: &Event) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    append(&mut transaction, event).await?;
    transaction.commit().await
}

/// Which events to read, newest first.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub action: Option<AuditAction>,
    pub actor_user_id: Option<UserId>,
    /// Events by this key, or about it.
    pub key_id: Option<KeyId>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// Only events older than this one (`seq`): the cursor.
    pub before_seq: Option<i64>,
}

const EVENT_COLUMNS: &str = "seq, id, account_id, time, action, outcome, actor_type, \
    actor_user_id, actor_email, actor_key_id, actor_key_name, target_type, target_id, \
    target_label, details, client_address, user_agent, actor_service_account_id, \
    actor_service_account_name";

/// One page of an account's events, newest first, and the `seq` to continue below when there
/// are more. Every filter is a condition on an indexed column, and the cursor is a position in
/// the account's sequence, so a deep page costs what the first one does.
pub async fn page(
    pool: &Pool,
    account_id: &AccountId,
    filter: &Filter,
    limit: usize,
) -> Result<(Vec<AuditEvent>, Option<i64>), sqlx::Error> {
    let mut conditions = vec!["account_id = $1".to_string()];
    let mut texts: Vec<String> = Vec::new();
    let mut numbers: Vec<i64> = Vec::new();
    // Text parameters come first ($2…), numbers after them.
    if let Some(action) = filter.action {
        texts.push(action.as_str().to_string());
        conditions.push(format!("action = ${}", texts.len() + 1));
    }
    if let Some(user_id) = &filter.actor_user_id {
        texts.push(user_id.to_string());
        conditions.push(format!("actor_user_id = ${}", texts.len() + 1));
    }
    let key = filter.key_id.as_ref().map(|key_id| {
        texts.push(key_id.to_string());
        texts.len() + 1
    });
    let first_number = texts.len() + 2;
    for (value, condition) in [
        (filter.since.map(Millis::as_i64), "time >="),
        (filter.until.map(Millis::as_i64), "time <"),
        (filter.before_seq, "seq <"),
    ] {
        if let Some(value) = value {
            numbers.push(value);
            conditions.push(format!("{condition} ${}", first_number + numbers.len() - 1));
        }
    }
    let conditions = conditions.join(" AND ");
    let fetch = limit + 1;
    let sql = match key {
        None => format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE {conditions} ORDER BY seq DESC LIMIT {fetch}"
        ),
        // "By or about this key" as two index walks, one per column, merged: a single OR makes
        // SQLite scan the whole account (measured: 140 ms at 300,000 events, against 15 ms).
        Some(n) => format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE account_id = $1 AND seq IN ( \
                 SELECT seq FROM (SELECT seq FROM audit_events WHERE {conditions} \
                     AND actor_key_id = ${n} ORDER BY seq DESC LIMIT {fetch}) AS by_key \
                 UNION ALL \
                 SELECT seq FROM (SELECT seq FROM audit_events WHERE {conditions} \
                     AND target_id = ${n} AND target_type = '{key}' ORDER BY seq DESC LIMIT {fetch}) AS about_key \
             ) ORDER BY seq DESC LIMIT {fetch}",
            key = TargetKind::Key.as_str(),
        ),
    };
    let mut query = sqlx::query(&sql).bind(account_id);
    for text in &texts {
        query = query.bind(text);
    }
    for number in &numbers {
        query = query.bind(*number);
    }
    let rows = query.fetch_all(pool).await?;
    let more = rows.len() > limit;
    let mut events = Vec::with_capacity(limit.min(rows.len()));
    let mut last_seq = None;
    for row in rows.iter().take(limit) {
        last_seq = Some(row.try_get::<i64, _>("seq")?);
        events.push(view(row)?);
    }
    Ok((events, if more { last_seq } else { None }))
}

/// One event as `audit/list` shows it, with its place in the chain (`seq`, `hash`): the body of
/// its webhook deliveries. `None` once it is pruned.
pub async fn event_with_link(
    pool: &Pool,
    account_id: &AccountId,
    event_id: &str,
) -> Result<Option<(AuditEvent, i64, String)>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS}, hash FROM audit_events WHERE account_id = $1 AND id = $2"
    ))
    .bind(account_id)
    .bind(event_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| Ok((view(&row)?, row.try_get("seq")?, row.try_get("hash")?)))
        .transpose()
}

fn view(row: &AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let text = |column: &str| row.try_get::<Option<String>, _>(column);
    let decode_error = |column: &str, value: &str| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("{value:?} is not a stored {column}").into(),
    };
    let action: String = row.try_get("action")?;
    let outcome: String = row.try_get("outcome")?;
    let actor_type: String = row.try_get("actor_type")?;
    let details: String = row.try_get("details")?;
    let user = match (
        row.try_get::<Option<UserId>, _>("actor_user_id")?,
        text("actor_email")?,
    ) {
        (Some(id), Some(email)) => Some(User { id, email }),
        _ => None,
    };
    let service_account = match (
        row.try_get::<Option<ServiceAccountId>, _>("actor_service_account_id")?,
        text("actor_service_account_name")?,
    ) {
        (Some(id), Some(name)) => Some(ServiceAccountRef { id, name }),
        _ => None,
    };
    let target = match (
        text("target_type")?,
        text("target_id")?,
        text("target_label")?,
    ) {
        (Some(kind), Some(id), label) => Some(AuditTarget {
            kind,
            id,
            label: label.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(AuditEvent {
        id: row.try_get("id")?,
        time: rfc3339(Millis::from_i64(row.try_get("time")?)),
        account_id: Some(row.try_get("account_id")?),
        action: AuditAction::parse(&action).ok_or_else(|| decode_error("action", &action))?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| decode_error("outcome", &outcome))?,
        actor: AuditActor {
            kind: match (ActorType::parse(&actor_type), &service_account) {
                (Some(ActorType::AccountKey), Some(_)) => ActorType::ServiceKey,
                (Some(kind), _) => kind,
                (None, _) => return Err(decode_error("actor_type", &actor_type)),
            },
            user,
            key_id: text("actor_key_id")?,
            key_name: text("actor_key_name")?,
            service_account,
        },
        target,
        details: serde_json::from_str(&details).map_err(|error| sqlx::Error::ColumnDecode {
            index: "details".into(),
            source: Box::new(error),
        })?,
        client_address: text("client_address")?,
        user_agent: text("user_agent")?,
    })
}

/// Deletes events older than `before`, a batch at a time so that no single statement holds the
/// database for long. Returns how many went.
pub async fn prune(pool: &Pool, before: Millis) -> Result<u64, sqlx::Error> {
    const BATCH: i64 = 5_000;
    let mut total = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM audit_events WHERE id IN \
                 (SELECT id FROM audit_events WHERE time < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// One stored event with every chained field, for verification.
pub struct StoredLink {
    pub id: String,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub computed: String,
}

/// Every account, with the head of its chain (newest `seq` and `hash`) — `None` when its head
/// row is missing, which no change of keyward's makes.
pub async fn heads(pool: &Pool) -> Result<Vec<(AccountId, Option<(i64, String)>)>, sqlx::Error> {
    let rows: Vec<(AccountId, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT a.id, h.seq, h.hash FROM accounts a \
         LEFT JOIN audit_heads h ON h.account_id = a.id ORDER BY a.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(account_id, seq, hash)| (account_id, seq.zip(hash)))
        .collect())
}

/// Up to `limit` links of one account's chain after `after_seq`, oldest first, each with the
/// hash its stored fields give now.
pub async fn links(
    pool: &Pool,
    hasher: &KeyHasher,
    account_id: &AccountId,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredLink>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS}, prev_hash, hash FROM audit_events \
         WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(account_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let text = |column: &str| row.try_get::<Option<String>, _>(column);
            let id: String = row.try_get("id")?;
            let account: String = row.try_get("account_id")?;
            let (action, outcome, actor_type, details): (String, String, String, String) = (
                row.try_get("action")?,
                row.try_get("outcome")?,
                row.try_get("actor_type")?,
                row.try_get("details")?,
            );
            let (actor_user_id, actor_email, actor_key_id, actor_key_name) = (
                text("actor_user_id")?,
                text("actor_email")?,
                text("actor_key_id")?,
                text("actor_key_name")?,
            );
            let (actor_service_account_id, actor_service_account_name) = (
                text("actor_service_account_id")?,
                text("actor_service_account_name")?,
            );
            let (target_type, target_id, target_label) = (
                text("target_type")?,
                text("target_id")?,
                text("target_label")?,
            );
            let (client_address, user_agent) = (text("client_address")?, text("user_agent")?);
            let prev_hash: String = row.try_get("prev_hash")?;
            let seq: i64 = row.try_get("seq")?;
            let computed = ChainedFields {
                id: &id,
                account_id: &account,
                seq,
                time: row.try_get("time")?,
                action: &action,
                outcome: &outcome,
                actor_type: &actor_type,
                actor_user_id: actor_user_id.as_deref(),
                actor_email: actor_email.as_deref(),
                actor_key_id: actor_key_id.as_deref(),
                actor_key_name: actor_key_name.as_deref(),
                actor_service_account_id: actor_service_account_id.as_deref(),
                actor_service_account_name: actor_service_account_name.as_deref(),
                target_type: target_type.as_deref(),
                target_id: target_id.as_deref(),
                target_label: target_label.as_deref(),
                details: &details,
                client_address: client_address.as_deref(),
                user_agent: user_agent.as_deref(),
                prev_hash: &prev_hash,
            }
            .hash(hasher);
            Ok(StoredLink {
                id,
                seq,
                prev_hash,
                hash: row.try_get("hash")?,
                computed,
            })
        })
        .collect()
}
