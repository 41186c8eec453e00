//! The table of keys that the Keys page and the account's key list share: a row per key with its
//! status, owner, guards and usage, and the row's actions (rotate, revoke).

use crate::api::keys::{RevokeKey, RotateKey};
use crate::domain::requests::{RevokeKeyRequest, RotateKeyRequest};
use crate::domain::{
    ids::KeyId,
    permissions::PermissionGroup,
    views::{Key, KeyKind, KeyStatus},
    Granted, Permission,
};
use crate::ui::components::ColumnHeads;
use crate::ui::components::{ConfirmButton, RelativeTime, RoleBadge, UsageBars};
use leptos::prelude::*;

#[component]
pub fn KeyTable(
    keys: Vec<Key>,
    revoke: ServerAction<RevokeKey>,
    /// Offered on a person's own keys.
    #[prop(optional)]
    rotate: Option<ServerAction<RotateKey>>,
    show_owner: bool,
) -> impl IntoView {
    view! {
        <table class="table">
            {
                let mut columns = vec!["Name"];
                if show_owner { columns.push("Owner"); }
                columns.extend(["Key", "Role", "Created", "Last used", "Requests, 7 days", "Expires", "Status"]);
                view! { <ColumnHeads columns actions=true /> }
            }
            <tbody>
                {keys
                    .iter()
                    .map(|key| {
                        let parent = key.created_by_key_id.as_ref().map(|parent_id| parent_label(&keys, parent_id));
                        view! { <KeyRow key=key.clone() parent revoke rotate show_owner /> }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// How a key's parent is named in the list: by name when it is in the same list.
fn parent_label(keys: &[Key], parent_id: &KeyId) -> String {
    match keys.iter().find(|key| &key.id == parent_id) {
        Some(parent) => format!("“{}” ({})", parent.name, parent.hint),
        None => parent_id.to_string(),
    }
}

#[component]
fn KeyRow(
    key: Key,
    /// The key that created this one, named for people.
    parent: Option<String>,
    revoke: ServerAction<RevokeKey>,
    rotate: Option<ServerAction<RotateKey>>,
    show_owner: bool,
) -> impl IntoView {
    let (status_label, status_class) = status_badge(&key);
    let owner = match (&key.kind, &key.owner, &key.service_account) {
        (KeyKind::LegacyAccount, _, _) => "Legacy account key".to_string(),
        (_, _, Some(service_account)) => format!("Service account {}", service_account.name),
        (_, Some(owner), _) => owner.email.clone(),
        (_, None, _) => "—".to_string(),
    };
    let last_used = last_used(&key);
    // The time itself is beside it: the badge says what to do about it.
    let soon = key
        .expires_in_days
        .filter(|_| key.rotated_to.is_none())
        .map(|days| {
            if days <= 7 {
                view! { <span class="badge bad">"rotate soon"</span> }
            } else {
                view! { <span class="badge warn">"expires soon"</span> }
            }
        });
    let expires = match key.expires_at.clone() {
        Some(at) => view! { <RelativeTime at /> " " {soon} }.into_any(),
        None => "Never".into_any(),
    };
    let role_note = key.role_cap.map(|cap| format!("capped at {}", cap.label()));
    let role_note = role_note
        .filter(|_| key.role_cap != Some(key.effective_role) || key.status != KeyStatus::Active);
    let key_id = key.id.clone();
    let name = key.name.clone();
    let active = key.status == KeyStatus::Active;
    view! {
        <tr class:inactive=!active>
            <td data-label="Name">
                <a href=format!("/keys/{}", key.id) title="Everything about this key">{key.name.clone()}</a>
                {(key.kind == KeyKind::LegacyAccount).then(|| view! { " " <span class="badge legacy">"legacy"</span> })}
                {guards_note(&key).map(|note| view! { <span class="muted small block">{note}</span> })}
                {show_owner.then(|| view! {
                    <a class="small block" href=format!("/audit?key_id={}", key.id)>"Its audit events"</a>
                })}
                {parent.map(|parent| view! {
                    <span class="muted small block" title="A key made by a program with another key: it never outlives or outranks that key.">
                        {format!("created by key {parent}")}
                    </span>
                })}
            </td>
            {show_owner.then(|| view! { <td data-label="Owner" class="owner">{owner}</td> })}
            <td data-label="Key"><code>{key.hint.clone()}</code></td>
            <td data-label="Role"><RoleBadge role=key.effective_role /> {role_note.map(|note| view! { <span class="muted small">{note}</span> })}
                {grant_note(&key).map(|note| view! { <span class="muted small block" data-testid="key-grant">{note}</span> })}</td>
            <td data-label="Created"><RelativeTime at=key.created_at.clone() /></td>
            <td data-label="Last used">{last_used}</td>
            <td data-label="Requests, 7 days"><UsageBars counts=key.usage_7d.clone() /></td>
            <td data-label="Expires">{expires}</td>
            <td data-label="Status">
                <span class=status_class title=key.rotated_to.as_ref().map(|_| "Replaced by a new key: this one stops at its expiry time.")>
                    {status_label}
                </span>
                {key.rotated_to.clone().filter(|_| active).map(|successor| view! {
                    <span class="small block">
                        <a href=format!("/keys/{successor}")>"→ new key"</a>
                        {key.expires_at.clone().map(|at| view! { <span class="muted">" · stops "<RelativeTime at /></span> })}
                    </span>
                })}
            </td>
            <td class="row-actions">
                {rotate
                    .filter(|_| active && key.rotated_to.is_none())
                    .map(|rotate| view! { <RotateButton key_id=key.id.to_string() name=name.clone() rotate /> })}
                {active
                    .then(|| {
                        view! {
                            <RevokeKeyButton key_id=key_id.to_string() name=name.to_string() revoke />
                        }
                    })}
            </td>
        </tr>
    }
}

/// A grant in words, for the key tables and the key page: "Everything its role allows", or the
/// resources with their access ("Checks: read & write · Members: read"), and the checks.
pub fn describe_permissions(permissions: Option<&Granted>) -> String {
    let Some(permissions) = permissions else {
        return "Everything its role allows".to_string();
    };
    let granted = permissions.built_in;
    let mut parts: Vec<String> = PermissionGroup::GRANTABLE
        .into_iter()
        .filter_map(|resource| {
            let (read, write) = resource.permissions();
            let holds = |permission: Option<Permission>| {
                permission.is_some_and(|permission| granted.contains(permission))
            };
            let access = match (holds(read), holds(write)) {
                (true, true) => "read & write",
                (true, false) => "read",
                (false, true) => "write",
                (false, false) => return None,
            };
            Some(format!("{}: {access}", resource.label()))
        })
        .collect();
    if !permissions.own.is_empty() {
        let own: Vec<&str> = permissions.own.iter().map(|own| own.as_str()).collect();
        parts.push(format!("Your services: {}", own.join(", ")));
    }
    if parts.is_empty() {
        "Only who it is".to_string()
    } else {
        parts.join(" · ")
    }
}

/// A key's grant in words, when it is narrower than its role: "Checks: read · 2 checks".
pub fn grant_note(key: &Key) -> Option<String> {
    let checks = key.check_ids.as_ref().map(|ids| match ids.len() {
        1 => "1 check".to_string(),
        n => format!("{n} checks"),
    });
    let permissions = key
        .permissions
        .as_ref()
        .map(|permissions| describe_permissions(Some(permissions)));
    match (permissions, checks) {
        (None, None) => None,
        (Some(words), None) => Some(words),
        (None, Some(checks)) => Some(format!("Only {checks}")),
        (Some(words), Some(checks)) => Some(format!("{words} · only {checks}")),
    }
}

/// Revoke, asking first: the question says what revoking does to the programs using the key.
#[component]
pub fn RevokeKeyButton(
    key_id: String,
    name: String,
    revoke: ServerAction<RevokeKey>,
) -> impl IntoView {
    let key_id = StoredValue::new(key_id);
    view! {
        <ConfirmButton
            label="Revoke"
            question=format!("Revoke “{name}”? Programs using it (and any key it created) get 401 at once.")
            confirm_label="Revoke key"
            on_confirm=move |_| {
                revoke.dispatch(RevokeKey { request: RevokeKeyRequest { key_id: Some(key_id.get_value()), key_ids: None } });
            }
            pending=revoke.pending()
        />
    }
}

/// A key's status as a badge (label, class): what the person should know first about it.
pub fn status_badge(key: &Key) -> (&'static str, &'static str) {
    match key.status {
        KeyStatus::Active if key.rotated_to.is_some() => ("Rotated", "badge"),
        KeyStatus::Active => ("Active", "badge ok"),
        KeyStatus::Revoked if key.leak_reported_at.is_some() => {
            ("Revoked: reported leaked", "badge bad")
        }
        KeyStatus::Revoked => ("Revoked", "badge bad"),
        KeyStatus::Expired => ("Expired", "badge"),
    }
}

/// When a key was last used, and from where; "Never" before its first use.
pub fn last_used(key: &Key) -> AnyView {
    match key.last_used_at.clone() {
        Some(at) => {
            let from = key.last_used_ip.clone().map(|ip| format!(" from {ip}"));
            view! { <RelativeTime at /> {from} }.into_any()
        }
        None => "Never".into_any(),
    }
}

/// How long a rotated key keeps working, as offered in the UI.
const GRACE_CHOICES: [(&str, i64); 4] = [
    ("Stop the old key now", 0),
    ("Keep the old key 1 hour", 3_600),
    ("Keep the old key 24 hours", 86_400),
    ("Keep the old key 7 days", 604_800),
];

/// Rotate: a new secret for the same key settings, the old one kept for a chosen grace.
#[component]
fn RotateButton(key_id: String, name: String, rotate: ServerAction<RotateKey>) -> impl IntoView {
    let choosing = RwSignal::new(false);
    let grace = RwSignal::new(3_600i64);
    let key_id = StoredValue::new(key_id);
    // The question stays while the rotation runs (its button disabled, as in `ConfirmButton`)
    // and closes when it is done; the new secret then shows in its dialog.
    Effect::new(move |_| {
        if rotate.version().get() > 0 {
            choosing.set(false);
        }
    });
    // Focus follows the question, as in `ConfirmButton`.
    let grace_select = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        if let Some(select) = grace_select.get() {
            let _ = select.focus();
        }
    });
    view! {
        <Show
            when=move || choosing.get()
            fallback=move || view! {
                <button type="button" class="secondary" on:click=move |_| choosing.set(true)>"Rotate"</button>
            }
        >
            <span class="confirm">{format!("Rotate “{name}”? You get a new secret with the same settings.")}</span>
            <label class="visually-hidden" for=format!("grace-{}", key_id.get_value())>"Grace period"</label>
            <select id=format!("grace-{}", key_id.get_value()) node_ref=grace_select on:change=move |ev| {
                if let Ok(seconds) = event_target_value(&ev).parse() { grace.set(seconds) }
            }>
                {GRACE_CHOICES
                    .into_iter()
                    .map(|(label, seconds)| view! { <option value=seconds.to_string() selected=seconds == 3_600>{label}</option> })
                    .collect_view()}
            </select>
            <button
                type="button"
                disabled=move || rotate.pending().get()
                aria-busy=move || rotate.pending().get().to_string()
                on:click=move |_| {
                rotate.dispatch(RotateKey { request: RotateKeyRequest { key_id: key_id.get_value(), grace_seconds: grace.get_untracked(), to_service_account_id: None } });
            }>"Rotate key"</button>
            <button type="button" class="secondary" on:click=move |_| choosing.set(false)>"Cancel"</button>
        </Show>
    }
}

/// A key's guards in a few words, if it has any: "only from 10.0.0.0/8 · 60 a minute".
fn guards_note(key: &Key) -> Option<String> {
    let mut parts = Vec::new();
    if !key.allowed_cidrs.is_empty() {
        parts.push(format!("only from {}", key.allowed_cidrs.join(", ")));
    }
    if let Some(limit) = key.rate_limit_per_minute {
        parts.push(format!("{limit} a minute"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::describe_permissions;
    use crate::domain::{Granted, Permission, PermissionName};

    fn granted(names: &[&str]) -> Granted {
        names
            .iter()
            .map(|name| PermissionName::parse(name).unwrap())
            .collect()
    }

    #[test]
    fn a_grant_in_words() {
        assert_eq!(describe_permissions(None), "Everything its role allows");
        assert_eq!(
            describe_permissions(Some(&granted(&[
                "checks:read",
                "checks:write",
                "members:read"
            ]))),
            "Checks: read & write · Members: read"
        );
        assert_eq!(
            describe_permissions(Some(&granted(&[Permission::AccountRead.name()]))),
            "Account settings: read"
        );
        assert_eq!(describe_permissions(Some(&granted(&[]))), "Only who it is");
        assert_eq!(
            describe_permissions(Some(&granted(&[
                "checks:read",
                "orders:write",
                "orders:read"
            ]))),
            "Checks: read · Your services: orders:read, orders:write"
        );
    }
}
