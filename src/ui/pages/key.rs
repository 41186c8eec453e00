//! One key with everything about it: who owns it and who made it, what it may do (its role and
//! grant, and the permissions it used, to narrow it to those), where and
//! how often it may be used, when it stops, and its requests over the last 7 days.

use crate::api::keys::{get_key, RevokeKey, UpdateKey};
use crate::domain::{
    requests::{GetKeyRequest, UpdateKeyRequest},
    views::{Key, KeyKind, KeyStatus, Me},
    Granted, Permission, PermissionName,
};
use crate::ui::key_table::{describe_permissions, last_used, status_badge, RevokeKeyButton};
use crate::ui::step_up::{retry_of, StepUpOr};
use crate::ui::{
    components::{action_error, short_time, ErrorNote, Loading, RelativeTime, RoleBadge},
    layout::{use_session, SignedInPage},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn KeyPage() -> impl IntoView {
    view! {
        <SignedInPage title="Key" render=|me| view! { <KeyDetails me /> } />
    }
}

#[component]
fn KeyDetails(me: Me) -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let revoke = ServerAction::<RevokeKey>::new();
    let narrow = ServerAction::<UpdateKey>::new();
    let key = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                session.version.get(),
                revoke.version().get(),
                narrow.version().get(),
            )
        },
        |(key_id, ..)| get_key(GetKeyRequest { key_id }),
    );
    let is_admin = crate::domain::allows(me.role, me.via, Permission::AuditRead);
    view! {
        <p class="muted small"><a href="/keys">"← API keys"</a></p>
        <ErrorNote error=action_error(revoke.value()) />
        <StepUpOr error=action_error(narrow.value()) retry=retry_of(narrow) />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match key.await {
                    Ok(found) => view! { <KeySheet key=found.key revoke narrow is_admin /> }.into_any(),
                    Err(error) => view! {
                        <h1>"Key"</h1>
                        <ErrorNote error=Some(error) />
                    }
                        .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn KeySheet(
    key: Key,
    revoke: ServerAction<RevokeKey>,
    narrow: ServerAction<UpdateKey>,
    is_admin: bool,
) -> impl IntoView {
    let (status_label, status_class) = status_badge(&key);
    let owner = match (&key.kind, &key.owner, &key.service_account) {
        (KeyKind::LegacyAccount, _, _) => {
            "No one: a legacy account key, acting as Admin".to_string()
        }
        (KeyKind::Service, _, Some(service_account)) => format!(
            "Service account {}: acts with its role, whoever made the key",
            service_account.name
        ),
        (_, Some(owner), _) => owner.email.clone(),
        (_, None, _) => "—".to_string(),
    };
    // A user key is made by its owner: in the app, or by a program holding another of their keys.
    let made_by = match (&key.kind, &key.owner, &key.created_by_key_id) {
        (KeyKind::LegacyAccount, _, _) => view! { "Imported from the old account-wide keys" }.into_any(),
        (_, Some(owner), Some(parent)) => view! {
            {format!("{}, with their key ", owner.email)}
            <a href=format!("/keys/{parent}")>{parent.to_string()}</a>
            <span class="muted small block">"A key made with a key never outranks or outlives it."</span>
        }
            .into_any(),
        (_, Some(owner), None) => view! { {format!("{}, signed in", owner.email)} }.into_any(),
        (KeyKind::Service, _, Some(parent)) => view! {
            "The service account's key "
            <a href=format!("/keys/{parent}")>{parent.to_string()}</a>
        }
            .into_any(),
        (KeyKind::Service, _, None) => match &key.created_by {
            Some(person) => view! { {format!("{}, signed in", person.email)} }.into_any(),
            None => "Adopted from a legacy account key".into_any(),
        },
        _ => "—".into_any(),
    };
    // Who rotated it, and when: with service keys, often someone else than who made it.
    let rotated = key.rotated_at.clone().map(|at| {
        let by = key.rotated_by.as_ref().map_or_else(
            || "Rotated".to_string(),
            |person| format!("Rotated by {} ", person.email),
        );
        view! { <span class="muted small block">{by} <RelativeTime at /></span> }
    });
    let role_note = match key.role_cap {
        Some(cap) => format!(
            "capped at {}: acts with the lower of the cap and the owner's role",
            cap.label()
        ),
        None => "follows the owner's current role".to_string(),
    };
    let expires = match key.expires_at.clone() {
        Some(at) => view! { <RelativeTime at=at.clone() /> <span class="muted small">{format!(" ({})", short_time(&at))}</span> }.into_any(),
        None => "Never".into_any(),
    };
    let networks = if key.allowed_cidrs.is_empty() {
        "Anywhere".to_string()
    } else {
        key.allowed_cidrs.join(", ")
    };
    let limit = key
        .rate_limit_per_minute
        .map_or("No limit".to_string(), |limit| {
            format!("{limit} requests a minute")
        });
    let last_used = last_used(&key);
    let active = key.status == KeyStatus::Active;
    let grant_words = describe_permissions(key.permissions.as_ref());
    let checks = match &key.check_ids {
        None => view! { "All checks" }.into_any(),
        Some(ids) if ids.is_empty() => view! { "None" }.into_any(),
        Some(ids) => ids
            .iter()
            .map(|id| view! { <code class="block">{id.to_string()}</code> })
            .collect_view()
            .into_any(),
    };
    // What it used and still holds: a permission used before an earlier narrowing is not
    // given back.
    let used: Granted = key
        .permissions_used
        .iter()
        .map(|used| used.permission.clone())
        .filter(|permission| {
            key.permissions
                .as_ref()
                .is_none_or(|granted| granted.holds(permission))
        })
        .collect();
    let used_list = if key.permissions_used.is_empty() {
        view! { <span class="muted">"Nothing in the last 30 days"</span> }.into_any()
    } else {
        key.permissions_used
            .iter()
            .map(|used| view! {
                <span class="block"><code>{used.permission.to_string()}</code>
                    {matches!(used.permission, PermissionName::Own(_)).then_some(" (your service)")}
                    " · " <RelativeTime at=used.last_used_at.clone() /></span>
            })
            .collect_view()
            .into_any()
    };
    // One click to keep only what the key used (the server checks it narrows).
    let narrower = used != Granted::default() && key.permissions.as_ref() != Some(&used);
    let narrow_button = (active && narrower).then(|| {
        let key_id = key.id.to_string();
        let names: Vec<String> = used.names().map(String::from).collect();
        let words = describe_permissions(Some(&used));
        view! {
            <button type="button" class="secondary" disabled=move || narrow.pending().get()
                title=format!("Keep only: {words}")
                on:click=move |_| {
                    narrow.dispatch(UpdateKey { request: UpdateKeyRequest {
                        key_id: key_id.clone(),
                        name: None,
                        allowed_cidrs: None,
                        rate_limit_per_minute: None,
                        permissions: Some(Some(names.clone())),
                        check_ids: None,
                    } });
                }>"Narrow this key to what it used"</button>
        }
    });
    let key_id = key.id.clone();
    let name = key.name.clone();
    view! {
        <Title text=format!("{} · keyward", key.name) />
        <div class="page-head">
            <h1>{key.name.clone()} " " <span class=status_class>{status_label}</span></h1>
            <p class="muted"><code>{key.hint.clone()}</code> " · " {key.id.to_string()}</p>
        </div>
        {key.leak_reported_at.clone().map(|at| view! {
            <p class="notice" role="alert">
                <strong>"Reported as leaked on " {short_time(&at)} "."</strong>
                " Someone found this key where it should not be, and keyward revoked it at once."
            </p>
        })}
        {key.rotated_to.clone().map(|successor| view! {
            <p class="notice">
                "Rotated → " <a href=format!("/keys/{successor}")>"the new key"</a>
                ". This one stops at its expiry time."
            </p>
        })}
        <section class="card" aria-labelledby="usage-title">
            <h2 id="usage-title">"Requests, last 7 days"</h2>
            <UsageChart counts=key.usage_7d.clone() />
        </section>
        <dl class="facts">
            <dt>"Owner"</dt><dd>{owner}</dd>
            <dt>"Created by"</dt><dd>{made_by}</dd>
            <dt>"Created"</dt><dd><RelativeTime at=key.created_at.clone() />{rotated}</dd>
            <dt>"Role"</dt><dd><RoleBadge role=key.effective_role /> " " <span class="muted small">{role_note}</span></dd>
            <dt>"Permissions"</dt><dd data-testid="key-permissions">{grant_words}
                <span class="muted small block">"It acts only where both its role and these allow."</span></dd>
            <dt>"Checks"</dt><dd>{checks}</dd>
            <dt>"Used, last 30 days"</dt><dd data-testid="permissions-used">{used_list}</dd>
            <dt>"Expires"</dt><dd>{expires}</dd>
            <dt>"Allowed networks"</dt><dd>{networks}</dd>
            <dt>"Rate limit"</dt><dd>{limit}</dd>
            <dt>"Last used"</dt><dd>{last_used}</dd>
            {key.revoked_at.clone().map(|at| view! { <dt>"Revoked"</dt><dd><RelativeTime at /></dd> })}
        </dl>
        <div class="actions">
            {narrow_button}
            {is_admin.then(|| view! { <a class="button secondary" href=format!("/audit?key_id={}", key.id)>"Its audit events"</a> })}
            {active.then(|| view! {
                <RevokeKeyButton key_id=key_id.to_string() name=name.to_string() revoke />
            })}
        </div>
    }
}

/// The last 7 days' requests as labelled bars, oldest first (days are UTC, as stored).
#[component]
fn UsageChart(counts: Vec<u64>) -> impl IntoView {
    const BAR: usize = 44;
    const GAP: usize = 12;
    const HEIGHT: f64 = 100.0;
    let highest = counts.iter().copied().max().unwrap_or(0).max(1);
    let days = counts.len();
    let label = format!(
        "Requests per day, oldest first: {}",
        counts
            .iter()
            .enumerate()
            .map(|(day, count)| format!("{}: {count}", day_label(days - 1 - day)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let width = days * (BAR + GAP);
    let bars = counts
        .iter()
        .enumerate()
        .map(|(day, count)| {
            let height = (*count as f64 / highest as f64 * HEIGHT).max(1.0);
            let x = day * (BAR + GAP) + GAP / 2;
            let middle = (x + BAR / 2).to_string();
            view! {
                <g>
                    <rect x=x.to_string() y=format!("{:.1}", 20.0 + HEIGHT - height) width=BAR.to_string()
                        height=format!("{height:.1}") rx="3" class:idle=*count == 0 />
                    <text x=middle.clone() y=format!("{:.1}", 14.0 + HEIGHT - height) class="count">{count.to_string()}</text>
                    <text x=middle y=format!("{:.1}", HEIGHT + 38.0) class="day">{day_label(days - 1 - day)}</text>
                </g>
            }
        })
        .collect_view();
    let total: u64 = counts.iter().sum();
    let summary = match total {
        0 => "No requests in the last 7 days.".to_string(),
        1 => "1 request in the last 7 days (UTC days).".to_string(),
        n => format!("{n} requests in the last 7 days (UTC days)."),
    };
    view! {
        <p class="muted small">{summary}</p>
        <svg class="usage-chart" viewBox=format!("0 0 {width} {}", HEIGHT + 44.0) role="img" aria-label=label
            data-testid="usage-chart">
            {bars}
        </svg>
    }
}

/// "today", "1d ago", "2d ago", … (short: each bar is 56 units wide).
fn day_label(days_ago: usize) -> String {
    match days_ago {
        0 => "today".to_string(),
        n => format!("{n}d ago"),
    }
}
