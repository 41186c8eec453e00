//! The delivery worker: one per instance, claiming due deliveries and sending each as one
//! signed POST, retrying on the schedule of `KEYWARD_WEBHOOK_RETRIES`; a delivery out of
//! retries marks its endpoint failing (an audit event, a banner, an email to the Admins).

use crate::domain::audit::AuditAction;
use crate::domain::time::{now_millis, Millis};
use crate::server::audit::{Actor, Event, Origin};
use crate::server::config::WebhookSettings;
use crate::server::mail::{send_later, Letter};
use crate::server::stores::webhooks::{self as store, Attempt, Claimed, Next};
use crate::server::webhooks::signing::{signature_header, SigningSecret};
use crate::server::webhooks::targets::{parse_url, refusal_of_url, GuardedResolver};
use crate::server::AppState;
use futures_util::StreamExt;
use serde_json::json;
use std::{sync::Arc, time::Duration};

/// Deliveries claimed at once, and sent at once.
const BATCH: i64 = 20;
/// How often the worker looks without being woken (retries that came due, missed wakes).
const POLL: Duration = Duration::from_secs(1);
/// How much of a receiver's answer is kept to show.
pub const MAX_RESPONSE_CHARS: usize = 1000;

/// The HTTP client deliveries go out with: no redirects (an allowed host must not bounce a
/// delivery inward), no proxy from the environment, names resolved by the guard, one timeout
/// per attempt.
pub fn client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: settings.allow_private,
        }))
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .user_agent(concat!("keyward-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook client's settings are valid")
}

/// Runs the worker until the process ends.
pub async fn run(state: AppState) {
    if state.peers.is_some() {
        let url = state.config.database_url.clone();
        tokio::spawn(async move { listen(&url).await });
    }
    let client = client(&state.config.webhooks);
    loop {
        let claimed = match deliver_due(&state, &client).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "could not claim webhook deliveries; will retry");
                0
            }
        };
        // Woken from inside a transaction that is about to commit (SQLite): give it the
        // moment it needs, so the claim that follows sees its rows.
        if claimed < BATCH as usize && tokio::time::timeout(POLL, super::rung()).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// On PostgreSQL: every commit that wrote deliveries, on any instance, wakes this worker.
async fn listen(database_url: &str) {
    loop {
        match sqlx::postgres::PgListener::connect(database_url).await {
            Ok(mut listener) => {
                if let Err(error) = listener.listen(store::WAKE_CHANNEL).await {
                    tracing::warn!(%error, "could not listen for webhook deliveries");
                } else {
                    while listener.recv().await.is_ok() {
                        super::wake();
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "could not listen for webhook deliveries"),
        }
        // Polling covers the gap until the listener is back.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Claims one batch of due deliveries, sends them side by side, and records how each went in
/// one transaction; returns how many it took. One write per batch rather than one per delivery:
/// on SQLite every write waits for the single writer, and the changes the clients make are
/// writing too (under load a delivery's own write was what made deliveries fall behind).
pub async fn deliver_due(state: &AppState, client: &reqwest::Client) -> Result<usize, sqlx::Error> {
    let settings = &state.config.webhooks;
    let now = now_millis();
    // The lease outlasts an attempt (its timeout) with room to record it.
    let lease_until = now.after(settings.timeout * 2 + Duration::from_secs(5));
    let claimed = store::claim_due(&state.pool, now, lease_until, BATCH).await?;
    let count = claimed.len();
    let outcomes: Vec<Outcome> = futures_util::stream::iter(claimed)
        .map(|claimed| attempt(state, client, claimed))
        .buffer_unordered(BATCH as usize)
        .filter_map(|outcome| async move {
            outcome
                .inspect_err(|error| {
                    tracing::warn!(%error, "could not prepare a webhook delivery; its claim runs out and it is tried again");
                })
                .ok()
        })
        .collect()
        .await;
    let recorded: Vec<(&Claimed, &Attempt, &Next)> = outcomes
        .iter()
        .map(|outcome| (&outcome.claimed, &outcome.attempt, &outcome.next))
        .collect();
    if let Err(error) = store::record_attempts(&state.pool, &recorded).await {
        tracing::warn!(%error, "could not record webhook attempts; their claims run out and they are tried again");
        return Ok(count);
    }
    for outcome in &outcomes {
        if matches!(outcome.next, Next::OutOfRetries) && !outcome.pruned {
            let error = outcome
                .attempt
                .error
                .clone()
                .or_else(|| {
                    outcome
                        .attempt
                        .response_status
                        .map(|status| format!("HTTP {status}"))
                })
                .unwrap_or_else(|| "no answer".to_string());
            mark_failing(state, &outcome.claimed, &error).await?;
        }
    }
    Ok(count)
}

/// One claimed delivery after its attempt: what happened and what follows.
struct Outcome {
    claimed: Claimed,
    attempt: Attempt,
    next: Next,
    /// Its event was pruned by the retention before it could go: ended, without blaming the
    /// endpoint.
    pruned: bool,
}

/// Sends one claimed delivery (not yet recorded).
async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    claimed: Claimed,
) -> Result<Outcome, sqlx::Error> {
    let settings = &state.config.webhooks;
    let started = now_millis();
    let Some(body) = body_of(state, &claimed).await? else {
        let attempt = Attempt {
            at: started,
            response_status: None,
            response_body: None,
            duration_ms: 0,
            error: Some("the event is no longer in the audit trail (past its retention)".into()),
        };
        return Ok(Outcome {
            claimed,
            attempt,
            next: Next::OutOfRetries,
            pruned: true,
        });
    };
    let attempt = send(state, client, &claimed, &body, started).await;
    let attempts_made = claimed.attempts + 1;
    let next = if attempt
        .response_status
        .is_some_and(|status| (200..300).contains(&status))
    {
        Next::Delivered
    } else {
        match settings.retries.get(attempts_made as usize - 1) {
            Some(wait) => Next::RetryAt(now_millis().after(*wait)),
            None => Next::OutOfRetries,
        }
    };
    tracing::debug!(delivery_id = %claimed.id, status = ?attempt.response_status, error = ?attempt.error, "webhook attempt");
    Ok(Outcome {
        claimed,
        attempt,
        next,
        pruned: false,
    })
}

/// The body of a delivery: a test event's own, or the audit event as `audit/list` shows it,
/// with its place in the account's chain. `None` when the event was pruned.
async fn body_of(state: &AppState, claimed: &Claimed) -> Result<Option<String>, sqlx::Error> {
    let Some(event_id) = &claimed.event_id else {
        return Ok(claimed.payload.clone());
    };
    let Some((event, seq, hash)) =
        crate::server::stores::audit::event_with_link(&state.pool, &claimed.account_id, event_id)
            .await?
    else {
        return Ok(None);
    };
    Ok(Some(
        json!({
            "type": event.action.as_str(),
            "timestamp": event.time,
            "data": event,
            "chain": {"seq": seq, "hash": hash},
        })
        .to_string(),
    ))
}

/// One attempt: refused before connecting when the URL names an internal address, else one
/// POST whose answer is read up to a few kilobytes.
async fn send(
    state: &AppState,
    client: &reqwest::Client,
    claimed: &Claimed,
    body: &str,
    started: Millis,
) -> Attempt {
    let failed = |error: String| Attempt {
        at: started,
        response_status: None,
        response_body: None,
        duration_ms: now_millis().since(started).as_millis() as i64,
        error: Some(error),
    };
    let url = match parse_url(&claimed.webhook.url) {
        Ok(url) => url,
        Err(problem) => return failed(format!("the URL {problem}")),
    };
    if let Some(refusal) = refusal_of_url(&url, state.config.webhooks.allow_private) {
        return failed(refusal);
    }
    let secrets: Vec<SigningSecret> = claimed
        .webhook
        .signing_salts(started)
        .into_iter()
        .map(|salt| SigningSecret::of_salt(&state.key_hasher, salt))
        .collect();
    let timestamp = started.as_i64() / 1000;
    let signature = signature_header(&secrets, &claimed.message_id, timestamp, body);
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &claimed.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_string())
        .send()
        .await;
    let mut response = match response {
        Ok(response) => response,
        Err(error) => return failed(describe(&error)),
    };
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    // Read a little more than is kept, and never the whole of a huge answer.
    while bytes.len() < MAX_RESPONSE_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .take(MAX_RESPONSE_CHARS)
        .collect();
    Attempt {
        at: started,
        response_status: Some(status),
        response_body: Some(text),
        duration_ms: now_millis().since(started).as_millis() as i64,
        error: None,
    }
}

/// A failed request in words: the error and its causes (the guard's refusal among them),
/// without the URL, which the delivery list shows anyway.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "could not send"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

/// Out of retries: the endpoint is marked failing (once per outage) with its audit event, and
/// the account's Admins are emailed.
async fn mark_failing(state: &AppState, claimed: &Claimed, error: &str) -> Result<(), sqlx::Error> {
    let now = now_millis();
    let event = Event::new(
        &state.key_hasher,
        &claimed.account_id,
        AuditAction::WebhookFailing,
        Actor::anonymous(),
        Origin::default(),
    );
    if !store::mark_failing(&state.pool, &claimed.webhook, now, error, event).await? {
        return Ok(());
    }
    tracing::warn!(webhook_id = %claimed.webhook.id, error, "a webhook endpoint is failing");
    let settings_url = state
        .config
        .public_url
        .as_ref()
        .map(|base| format!("{base}/settings#webhooks-title"));
    for email in store::admin_emails(&state.pool, &claimed.account_id).await? {
        send_later(
            state,
            Letter {
                to: email,
                subject: "A keyward webhook is failing".to_string(),
                body: format!(
                    "The webhook endpoint {url} did not accept a delivery after every retry \
                     ({error}).\n\nkeyward keeps writing its deliveries and tries each one on \
                     its schedule; the endpoint is active again as soon as one is received. \
                     The deliveries, with each answer, are on the Settings page{link}.\n",
                    url = claimed.webhook.url,
                    link = settings_url
                        .as_deref()
                        .map(|url| format!(": {url}"))
                        .unwrap_or_default(),
                ),
            },
        );
    }
    Ok(())
}

/// One round of `key.expiring` events: each key expiring within 7 days gets one, written in
/// one transaction with its claim (so several instances write it once). Returns how many.
pub async fn record_expiring_keys(state: &AppState, now: Millis) -> Result<usize, sqlx::Error> {
    let mut written = 0;
    for key in store::keys_due_an_expiring_event(&state.pool, now).await? {
        let event = Event::new(
            &state.key_hasher,
            &key.account_id,
            AuditAction::KeyExpiring,
            Actor::anonymous(),
            Origin::default(),
        );
        if store::record_expiring(&state.pool, &key, now, event).await? {
            written += 1;
        }
    }
    Ok(written)
}
