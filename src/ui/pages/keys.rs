use crate::api::{
    account::key_policy,
    keys::{list_keys, CreateKey, RevokeKey, RotateKey},
};
use crate::domain::requests::{CreateKeyRequest, ListAccountKeysRequest, ListKeysRequest};
use crate::domain::{
    inputs::KeyStatusFilter,
    views::{CreatedKey, Key, KeyPolicy, Me},
    Role,
};
use crate::ui::grant_picker::{GrantChoice, GrantPicker};
use crate::ui::key_table::KeyTable;
use crate::ui::step_up::{retry_of, StepUpOr};
use crate::ui::{
    components::{
        action_error, close_dialog, short_time, CopyButton, ErrorNote, Loading, ModalDialog,
        RoleBadge,
    },
    layout::{use_session, SignedInPage},
    paging::{LoadMore, MorePages},
};
use leptos::prelude::*;

#[component]
pub fn KeysPage() -> impl IntoView {
    view! {
        <SignedInPage title="API keys" render=|me| view! { <Keys me /> } />
    }
}

/// Expiry choices offered in the create dialog, in days (`None`: never).
const EXPIRY_CHOICES: [(&str, Option<u32>); 4] = [
    ("Never", None),
    ("In 30 days", Some(30)),
    ("In 90 days", Some(90)),
    ("In one year", Some(365)),
];

/// The expiry choices the account's key policy allows: no "Never" when keys must expire (or
/// may live only so long), nothing beyond the maximum, and the maximum itself.
fn expiry_choices(policy: &KeyPolicy) -> Vec<(String, Option<u32>)> {
    let mut choices: Vec<(String, Option<u32>)> = EXPIRY_CHOICES
        .iter()
        .filter(|(_, days)| match (days, policy.max_key_lifetime_days) {
            (None, max) => max.is_none() && !policy.require_expiry,
            (Some(days), Some(max)) => *days <= max,
            (Some(_), None) => true,
        })
        .map(|(label, days)| (label.to_string(), *days))
        .collect();
    if let Some(max) = policy.max_key_lifetime_days {
        if !choices.iter().any(|(_, days)| *days == Some(max)) {
            choices.push((format!("In {max} days (the longest allowed)"), Some(max)));
        }
    }
    choices
}

#[component]
fn Keys(me: Me) -> impl IntoView {
    let session = use_session();
    // Counts the keys created here: the list reloads after each.
    let created = RwSignal::new(0u32);
    let revoke = ServerAction::<RevokeKey>::new();
    let rotate = ServerAction::<RotateKey>::new();
    let filters = KeyFilters::new();
    let reloads = move || {
        (
            session.version.get(),
            created.get(),
            revoke.version().get(),
            rotate.version().get(),
            filters.tracked(),
        )
    };
    let keys = Resource::new(reloads, move |_| list_keys(filters.own_keys_request(None)));
    let more = MorePages::<Key>::new();
    Effect::watch(reloads, move |_, _, _| more.reset(), false);
    let next_page = move |cursor: String| {
        let request = filters.own_keys_request(Some(cursor));
        async move {
            list_keys(request)
                .await
                .map(|list| (list.keys, list.next_cursor))
        }
    };
    // The account's rules for new keys, so the dialog offers only expiries they allow.
    let policy = Resource::new(move || session.version.get(), |_| key_policy());
    let creating = RwSignal::new(false);
    // Closed (not just removed) once the key exists, so the browser gives focus back to the
    // button that opened it before the secret's dialog opens.
    let create_dialog = NodeRef::<leptos::html::Dialog>::new();
    // The secret of the key just created (or rotated in), shown once until the dialog is closed.
    let revealed = RwSignal::new(None::<Revealed>);
    let on_created = Callback::new(move |made: CreatedKey| {
        close_dialog(create_dialog);
        revealed.set(Some(Revealed {
            name: made.key.name,
            secret: made.secret,
            note: None,
        }));
        created.update(|count| *count += 1);
    });
    Effect::new(move |_| {
        if let Some(Ok(rotated)) = rotate.value().get() {
            let note = rotated.previous.expires_at.as_deref().map(|stops| {
                format!(
                    "The old key keeps working until {}; then it stops.",
                    short_time(stops)
                )
            });
            revealed.set(Some(Revealed {
                name: rotated.key.name.clone(),
                secret: rotated.secret.clone(),
                note,
            }));
            rotate.value().set(None);
        }
    });
    let my_role = me.role;
    view! {
        <div class="page-head">
            <h1>"API keys"</h1>
            <p class="muted">
                {format!("Your keys in {}. Each acts with your current role ", me.account.name)}
                <RoleBadge role=my_role />
                " or the lower cap you give it, and only with the permissions you grant it."
            </p>
            <button type="button" on:click=move |_| creating.set(true)>"Create a key"</button>
        </div>
        <Show when=move || creating.get()>
            {move || {
                let policy = policy.get().and_then(Result::ok).map(|found| found.policy).unwrap_or_default();
                Suspend::new(create_key_dialog(my_role, on_created, creating, create_dialog, policy))
            }}
        </Show>
        {move || revealed.get().map(|shown| view! { <SecretDialog shown revealed /> })}
        <ErrorNote error=action_error(revoke.value()) />
        <StepUpOr error=action_error(rotate.value()) retry=retry_of(rotate) />
        <KeyFilterBar filters />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) if list.keys.is_empty() && !filters.active() => {
                        view! {
                            <div class="empty">
                                <h2>"You have no keys yet"</h2>
                                <p>
                                    "An API key lets a program — a CI job, a provisioning tool, a script — call keyward as you, "
                                    "sending " <code>"Authorization: Bearer kw_…"</code> ". It can do what your role allows, "
                                    "never more, and you can revoke it on its own at any time."
                                </p>
                                <button type="button" on:click=move |_| creating.set(true)>"Create your first key"</button>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(list) if list.keys.is_empty() => view! { <p class="empty">"No keys match these filters."</p> }.into_any(),
                    Ok(list) => {
                        let first = list.keys;
                        view! {
                            <LeakNotices keys=first.clone() />
                            {move || view! { <KeyTable keys=more.after_first(&first) revoke rotate show_owner=false /> }}
                            <LoadMore more first_cursor=list.next_cursor fetch=next_page noun="keys" />
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What a key list is narrowed to: a search (name or hint) and a status.
#[derive(Clone, Copy)]
pub struct KeyFilters {
    search: RwSignal<String>,
    status: RwSignal<Option<KeyStatusFilter>>,
}

impl Default for KeyFilters {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyFilters {
    pub fn new() -> Self {
        KeyFilters {
            search: RwSignal::new(String::new()),
            status: RwSignal::new(None),
        }
    }

    /// Tracks both, for what must reload when either changes.
    pub fn tracked(&self) -> (String, Option<KeyStatusFilter>) {
        (self.search.get(), self.status.get())
    }

    /// Whether the list is narrowed at all.
    pub fn active(&self) -> bool {
        !self.search.get_untracked().trim().is_empty() || self.status.get_untracked().is_some()
    }

    /// The status filter as the list operations take it (their `status` is text).
    fn status_sent(&self) -> Option<String> {
        self.status
            .get_untracked()
            .map(|status| status.as_str().to_string())
    }

    fn own_keys_request(&self, cursor: Option<String>) -> ListKeysRequest {
        ListKeysRequest {
            cursor,
            limit: None,
            search: Some(self.search.get_untracked()),
            status: self.status_sent(),
            service_account_id: None,
        }
    }

    pub fn account_keys_request(&self, cursor: Option<String>) -> ListAccountKeysRequest {
        ListAccountKeysRequest {
            cursor,
            limit: None,
            search: Some(self.search.get_untracked()),
            status: self.status_sent(),
            owner_user_id: None,
            service_account_id: None,
        }
    }
}

/// The search box and status filter above a key list; the list follows as one types.
#[component]
pub fn KeyFilterBar(filters: KeyFilters) -> impl IntoView {
    view! {
        <form class="filters" role="search" on:submit=|ev| ev.prevent_default()>
            <label class="visually-hidden" for="key-search">"Search keys"</label>
            <input id="key-search" type="search" placeholder="Search by name or key (kw_…)" maxlength="100"
                prop:value=filters.search on:input=move |ev| filters.search.set(event_target_value(&ev)) />
            <label class="visually-hidden" for="key-status">"Status"</label>
            <select id="key-status" on:change=move |ev| {
                filters.status.set(KeyStatusFilter::parse(&event_target_value(&ev)).ok().flatten())
            }>
                <option value="" selected=true>"Any status"</option>
                {KeyStatusFilter::ALL
                    .into_iter()
                    .map(|status| view! { <option value=status.as_str()>{status.label()}</option> })
                    .collect_view()}
            </select>
        </form>
    }
}

/// Tells the owner which of their keys someone reported as leaked (and keyward revoked).
#[component]
fn LeakNotices(keys: Vec<Key>) -> impl IntoView {
    keys.into_iter()
        .filter_map(|key| key.leak_reported_at.clone().map(|at| (key, at)))
        .map(|(key, at)| {
            view! {
                <p class="notice" role="alert">
                    <strong>{format!("Your key “{}” ({}) was reported as leaked", key.name, key.hint)}</strong>
                    " on " {short_time(&at)} " — someone found it where it should not be — and keyward revoked it at once. "
                    "Create a new key for whatever used it, and look for where the old one was exposed."
                </p>
            }
        })
        .collect_view()
}

/// The dialog that creates a key, with its permission picker; `on_created` gets the new key
/// and its secret. Lazy: the list is what the page opens with, and this code (the most of any
/// part of the page) is fetched when someone asks for a new key.
#[lazy]
async fn create_key_dialog(
    my_role: Role,
    on_created: Callback<CreatedKey>,
    creating: RwSignal<bool>,
    dialog: NodeRef<leptos::html::Dialog>,
    policy: KeyPolicy,
) -> AnyView {
    let create = ServerAction::<CreateKey>::new();
    Effect::new(move |_| {
        if let Some(Ok(made)) = create.value().get() {
            create.value().set(None);
            on_created.run(made);
        }
    });
    let name = RwSignal::new(String::new());
    // `None` follows the owner's role as it changes; a lower role caps the key for good.
    let cap = RwSignal::new(None::<Role>);
    let choices = expiry_choices(&policy);
    let expiry_days = RwSignal::new(choices.first().and_then(|(_, days)| *days));
    let networks = RwSignal::new(String::new());
    let rate_limit = RwSignal::new(String::new());
    let grant = GrantChoice::new(my_role);
    let lower_roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|role| *role < my_role)
        .collect();
    view! {
        <ModalDialog labelled_by="create-key-title" dialog on_close=move |_| creating.set(false)>
            <form method="post" on:submit=move |ev| {
                ev.prevent_default();
                let (permissions, check_ids) = grant.request();
                create.dispatch(CreateKey { request: CreateKeyRequest {
                    allowed_cidrs: Some(networks_typed(&networks.get())),
                    rate_limit_per_minute: rate_typed(&rate_limit.get()),
                    name: name.get(),
                    role_cap: cap.get(),
                    expires_at: expiry_days.get().map(days_from_now),
                    permissions,
                    check_ids,
                    service_account_id: None,
                } });
            }>
                <h2 id="create-key-title">"Create an API key"</h2>
                <label for="key-name">"Name"</label>
                <input id="key-name" required maxlength="100" placeholder="CI deploy job" autofocus
                    prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) />
                <p class="hint">"Say what uses it, so you know which key to revoke if it leaks."</p>
                <label for="key-role">"Role"</label>
                <select id="key-role" on:change=move |ev| cap.set(Role::parse(&event_target_value(&ev)))>
                    <option value="" selected=true>{format!("My role ({}), following changes", my_role.label())}</option>
                    {lower_roles
                        .into_iter()
                        .map(|role| view! { <option value=role.as_str()>{format!("{} at most", role.label())}</option> })
                        .collect_view()}
                </select>
                <GrantPicker choice=grant />
                <label for="key-expiry">"Expires"</label>
                <select id="key-expiry" on:change=move |ev| expiry_days.set(event_target_value(&ev).parse().ok())>
                    {choices
                        .into_iter()
                        .map(|(label, days)| {
                            let value = days.map(|days| days.to_string()).unwrap_or_default();
                            view! { <option value=value>{label}</option> }
                        })
                        .collect_view()}
                </select>
                <details class="guards">
                    <summary>"Limit where and how often it can be used (optional)"</summary>
                    <label for="key-networks">"Allowed networks"</label>
                    <textarea id="key-networks" rows="2" placeholder="10.0.0.0/8, 2001:db8::/32"
                        prop:value=networks on:input=move |ev| networks.set(event_target_value(&ev))></textarea>
                    <p class="hint">"Addresses or CIDR networks, separated by commas or lines. Empty: anywhere. From elsewhere the key gets 403."</p>
                    <label for="key-rate">"Requests per minute"</label>
                    <input id="key-rate" type="number" min="1" max="100000" placeholder="No limit"
                        prop:value=rate_limit on:input=move |ev| rate_limit.set(event_target_value(&ev)) />
                    <p class="hint">"Above it the key gets 429 with Retry-After; every answer says what is left (RateLimit-* headers)."</p>
                </details>
                <StepUpOr error=action_error(create.value()) retry=retry_of(create) />
                <div class="actions">
                    <button type="submit" disabled=move || create.pending().get()>"Create key"</button>
                    <button type="button" class="secondary" on:click=move |_| close_dialog(dialog)>"Cancel"</button>
                </div>
            </form>
        </ModalDialog>
    }
    .into_any()
}

/// The networks as typed: separated by commas, spaces or lines.
fn networks_typed(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(str::to_string)
        .collect()
}

/// The limit as typed: empty for none; anything else is sent, and the server names the field
/// when it is not a number it accepts.
fn rate_typed(text: &str) -> Option<i64> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.parse().unwrap_or(0))
}

/// An RFC 3339 time `days` from now, by the browser's clock (the server checks it is future),
/// less a minute: a browser clock a little ahead must not make "the longest allowed" too long.
pub(crate) fn days_from_now(days: u32) -> String {
    #[cfg(feature = "hydrate")]
    {
        let millis = js_sys::Date::now() + f64::from(days) * 86_400_000.0 - 60_000.0;
        String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis)).to_iso_string())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = days;
        String::new()
    }
}

/// A secret to show once, with what the person should know about it.
#[derive(Clone)]
struct Revealed {
    name: String,
    secret: String,
    note: Option<String>,
}

#[component]
fn SecretDialog(shown: Revealed, revealed: RwSignal<Option<Revealed>>) -> impl IntoView {
    let Revealed { name, secret, note } = shown;
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    view! {
        <ModalDialog labelled_by="secret-title" dialog on_close=move |_| revealed.set(None) escape_closes=false>
            <h2 id="secret-title">{format!("Your new key “{name}”")}</h2>
            <p class="warning" role="alert">
                <strong>"Copy it now: this is the only time keyward shows it."</strong>
                " We store only a hash, so we cannot show it again. If you lose it, revoke it and create another."
            </p>
            <code class="secret" data-testid="new-key-secret">{secret.clone()}</code>
            {note.map(|note| view! { <p class="hint">{note}</p> })}
            <div class="actions">
                <CopyButton text=secret label="Copy key" />
                <button type="button" on:click=move |_| close_dialog(dialog)>"I have copied it"</button>
            </div>
        </ModalDialog>
    }
}

#[cfg(test)]
mod tests {
    use super::expiry_choices;
    use crate::domain::views::KeyPolicy;

    #[test]
    fn the_expiry_choices_follow_the_key_policy() {
        let days = |policy: KeyPolicy| -> Vec<Option<u32>> {
            expiry_choices(&policy)
                .into_iter()
                .map(|(_, days)| days)
                .collect()
        };
        assert_eq!(
            days(KeyPolicy::default()),
            [None, Some(30), Some(90), Some(365)]
        );
        let must_expire = KeyPolicy {
            require_expiry: true,
            ..KeyPolicy::default()
        };
        assert_eq!(days(must_expire), [Some(30), Some(90), Some(365)]);
        let at_most_60 = KeyPolicy {
            max_key_lifetime_days: Some(60),
            ..KeyPolicy::default()
        };
        assert_eq!(days(at_most_60.clone()), [Some(30), Some(60)]);
        assert_eq!(
            expiry_choices(&at_most_60)[1].0,
            "In 60 days (the longest allowed)"
        );
    }
}
