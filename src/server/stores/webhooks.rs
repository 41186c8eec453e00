//! Webhook endpoints and their outbox (`webhook_deliveries`): endpoints are changed with their
//! audit event like everything else; deliveries are written by the audit append itself
//! ([`enqueue`]), so a delivery exists exactly when the change it reports committed. The worker
//! (`server::webhooks::worker`) claims due deliveries here and records how each attempt went.

use crate::domain::audit::AuditAction;
use crate::domain::ids::{AccountId, DeliveryId, WebhookId};
use crate::domain::time::{rfc3339, Millis};
use crate::domain::views::{DeliveryStatus, Webhook, WebhookDelivery, WebhookStatus};
use crate::domain::webhooks::stored_patterns_match;
use crate::server::audit::{Event, Target};
use crate::server::db::Pool;
use crate::server::stores::accounts::lock_account;
use serde_json::json;
use sqlx::{Any, Row, Transaction};

/// How many endpoints one account may have: each event is written once per endpoint.
pub const MAX_PER_ACCOUNT: i64 = 20;

/// The PostgreSQL channel that tells every instance's worker a delivery was written; sent from
/// inside the writing transaction, so it arrives when (and only if) the transaction commits.
pub const WAKE_CHANNEL: &str = "keyward_webhooks";

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: WebhookId,
    pub url: String,
    pub events: String,
    pub description: String,
    pub secret_salt: String,
    pub previous_secret_salt: Option<String>,
    pub previous_secret_until: Option<Millis>,
    pub status: String,
    pub failing_since: Option<Millis>,
    pub created_at: Millis,
}

impl WebhookRow {
    pub fn view(&self, now: Millis) -> Webhook {
        Webhook {
            id: self.id.clone(),
            url: self.url.clone(),
            events: self.events.split_whitespace().map(str::to_string).collect(),
            description: self.description.clone(),
            status: if self.status == "failing" {
                WebhookStatus::Failing
            } else {
                WebhookStatus::Active
            },
            failing_since: self.failing_since.map(rfc3339),
            previous_secret_until: self
                .previous_secret_until
                .filter(|until| *until > now)
                .map(rfc3339),
            created_at: rfc3339(self.created_at),
        }
    }

    /// The salts whose secrets sign a delivery made `now`: the current one, and the one before
    /// it while its overlap lasts.
    pub fn signing_salts(&self, now: Millis) -> Vec<&str> {
        let mut salts = vec![self.secret_salt.as_str()];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret_salt, self.previous_secret_until)
        {
            if until > now {
                salts.push(previous);
            }
        }
        salts
    }
}

const WEBHOOK_COLUMNS: &str = "id, url, events, description, secret_salt, previous_secret_salt, \
    previous_secret_until, status, failing_since, created_at";

/// The account's endpoints, oldest first.
pub async fn list(pool: &Pool, account_id: &AccountId) -> Result<Vec<WebhookRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY created_at, id"
    ))
    .bind(account_id)
    .fetch_all(pool)
    .await
}

/// One endpoint of the account (`None` for another account's), from the pool or inside a
/// transaction.
pub async fn get<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    account_id: &AccountId,
    webhook_id: &WebhookId,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = $1 AND id = $2"
    ))
    .bind(account_id)
    .bind(webhook_id)
    .fetch_optional(executor)
    .await
}

/// How many of the account's endpoints are failing (the Admins' banner).
pub async fn failing_count(pool: &Pool, account_id: &AccountId) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM webhooks WHERE account_id = $1 AND status = 'failing'",
    )
    .bind(account_id)
    .fetch_one(pool)
    .await?;
    Ok(count)
}

fn target(url: &str, webhook_id: &WebhookId) -> Target {
    Target::new(crate::domain::audit::TargetKind::Webhook, webhook_id, url)
}

/// A new endpoint, as `webhooks/create` checked it.
pub struct NewWebhook<'a> {
    pub url: &'a str,
    /// The patterns, spaced.
    pub events: &'a str,
    pub description: &'a str,
    pub secret_salt: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the account has as many webhooks as it may")]
    Full,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Adds an endpoint with its `webhook.created` event (under the account's lock: two creates at
/// once cannot both see room for one more).
pub async fn create(
    pool: &Pool,
    account_id: &AccountId,
    new: NewWebhook<'_>,
    now: Millis,
    event: Event,
) -> Result<WebhookRow, CreateError> {
    let mut transaction = lock_account(pool, account_id).await?;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhooks WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(&mut *transaction)
        .await?;
    if count >= MAX_PER_ACCOUNT {
        return Err(CreateError::Full);
    }
    let id = WebhookId::generate();
    sqlx::query(
        "INSERT INTO webhooks (id, account_id, url, events, description, secret_salt, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(new.url)
    .bind(new.events)
    .bind(new.description)
    .bind(new.secret_salt)
    .bind(now)
    .execute(&mut *transaction)
    .await?;
    let event = event
        .target(target(new.url, &id))
        .details(json!({"events": new.events, "description": new.description}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(WebhookRow {
        id,
        url: new.url.to_string(),
        events: new.events.to_string(),
        description: new.description.to_string(),
        secret_salt: new.secret_salt.to_string(),
        previous_secret_salt: None,
        previous_secret_until: None,
        status: "active".to_string(),
        failing_since: None,
        created_at: now,
    })
}

/// A change to an endpoint; `None` fields keep their value.
#[derive(Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<String>,
    pub description: Option<String>,
}

/// Changes an endpoint with its `webhook.updated` event; `None` when the account has no such
/// endpoint.
pub async fn update(
    pool: &Pool,
    account_id: &AccountId,
    webhook_id: &WebhookId,
    change: WebhookChange,
    now: Millis,
    event: Event,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    // Writing first: on SQLite a transaction that reads and then writes fails when another
    // writer committed in between; the account's lock takes the write lock up front.
    let mut transaction = lock_account(pool, account_id).await?;
    let Some(before) = get(&mut *transaction, account_id, webhook_id).await? else {
        return Ok(None);
    };
    let after = WebhookRow {
        url: change.url.clone().unwrap_or_else(|| before.url.clone()),
        events: change
            .events
            .clone()
            .unwrap_or_else(|| before.events.clone()),
        description: change
            .description
            .clone()
            .unwrap_or_else(|| before.description.clone()),
        ..before.clone()
    };
    sqlx::query(
        "UPDATE webhooks SET url = $1, events = $2, description = $3, updated_at = $4 \
         WHERE id = $5 AND account_id = $6",
    )
    .bind(&after.url)
    .bind(&after.events)
    .bind(&after.description)
    .bind(now)
    .bind(webhook_id)
    .bind(account_id)
    .execute(&mut *transaction)
    .await?;
    let mut changed = serde_json::Map::new();
    for (field, old, new) in [
        ("url", &before.url, &after.url),
        ("events", &before.events, &after.events),
        ("description", &before.description, &after.description),
    ] {
        if old != new {
            changed.insert(field.to_string(), json!({"from": old, "to": new}));
        }
    }
    let event = event
        .target(target(&after.url, webhook_id))
        .details(serde_json::Value::Object(changed));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Some(after))
}

/// Removes an endpoint and its deliveries, with its `webhook.deleted` event (which is not
/// delivered to the endpoint it removes). `false` when the account has no such endpoint.
pub async fn delete(
    pool: &Pool,
    account_id: &AccountId,
    webhook_id: &WebhookId,
    event: Event,
) -> Result<bool, sqlx::Error> {
    // Writing first: on SQLite a transaction that reads and then writes fails when another
    // writer committed in between; the account's lock takes the write lock up front.
    let mut transaction = lock_account(pool, account_id).await?;
    let Some(row) = get(&mut *transaction, account_id, webhook_id).await? else {
        return Ok(false);
    };
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(webhook_id)
        .execute(&mut *transaction)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE id = $1 AND account_id = $2")
        .bind(webhook_id)
        .bind(account_id)
        .execute(&mut *transaction)
        .await?;
    let event = event.target(target(&row.url, webhook_id));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// Gives an endpoint a new signing secret (its salt), keeping the old one signing too until
/// `previous_until`, with the `webhook.secret_rotated` event. `false` when the account has no
/// such endpoint. A rotation during an overlap drops the oldest secret at once.
pub async fn rotate_secret(
    pool: &Pool,
    account_id: &AccountId,
    webhook_id: &WebhookId,
    new_salt: &str,
    previous_until: Millis,
    now: Millis,
    event: Event,
) -> Result<bool, sqlx::Error> {
    // Writing first: on SQLite a transaction that reads and then writes fails when another
    // writer committed in between; the account's lock takes the write lock up front.
    let mut transaction = lock_account(pool, account_id).await?;
    let Some(row) = get(&mut *transaction, account_id, webhook_id).await? else {
        return Ok(false);
    };
    sqlx::query(
        "UPDATE webhooks SET previous_secret_salt = secret_salt, previous_secret_until = $1, \
             secret_salt = $2, updated_at = $3 WHERE id = $4 AND account_id = $5",
    )
    .bind(previous_until)
    .bind(new_salt)
    .bind(now)
    .bind(webhook_id)
    .bind(account_id)
    .execute(&mut *transaction)
    .await?;
    let event = event
        .target(target(&row.url, webhook_id))
        .details(json!({"previous_secret_until": rfc3339(previous_until)}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// The outbox write, called by the audit append for every event inside the transaction that
/// records it: one pending delivery per endpoint of the account whose patterns match. Returns
/// how many it wrote; on PostgreSQL it also notifies every instance's worker (at commit).
pub async fn enqueue(
    transaction: &mut Transaction<'static, Any>,
    account_id: &str,
    event_id: &str,
    action: AuditAction,
    now: Millis,
) -> Result<usize, sqlx::Error> {
    let endpoints: Vec<(WebhookId, String)> =
        sqlx::query_as("SELECT id, events FROM webhooks WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(&mut **transaction)
            .await?;
    let mut written = 0;
    for (webhook_id, events) in endpoints {
        if !stored_patterns_match(&events, action) {
            continue;
        }
        insert_delivery(
            transaction,
            &NewDelivery {
                webhook_id: &webhook_id,
                account_id,
                message_id: event_id,
                event_id: Some(event_id),
                event_type: action.as_str(),
                payload: None,
            },
            now,
        )
        .await?;
        written += 1;
    }
    if written > 0 {
        wake_workers(transaction).await?;
    }
    Ok(written)
}

/// One outbox row to write.
struct NewDelivery<'a> {
    webhook_id: &'a WebhookId,
    account_id: &'a str,
    message_id: &'a str,
    event_id: Option<&'a str>,
    event_type: &'a str,
    payload: Option<&'a str>,
}

async fn insert_delivery(
    transaction: &mut Transaction<'static, Any>,
    new: &NewDelivery<'_>,
    now: Millis,
) -> Result<DeliveryId, sqlx::Error> {
    let id = DeliveryId::generate();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, account_id, message_id, event_id, \
             event_type, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)",
    )
    .bind(&id)
    .bind(new.webhook_id)
    .bind(new.account_id)
    .bind(new.message_id)
    .bind(new.event_id)
    .bind(new.event_type)
    .bind(new.payload)
    .bind(now)
    .execute(&mut **transaction)
    .await?;
    Ok(id)
}

/// On PostgreSQL, tells every instance's worker (this one's too) at commit that deliveries are
/// due. On SQLite there is one instance, whose worker is woken by `webhooks::wake`.
async fn wake_workers(transaction: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
    if transaction.backend_name() == "PostgreSQL" {
        sqlx::query(&format!("SELECT pg_notify('{WAKE_CHANNEL}', '')"))
            .execute(&mut **transaction)
            .await?;
    }
    crate::server::webhooks::wake();
    Ok(())
}

/// Queues a test event for one endpoint (whatever its patterns); `None` when the account has no
/// such endpoint.
pub async fn enqueue_test(
    pool: &Pool,
    account_id: &AccountId,
    webhook_id: &WebhookId,
    message_id: &str,
    payload: &str,
    now: Millis,
) -> Result<Option<DeliveryId>, sqlx::Error> {
    let mut transaction = lock_account(pool, account_id).await?;
    if get(&mut *transaction, account_id, webhook_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let id = insert_delivery(
        &mut transaction,
        &NewDelivery {
            webhook_id,
            account_id: account_id.as_str(),
            message_id,
            event_id: None,
            event_type: "webhook.test",
            payload: Some(payload),
        },
        now,
    )
    .await?;
    wake_workers(&mut transaction).await?;
    transaction.commit().await?;
    Ok(Some(id))
}

/// What a redelivery copies: endpoint, message id, event id, event type, test payload.
type DeliveryToRepeat = (WebhookId, String, Option<String>, String, Option<String>);

/// Queues one delivery again, as a new delivery of the same message to the same endpoint
/// (receivers that keep `webhook-id`s see it is the same event). `None` when the account has no
/// such delivery.
pub async fn redeliver(
    pool: &Pool,
    account_id: &AccountId,
    delivery_id: &DeliveryId,
    now: Millis,
) -> Result<Option<DeliveryId>, sqlx::Error> {
    let mut transaction = lock_account(pool, account_id).await?;
    let row: Option<DeliveryToRepeat> = sqlx::query_as(
        "SELECT webhook_id, message_id, event_id, event_type, payload \
             FROM webhook_deliveries WHERE id = $1 AND account_id = $2",
    )
    .bind(delivery_id)
    .bind(account_id)
    .fetch_optional(&mut *transaction)
    .await?;
    let Some((webhook_id, message_id, event_id, event_type, payload)) = row else {
        return Ok(None);
    };
    let id = insert_delivery(
        &mut transaction,
        &NewDelivery {
            webhook_id: &webhook_id,
            account_id: account_id.as_str(),
            message_id: &message_id,
            event_id: event_id.as_deref(),
            event_type: &event_type,
            payload: payload.as_deref(),
        },
        now,
    )
    .await?;
    wake_workers(&mut transaction).await?;
    transaction.commit().await?;
    Ok(Some(id))
}

#[derive(sqlx::FromRow)]
struct DeliveryRecord {
    id: DeliveryId,
    message_id: String,
    event_id: Option<String>,
    event_type: String,
    status: String,
    attempts: i64,
    next_attempt_at: Millis,
    last_attempt_at: Option<Millis>,
    response_status: Option<i64>,
    response_body: Option<String>,
    duration_ms: Option<i64>,
    error: Option<String>,
    created_at: Millis,
    delivered_at: Option<Millis>,
}

impl DeliveryRecord {
    fn view(self) -> WebhookDelivery {
        let status = match self.status.as_str() {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        };
        WebhookDelivery {
            id: self.id,
            message_id: self.message_id,
            event_id: self.event_id,
            event_type: self.event_type,
            status,
            attempts: self.attempts,
            next_attempt_at: (status == DeliveryStatus::Pending)
                .then(|| rfc3339(self.next_attempt_at)),
            last_attempt_at: self.last_attempt_at.map(rfc3339),
            response_status: self.response_status,
            response_body: self.response_body,
            duration_ms: self.duration_ms,
            error: self.error,
            created_at: rfc3339(self.created_at),
            delivered_at: self.delivered_at.map(rfc3339),
        }
    }
}

/// One page of an endpoint's deliveries, newest first, below `before` (`created_at`, `id` of
/// the last one seen). Fetches `limit + 1` so the caller can tell whether more follow.
pub async fn deliveries(
    pool: &Pool,
    account_id: &AccountId,
    webhook_id: &WebhookId,
    before: Option<(Millis, String)>,
    limit: usize,
) -> Result<Vec<(WebhookDelivery, (Millis, String))>, sqlx::Error> {
    let (before_time, before_id) = before.unwrap_or((Millis::from_i64(i64::MAX), String::new()));
    let rows: Vec<DeliveryRecord> = sqlx::query_as(
        "SELECT id, message_id, event_id, event_type, status, attempts, next_attempt_at, \
             last_attempt_at, response_status, response_body, duration_ms, error, created_at, \
             delivered_at \
         FROM webhook_deliveries WHERE account_id = $1 AND webhook_id = $2 \
           AND (created_at < $3 OR (created_at = $3 AND ($4 = '' OR id < $4))) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(account_id)
    .bind(webhook_id)
    .bind(before_time)
    .bind(&before_id)
    .bind(limit as i64 + 1)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let position = (row.created_at, row.id.to_string());
            (row.view(), position)
        })
        .collect())
}

/// A delivery the worker claimed, with its endpoint.
pub struct Claimed {
    pub id: DeliveryId,
    pub account_id: AccountId,
    pub message_id: String,
    pub event_id: Option<String>,
    pub payload: Option<String>,
    pub attempts: i64,
    pub webhook: WebhookRow,
}

/// Claims up to `limit` due deliveries until `lease_until`: no other worker (of this instance or
/// another) takes them before then. A worker that dies mid-delivery leaves its claim to run
/// out, and the delivery is tried again — deliveries are at least once, and the receiver tells
/// a repeat by its `webhook-id`.
pub async fn claim_due(
    pool: &Pool,
    now: Millis,
    lease_until: Millis,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut connection = pool.acquire().await?;
    // PostgreSQL: rows another instance is claiming right now are skipped rather than waited
    // for, so that two workers never take the same one. SQLite has one writer at a time.
    let skip_locked = if connection.backend_name() == "PostgreSQL" {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let claimed: Vec<(DeliveryId,)> = sqlx::query_as(&format!(
        "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id IN ( \
             SELECT id FROM webhook_deliveries WHERE status = 'pending' \
               AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
             ORDER BY next_attempt_at LIMIT $3 {skip_locked}) \
         RETURNING id"
    ))
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(claimed.len());
    for (id,) in claimed {
        let row = sqlx::query(&format!(
            "SELECT d.account_id, d.message_id, d.event_id, d.payload, d.attempts, \
                 {columns} \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1",
            columns = WEBHOOK_COLUMNS
                .split(", ")
                .map(|column| format!("w.{column}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(&id)
        .fetch_optional(&mut *connection)
        .await?;
        let Some(row) = row else { continue };
        let webhook = <WebhookRow as sqlx::FromRow<_>>::from_row(&row)?;
        out.push(Claimed {
            id,
            account_id: row.try_get("account_id")?,
            message_id: row.try_get("message_id")?,
            event_id: row.try_get("event_id")?,
            payload: row.try_get("payload")?,
            attempts: row.try_get("attempts")?,
            webhook,
        });
    }
    Ok(out)
}

/// How one attempt went.
pub struct Attempt {
    pub at: Millis,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

/// What follows an attempt.
pub enum Next {
    Delivered,
    RetryAt(Millis),
    OutOfRetries,
}

/// Records the attempts of claimed deliveries and releases their claims, in one transaction.
/// A delivered endpoint that was failing is active again.
pub async fn record_attempts(
    pool: &Pool,
    attempts: &[(&Claimed, &Attempt, &Next)],
) -> Result<(), sqlx::Error> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut transaction = pool.begin().await?;
    for (claimed, attempt, next) in attempts {
        let (status, next_attempt_at, delivered_at) = match next {
            Next::Delivered => ("delivered", attempt.at, Some(attempt.at)),
            Next::RetryAt(at) => ("pending", *at, None),
            Next::OutOfRetries => ("failed", attempt.at, None),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
                 next_attempt_at = $2, claimed_until = NULL, last_attempt_at = $3, \
                 response_status = $4, response_body = $5, duration_ms = $6, error = $7, \
                 delivered_at = $8 WHERE id = $9",
        )
        .bind(status)
        .bind(next_attempt_at)
        .bind(attempt.at)
        .bind(attempt.response_status.map(i64::from))
        .bind(attempt.response_body.as_deref())
        .bind(attempt.duration_ms)
        .bind(attempt.error.as_deref())
        .bind(delivered_at)
        .bind(&claimed.id)
        .execute(&mut *transaction)
        .await?;
        if matches!(next, Next::Delivered) {
            sqlx::query(
                "UPDATE webhooks SET status = 'active', failing_since = NULL \
                 WHERE id = $1 AND status = 'failing'",
            )
            .bind(&claimed.webhook.id)
            .execute(&mut *transaction)
            .await?;
        }
    }
    transaction.commit().await
}

/// Marks an endpoint failing with its `webhook.failing` event; `false` when it already was (so
/// Admins are told once per outage, not once per failed delivery).
pub async fn mark_failing(
    pool: &Pool,
    webhook: &WebhookRow,
    now: Millis,
    error: &str,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let marked = sqlx::query(
        "UPDATE webhooks SET status = 'failing', failing_since = $1 \
         WHERE id = $2 AND status = 'active'",
    )
    .bind(now)
    .bind(&webhook.id)
    .execute(&mut *transaction)
    .await?
    .rows_affected()
        == 1;
    if !marked {
        return Ok(false);
    }
    let event = event
        .target(target(&webhook.url, &webhook.id))
        .details(json!({"error": error}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// The Admins of an account, to tell about a failing endpoint.
pub async fn admin_emails(pool: &Pool, account_id: &AccountId) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.account_id = $1 AND m.role = 'admin' ORDER BY u.email",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(email,)| email).collect())
}

/// Keys expiring within the warning window that have had no `key.expiring` event: each is
/// claimed and its event written in one transaction, so several instances write it once.
pub async fn keys_due_an_expiring_event(
    pool: &Pool,
    now: Millis,
) -> Result<Vec<ExpiringKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.id, k.account_id, k.name, k.expires_at, u.email AS owner, \
             k.service_account_id \
         FROM api_keys k LEFT JOIN users u ON u.id = k.user_id \
         WHERE k.expires_at > $1 AND k.expires_at <= $2 AND k.revoked_at IS NULL \
           AND k.rotated_to IS NULL AND k.expiring_event_at IS NULL \
         ORDER BY k.expires_at LIMIT 500",
    )
    .bind(now)
    .bind(now.after(crate::server::stores::keys::read::EXPIRY_WARNING))
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
pub struct ExpiringKeyRow {
    pub id: crate::domain::ids::KeyId,
    pub account_id: AccountId,
    pub name: String,
    pub expires_at: Millis,
    pub owner: Option<String>,
    pub service_account_id: Option<String>,
}

/// Writes one key's `key.expiring` event, unless another round or instance already did.
pub async fn record_expiring(
    pool: &Pool,
    key: &ExpiringKeyRow,
    now: Millis,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let claimed = sqlx::query(
        "UPDATE api_keys SET expiring_event_at = $1 WHERE id = $2 AND expiring_event_at IS NULL",
    )
    .bind(now)
    .bind(&key.id)
    .execute(&mut *transaction)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        return Ok(false);
    }
    let mut details = json!({"expires_at": rfc3339(key.expires_at)});
    if let Some(owner) = &key.owner {
        details["owner"] = json!(owner);
    }
    if let Some(service_account_id) = &key.service_account_id {
        details["service_account_id"] = json!(service_account_id);
    }
    let event = event
        .target(Target::key(&key.id, &key.name))
        .details(details);
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}
