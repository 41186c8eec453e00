//! Webhooks: endpoints that receive the account's audit events as they are recorded, signed in
//! the Standard Webhooks format (`server::webhooks`). Changing them needs an Admin in a browser
//! (`webhooks:write`): an endpoint keeps receiving after the key that could have made it is
//! revoked. Reading them, and their deliveries, needs `audit:read`, like the trail they carry.

use crate::domain::wire::Json;
use crate::domain::{
    requests::{
        CreateWebhookRequest, DeliveryIdRequest, UpdateWebhookRequest, WebhookDeliveriesRequest,
        WebhookIdRequest,
    },
    views::{CreatedWebhook, DeliveryList, Empty, OneWebhook, RotatedWebhookSecret, WebhookList},
    ApiError,
};
use leptos::prelude::*;

/// How long a rotated-away secret keeps signing too, so receivers switch without a gap.
#[cfg(feature = "ssr")]
const SECRET_OVERLAP: std::time::Duration = crate::domain::time::DAY;

/// Checks an endpoint URL for `field`: its shape, and (unless private targets are allowed) that
/// it does not name an internal address outright. Names are checked again at every delivery,
/// on the address they resolve to then.
#[cfg(feature = "ssr")]
fn checked_url(state: &crate::server::AppState, raw: &str) -> Result<String, ApiError> {
    use crate::server::webhooks::targets::{parse_url, refusal_of_url};
    let url = parse_url(raw).map_err(|problem| ApiError::invalid_input("url", &problem))?;
    if let Some(refusal) = refusal_of_url(&url, state.config.webhooks.allow_private) {
        return Err(ApiError::invalid_input("url", &refusal));
    }
    Ok(url.to_string())
}

#[cfg(feature = "ssr")]
fn checked_events(events: &[String]) -> Result<String, ApiError> {
    use crate::domain::webhooks::parse_patterns;
    let patterns =
        parse_patterns(events).map_err(|problem| ApiError::invalid_input("events", &problem))?;
    Ok(patterns
        .iter()
        .map(|pattern| pattern.as_text())
        .collect::<Vec<_>>()
        .join(" "))
}

#[cfg(feature = "ssr")]
fn webhook_id(raw: &str) -> Result<crate::domain::ids::WebhookId, ApiError> {
    crate::domain::ids::WebhookId::parse("webhook_id", raw)
}

/// Adds an endpoint (Admin, in a browser). Its signing secret is in this answer only.
#[server(prefix = "/api", endpoint = "v1/webhooks/create", input = Json, output = Json)]
pub async fn create_webhook(
    #[server(flatten)] request: CreateWebhookRequest,
) -> Result<CreatedWebhook, ApiError> {
    use crate::domain::inputs::parse_description;
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::respond::respond_created;
    use crate::server::stores::webhooks::{self, CreateError, NewWebhook, MAX_PER_ACCOUNT};
    use crate::server::webhooks::signing::SigningSecret;

    // A new endpoint sends the trail somewhere new: as sensitive as exporting it.
    let (state, caller) = authorize_with_recent_proof(Permission::WebhooksWrite).await?;
    let url = checked_url(&state, &request.url)?;
    let events = checked_events(&request.events)?;
    let description = parse_description(request.description.as_deref().unwrap_or_default())?;
    let salt = SigningSecret::new_salt();
    let now = now_millis();
    let event = caller.audit(&state, AuditAction::WebhookCreated);
    let row = match webhooks::create(
        &state.pool,
        caller.account_id(),
        NewWebhook {
            url: &url,
            events: &events,
            description: &description,
            secret_salt: &salt,
        },
        now,
        event,
    )
    .await
    {
        Ok(row) => row,
        Err(CreateError::Full) => {
            return Err(ApiError::conflict(format!(
                "An account may have at most {MAX_PER_ACCOUNT} webhooks; remove one first."
            )))
        }
        Err(CreateError::Database(error)) => return Err(error.into()),
    };
    respond_created();
    Ok(CreatedWebhook {
        webhook: row.view(now),
        secret: SigningSecret::of_salt(&state.key_hasher, &salt).reveal(),
    })
}

/// The account's endpoints (Admin).
#[server(prefix = "/api", endpoint = "v1/webhooks/list", input = Json, output = Json)]
pub async fn list_webhooks() -> Result<WebhookList, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::stores::webhooks;

    let (state, caller) = authorize(Permission::AuditRead).await?;
    let now = now_millis();
    let rows = webhooks::list(&state.pool, caller.account_id()).await?;
    Ok(WebhookList {
        webhooks: rows.iter().map(|row| row.view(now)).collect(),
    })
}

/// Changes an endpoint's URL, events or description (Admin, in a browser). Deliveries already
/// written go to the new URL; new patterns apply to events from now on.
#[server(prefix = "/api", endpoint = "v1/webhooks/update", input = Json, output = Json)]
pub async fn update_webhook(
    #[server(flatten)] request: UpdateWebhookRequest,
) -> Result<OneWebhook, ApiError> {
    use crate::domain::inputs::parse_description;
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores::webhooks::{self, WebhookChange};

    let (state, caller) = authorize(Permission::WebhooksWrite).await?;
    // A new address or new events send the trail somewhere new; a description does not.
    if request.url.is_some() || request.events.is_some() {
        crate::server::signin::step_up::require_recent_proof(&state, &caller)?;
    }
    let webhook_id = webhook_id(&request.webhook_id)?;
    let change = WebhookChange {
        url: request
            .url
            .as_deref()
            .map(|url| checked_url(&state, url))
            .transpose()?,
        events: request.events.as_deref().map(checked_events).transpose()?,
        description: request
            .description
            .as_deref()
            .map(parse_description)
            .transpose()?,
    };
    let now = now_millis();
    let event = caller.audit(&state, AuditAction::WebhookUpdated);
    let row = webhooks::update(
        &state.pool,
        caller.account_id(),
        &webhook_id,
        change,
        now,
        event,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(OneWebhook {
        webhook: row.view(now),
    })
}

/// Removes an endpoint and its deliveries, pending ones included (Admin, in a browser).
#[server(prefix = "/api", endpoint = "v1/webhooks/delete", input = Json, output = Json)]
pub async fn delete_webhook(
    #[server(flatten)] request: WebhookIdRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores::webhooks;

    let (state, caller) = authorize(Permission::WebhooksWrite).await?;
    let webhook_id = webhook_id(&request.webhook_id)?;
    let event = caller.audit(&state, AuditAction::WebhookDeleted);
    if !webhooks::delete(&state.pool, caller.account_id(), &webhook_id, event).await? {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(Empty {})
}

/// Gives an endpoint a new signing secret (Admin, in a browser). For a day deliveries carry a
/// signature by each secret, so the receiver can switch whenever it likes within that day.
#[server(prefix = "/api", endpoint = "v1/webhooks/rotate-secret", input = Json, output = Json)]
pub async fn rotate_webhook_secret(
    #[server(flatten)] request: WebhookIdRequest,
) -> Result<RotatedWebhookSecret, ApiError> {
    use crate::domain::time::{now_millis, rfc3339};
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores::webhooks;
    use crate::server::webhooks::signing::SigningSecret;

    let (state, caller) = authorize(Permission::WebhooksWrite).await?;
    let webhook_id = webhook_id(&request.webhook_id)?;
    let salt = SigningSecret::new_salt();
    let now = now_millis();
    let previous_until = now.after(SECRET_OVERLAP);
    let event = caller.audit(&state, AuditAction::WebhookSecretRotated);
    let rotated = webhooks::rotate_secret(
        &state.pool,
        caller.account_id(),
        &webhook_id,
        &salt,
        previous_until,
        now,
        event,
    )
    .await?;
    if !rotated {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(RotatedWebhookSecret {
        secret: SigningSecret::of_salt(&state.key_hasher, &salt).reveal(),
        previous_secret_until: rfc3339(previous_until),
    })
}

/// One endpoint's deliveries, newest first, with each one's last answer (Admin).
#[server(prefix = "/api", endpoint = "v1/webhooks/deliveries", input = Json, output = Json)]
pub async fn list_webhook_deliveries(
    #[server(flatten)] request: WebhookDeliveriesRequest,
) -> Result<DeliveryList, ApiError> {
    use crate::domain::time::Millis;
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::paging::{decode_cursor, split};
    use crate::server::stores::webhooks;

    let (state, caller) = authorize(Permission::AuditRead).await?;
    let webhook_id = webhook_id(&request.webhook_id)?;
    let limit = match request.limit {
        None => 20,
        Some(limit) => usize::try_from(limit)
            .ok()
            .filter(|limit| (1..=100).contains(limit))
            .ok_or_else(|| ApiError::invalid_input("limit", "must be 1 to 100"))?,
    };
    let before: Option<(i64, String)> = decode_cursor(&request.cursor, "webhooks/deliveries")?;
    if webhooks::get(&state.pool, caller.account_id(), &webhook_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("webhook"));
    }
    let rows = webhooks::deliveries(
        &state.pool,
        caller.account_id(),
        &webhook_id,
        before.map(|(time, id)| (Millis::from_i64(time), id)),
        limit,
    )
    .await?;
    let (rows, next_cursor) = split(rows, limit, |(_, (time, id))| (time.as_i64(), id.clone()));
    Ok(DeliveryList {
        deliveries: rows.into_iter().map(|(delivery, _)| delivery).collect(),
        next_cursor,
    })
}

/// Sends one delivery again, now, as a new delivery with the same `webhook-id` (Admin, in a
/// browser): after fixing a receiver, say.
#[server(prefix = "/api", endpoint = "v1/webhooks/redeliver", input = Json, output = Json)]
pub async fn redeliver_webhook(
    #[server(flatten)] request: DeliveryIdRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::ids::DeliveryId;
    use crate::domain::time::now_millis;
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::respond::respond_accepted;
    use crate::server::stores::webhooks;

    let (state, caller) = authorize(Permission::WebhooksWrite).await?;
    let delivery_id = DeliveryId::parse("delivery_id", &request.delivery_id)?;
    webhooks::redeliver(&state.pool, caller.account_id(), &delivery_id, now_millis())
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    respond_accepted();
    Ok(Empty {})
}

/// Sends a `webhook.test` event to one endpoint, whatever events it receives (Admin, in a
/// browser). Its delivery shows in the endpoint's list like any other.
#[server(prefix = "/api", endpoint = "v1/webhooks/test", input = Json, output = Json)]
pub async fn test_webhook(#[server(flatten)] request: WebhookIdRequest) -> Result<Empty, ApiError> {
    use crate::domain::random::new_id;
    use crate::domain::time::{now_millis, rfc3339};
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::respond::respond_accepted;
    use crate::server::stores::webhooks;

    let (state, caller) = authorize(Permission::WebhooksWrite).await?;
    let webhook_id = webhook_id(&request.webhook_id)?;
    let now = now_millis();
    let message_id = new_id("msg");
    let payload = serde_json::json!({
        "type": "webhook.test",
        "timestamp": rfc3339(now),
        "data": {
            "webhook_id": webhook_id,
            "account_id": caller.account_id(),
            "sent_by": caller.user.as_ref().map(|user| &user.email),
            "message": "A test event from keyward: this endpoint receives and verifies deliveries.",
        },
    })
    .to_string();
    webhooks::enqueue_test(
        &state.pool,
        caller.account_id(),
        &webhook_id,
        &message_id,
        &payload,
        now,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("webhook"))?;
    respond_accepted();
    Ok(Empty {})
}
