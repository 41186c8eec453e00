//! The Settings page's Webhooks section: the endpoints that receive the account's audit events,
//! each with its last deliveries (status, answer, timing), a test event, redelivery, secret
//! rotation and removal. Everyone who may read the audit log sees it; Admins change it.

use crate::api::webhooks::{
    list_webhook_deliveries, list_webhooks, CreateWebhook, DeleteWebhook, RedeliverWebhook,
    RotateWebhookSecret, TestWebhook,
};
use crate::domain::{
    ids::WebhookId,
    requests::{
        CreateWebhookRequest, DeliveryIdRequest, WebhookDeliveriesRequest, WebhookIdRequest,
    },
    views::{DeliveryStatus, Webhook, WebhookDelivery, WebhookStatus},
};
use crate::ui::components::{
    action_error, input_value, short_time, Card, ColumnHeads, ConfirmButton, ErrorNote, Loading,
    RelativeTime, SecretOnce,
};
use crate::ui::step_up::{retry_of, StepUpOr};
use leptos::prelude::*;

/// How many deliveries an endpoint shows; the API pages through the rest.
const SHOWN_DELIVERIES: i64 = 10;

/// The actions of the section, shared by every endpoint's row.
#[derive(Clone, Copy)]
struct Actions {
    delete: ServerAction<DeleteWebhook>,
    rotate: ServerAction<RotateWebhookSecret>,
    test: ServerAction<TestWebhook>,
    redeliver: ServerAction<RedeliverWebhook>,
    can_manage: bool,
}

#[component]
pub fn WebhooksSection(can_manage: bool) -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let actions = Actions {
        delete: ServerAction::new(),
        rotate: ServerAction::new(),
        test: ServerAction::new(),
        redeliver: ServerAction::new(),
        can_manage,
    };
    let webhooks = Resource::new(
        move || {
            (
                create.version().get(),
                actions.delete.version().get(),
                actions.rotate.version().get(),
            )
        },
        |_| list_webhooks(),
    );
    let created = move || create.value().get().and_then(Result::ok);
    let rotated = move || actions.rotate.value().get().and_then(Result::ok);
    view! {
        <Card
            class="webhooks"
            title_id="webhooks-title"
            title="Webhooks"
            hint="Send the account's audit events to the systems that act on them (a SIEM, chat, ticketing) as they are \
                  recorded: each delivery is signed the Standard Webhooks way, so receivers verify it with the official \
                  library of their language. A receiver that does not answer 2xx gets retries for about a day; then the \
                  endpoint is marked failing and Admins are emailed."
        >
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match webhooks.await {
                        Ok(list) if list.webhooks.is_empty() => view! {
                            <p class="muted">"No endpoint yet. An Admin adds one below."</p>
                        }.into_any(),
                        Ok(list) => list.webhooks.into_iter()
                            .map(|webhook| view! { <Endpoint webhook actions /> })
                            .collect_view()
                            .into_any(),
                        Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                    }
                })}
            </Transition>
            <ErrorNote error=action_error(actions.delete.value()) />
            <ErrorNote error=action_error(actions.rotate.value()) />
            {move || rotated().map(|rotated| view! {
                <SecretOnce
                    testid="webhook-secret"
                    heading="The endpoint's new signing secret: copy it now, keyward shows it only this once."
                    secret=rotated.secret
                    note=format!("Until {} every delivery is signed with the old secret too, so switch the receiver \
                                  to the new one before then.", short_time(&rotated.previous_secret_until))
                />
            })}
            {can_manage.then(|| view! { <AddEndpointForm create /> })}
            {move || created().map(|created| view! {
                <SecretOnce
                    testid="webhook-secret"
                    heading="The endpoint's signing secret: copy it now, keyward shows it only this once."
                    secret=created.secret
                    note="Give it to the receiver, which verifies every delivery with it (webhook-signature header)."
                        .to_string()
                />
            })}
        </Card>
    }
}

/// One endpoint: where it sends, what, how it is doing, and its last deliveries on demand.
#[component]
fn Endpoint(webhook: Webhook, actions: Actions) -> impl IntoView {
    let open = RwSignal::new(false);
    let id = webhook.id.clone();
    let status = match (&webhook.status, &webhook.failing_since) {
        (WebhookStatus::Failing, Some(since)) => view! {
            <span class="badge bad">{format!("Failing since {}", short_time(since))}</span>
        }
        .into_any(),
        _ => view! { <span class="badge ok">"Active"</span> }.into_any(),
    };
    let about = if webhook.description.is_empty() {
        String::new()
    } else {
        format!("{} · ", webhook.description)
    };
    let manage = actions.can_manage.then(|| {
        let (test_id, rotate_id, delete_id) = (id.clone(), id.clone(), id.clone());
        view! {
            <div class="actions">
                <button type="button" class="secondary" disabled=move || actions.test.pending().get()
                    on:click=move |_| {
                        open.set(true);
                        actions.test.dispatch(TestWebhook { request: WebhookIdRequest { webhook_id: test_id.to_string() } });
                    }>
                    "Send a test event"
                </button>
                <ConfirmButton
                    label="Rotate secret"
                    question="Make a new signing secret? For a day deliveries carry both signatures."
                    confirm_label="Rotate"
                    pending=actions.rotate.pending()
                    on_confirm=move |()| {
                        actions.rotate.dispatch(RotateWebhookSecret { request: WebhookIdRequest { webhook_id: rotate_id.to_string() } });
                    }
                />
                <ConfirmButton
                    label="Delete"
                    question="Delete this endpoint? Its pending deliveries are dropped."
                    confirm_label="Delete it"
                    pending=actions.delete.pending()
                    on_confirm=move |()| {
                        actions.delete.dispatch(DeleteWebhook { request: WebhookIdRequest { webhook_id: delete_id.to_string() } });
                    }
                />
            </div>
        }
    });
    view! {
        <article class="webhook" data-testid="webhook">
            <p class="webhook-head"><code>{webhook.url.clone()}</code> " " {status}</p>
            <p class="hint">{format!("{about}Receives {}", webhook.events.join(", "))}</p>
            {manage}
            <button type="button" class="link-button" aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|open| *open = !*open)>
                {move || if open.get() { "Hide deliveries" } else { "Show last deliveries" }}
            </button>
            {move || open.get().then(|| view! { <Deliveries webhook_id=id.clone() actions /> })}
        </article>
    }
}

/// An endpoint's last deliveries, fetched when opened and again after a test or redelivery.
#[component]
fn Deliveries(webhook_id: WebhookId, actions: Actions) -> impl IntoView {
    let refreshed = RwSignal::new(0u32);
    let deliveries = Resource::new(
        move || {
            (
                actions.test.version().get(),
                actions.redeliver.version().get(),
                refreshed.get(),
            )
        },
        move |_| {
            list_webhook_deliveries(WebhookDeliveriesRequest {
                webhook_id: webhook_id.to_string(),
                cursor: None,
                limit: Some(SHOWN_DELIVERIES),
            })
        },
    );
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match deliveries.await {
                    Ok(list) if list.deliveries.is_empty() => view! {
                        <p class="muted">"Nothing sent yet: deliveries appear here as events happen."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="table">
                            <ColumnHeads columns=vec!["Event", "Status", "Answer", "Sent"] actions=actions.can_manage />
                            <tbody>
                                {list.deliveries.into_iter().map(|delivery| view! { <DeliveryRow delivery actions /> }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                }
            })}
        </Transition>
        <ErrorNote error=action_error(actions.test.value()) />
        <ErrorNote error=action_error(actions.redeliver.value()) />
        <button type="button" class="link-button" on:click=move |_| refreshed.update(|n| *n += 1)>"Refresh"</button>
    }
}

#[component]
fn DeliveryRow(delivery: WebhookDelivery, actions: Actions) -> impl IntoView {
    let status = match delivery.status {
        DeliveryStatus::Delivered => view! { <span class="badge ok">"Delivered"</span> }.into_any(),
        DeliveryStatus::Failed => view! { <span class="badge bad">"Failed"</span> }.into_any(),
        DeliveryStatus::Pending => match delivery.next_attempt_at.clone() {
            Some(next) if delivery.attempts > 0 => view! {
                <span class="badge warn">"Retrying"</span> " " <span class="small">"next " <RelativeTime at=next /></span>
            }.into_any(),
            _ => view! { <span class="badge warn">"Pending"</span> }.into_any(),
        },
    };
    let tries = match delivery.attempts {
        0 | 1 => String::new(),
        attempts => format!(" after {attempts} attempts"),
    };
    // What the receiver said at the last attempt: its status and how long it took, or why
    // there was no answer.
    let answer = match (
        delivery.response_status,
        &delivery.error,
        delivery.duration_ms,
    ) {
        (Some(code), _, duration) => format!(
            "HTTP {code}{}",
            duration
                .map(|ms| format!(" in {ms} ms"))
                .unwrap_or_default()
        ),
        (None, Some(error), _) => error.clone(),
        (None, None, _) => "—".to_string(),
    };
    let sent = delivery
        .last_attempt_at
        .clone()
        .unwrap_or(delivery.created_at.clone());
    let delivery_id = delivery.id.to_string();
    view! {
        <tr>
            <td><code>{delivery.event_type.clone()}</code></td>
            <td>{status}<span class="small">{tries}</span></td>
            <td class="small" title=delivery.response_body.clone().unwrap_or_default()>{answer}</td>
            <td><RelativeTime at=sent /></td>
            {actions.can_manage.then(|| view! {
                <td class="row-actions">
                    <button type="button" class="secondary" disabled=move || actions.redeliver.pending().get()
                        on:click=move |_| {
                            actions.redeliver.dispatch(RedeliverWebhook { request: DeliveryIdRequest { delivery_id: delivery_id.clone() } });
                        }>
                        "Redeliver"
                    </button>
                </td>
            })}
        </tr>
    }
}

#[component]
fn AddEndpointForm(create: ServerAction<CreateWebhook>) -> impl IntoView {
    let url = NodeRef::new();
    let events = NodeRef::new();
    let description = NodeRef::new();
    view! {
        <form method="post" class="add-webhook" on:submit=move |ev| {
            ev.prevent_default();
            // Patterns may be separated by commas or spaces; the server names a bad one.
            let patterns = input_value(events)
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|pattern| !pattern.is_empty())
                .map(str::to_string)
                .collect();
            create.dispatch(CreateWebhook { request: CreateWebhookRequest {
                url: input_value(url),
                events: patterns,
                description: Some(input_value(description)),
            } });
        }>
            <h3>"Add an endpoint"</h3>
            <label for="webhook-url">"URL"</label>
            <input id="webhook-url" type="url" required maxlength="2000" placeholder="https://siem.example.com/keyward" node_ref=url />
            <p class="hint">"keyward POSTs each event here. Internal addresses (loopback, private networks, cloud metadata) are refused."</p>
            <label for="webhook-events">"Events"</label>
            <input id="webhook-events" required value="*" node_ref=events />
            <p class="hint">"* for every event, key.* for every key event, or actions like key.revoked member.removed key.expiring, separated by spaces."</p>
            <label for="webhook-description">"Description"</label>
            <input id="webhook-description" maxlength="500" placeholder="Security team's SIEM" node_ref=description />
            <StepUpOr error=action_error(create.value()) retry=retry_of(create) />
            <button type="submit" disabled=move || create.pending().get()>"Add endpoint"</button>
        </form>
    }
}
