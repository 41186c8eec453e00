//! The Audit log page (Admins): the account's trail as sentences, newest first, filtered by
//! action, person, key and dates, a page at a time; and "Whose key is this?" for a secret found
//! where it should not be.

use crate::api::audit::{list_audit_events, FindKey};
use crate::domain::{
    audit::{AuditAction, AuditEvent, AuditList, Outcome},
    requests::{AuditListRequest, FindKeyRequest},
    views::{Key, KeyStatus, Me},
    Permission,
};
use crate::ui::{
    components::{action_error, short_time, Card, ErrorNote, Loading, RelativeTime, RoleBadge},
    layout::{use_session, SignedInPage},
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AuditPage() -> impl IntoView {
    view! {
        <SignedInPage title="Audit log" render=|me| view! { <AuditLog me /> } />
    }
}

/// The filters as the page holds them: plain text from the form controls.
#[derive(Clone, Debug, Default, PartialEq)]
struct Filters {
    action: String,
    person: String,
    key_id: String,
    /// `YYYY-MM-DD` from a date input, UTC.
    from: String,
    to: String,
}

impl Filters {
    fn request(&self, cursor: Option<String>) -> AuditListRequest {
        let text = |value: &str| (!value.is_empty()).then(|| value.to_string());
        AuditListRequest {
            cursor,
            limit: Some(50),
            action: text(&self.action),
            actor_user_id: text(&self.person),
            key_id: text(&self.key_id),
            since: text(&self.from).map(|day| format!("{day}T00:00:00Z")),
            until: text(&self.to).map(|day| format!("{day}T23:59:59.999Z")),
        }
    }
}

#[component]
fn AuditLog(me: Me) -> impl IntoView {
    if !crate::domain::allows(me.role, me.via, Permission::AuditRead) {
        return view! { <p class="notice">"Only Admins can read the audit log."</p> }.into_any();
    }
    let session = use_session();
    let query = use_query_map();
    // A key's row links here with `?key_id=…`.
    let filters = RwSignal::new(Filters {
        key_id: query.with_untracked(|query| query.get("key_id").unwrap_or_default()),
        ..Filters::default()
    });
    let first_page = Resource::new(
        move || (session.version.get(), filters.get()),
        |(_, filters)| list_audit_events(filters.request(None)),
    );
    // Older pages, appended by "Load more"; forgotten when the filters change.
    let older = RwSignal::new(Vec::<AuditEvent>::new());
    let older_cursor = RwSignal::new(None::<Option<String>>);
    Effect::new(move |_| {
        filters.track();
        older.set(Vec::new());
        older_cursor.set(None);
    });
    let load_more = Action::new(|request: &AuditListRequest| {
        let request = request.clone();
        async move { list_audit_events(request).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(page)) = load_more.value().get() {
            let AuditList {
                events,
                next_cursor,
            } = page;
            older.update(|older| older.extend(events));
            older_cursor.set(Some(next_cursor));
            load_more.value().set(None);
        }
    });
    // The people to filter by.
    let members = crate::ui::paging::members_for_picker();
    let account_name = me.account.name.clone();

    view! {
        <div class="page-head">
            <h1>"Audit log"</h1>
            <p class="muted">
                {format!("Every change in {account_name}, newest first: who did it, with which key, from where. ")}
                "Reading is not recorded; refused keys and failed sign-ins are, counted per minute."
            </p>
        </div>
        <FindKeyCard filters />
        <form class="filters" aria-label="Filter the audit log" on:submit=|ev| ev.prevent_default()>
            <div>
                <label for="audit-action">"Action"</label>
                <select id="audit-action" on:change=move |ev| filters.update(|f| f.action = event_target_value(&ev))>
                    <option value="">"Any action"</option>
                    {AuditAction::ALL
                        .iter()
                        .map(|action| view! { <option value=action.as_str()>{action.label()}</option> })
                        .collect_view()}
                </select>
            </div>
            <div>
                <label for="audit-person">"Person"</label>
                <select id="audit-person" on:change=move |ev| filters.update(|f| f.person = event_target_value(&ev))>
                    <option value="">"Anyone"</option>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            members
                                .await
                                .map(|list| {
                                    list.members
                                        .into_iter()
                                        .map(|member| view! { <option value=member.user.id.to_string()>{member.user.email}</option> })
                                        .collect_view()
                                })
                                .ok()
                        })}
                    </Transition>
                </select>
            </div>
            <div>
                <label for="audit-from">"From (UTC)"</label>
                <input id="audit-from" type="date" on:change=move |ev| filters.update(|f| f.from = event_target_value(&ev)) />
            </div>
            <div>
                <label for="audit-to">"To (UTC)"</label>
                <input id="audit-to" type="date" on:change=move |ev| filters.update(|f| f.to = event_target_value(&ev)) />
            </div>
        </form>
        {move || {
            let key_id = filters.with(|f| f.key_id.clone());
            (!key_id.is_empty()).then(|| view! {
                <p class="chip" data-testid="key-filter">
                    "Only events by or about key " <code>{key_id}</code> " "
                    <button type="button" class="link-button" on:click=move |_| filters.update(|f| f.key_id.clear())>
                        "Show all keys"
                    </button>
                </p>
            })
        }}
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match first_page.await {
                    Ok(page) if page.events.is_empty() => view! {
                        <div class="empty"><p>"No events match these filters."</p></div>
                    }.into_any(),
                    Ok(page) => {
                        let first_cursor = page.next_cursor.clone();
                        let cursor = move || older_cursor.get().unwrap_or_else(|| first_cursor.clone());
                        let more_cursor = cursor.clone();
                        view! {
                            <ol class="events" aria-label="Events, newest first">
                                {page.events.into_iter().map(|event| view! { <EventRow event /> }).collect_view()}
                                {move || older.get().into_iter().map(|event| view! { <EventRow event /> }).collect_view()}
                            </ol>
                            <ErrorNote error=Signal::derive(move || load_more.value().get().and_then(Result::err)) />
                            <Show when=move || cursor().is_some()>
                                <button
                                    type="button"
                                    class="secondary"
                                    disabled=move || load_more.pending().get()
                                    on:click={
                                        let more_cursor = more_cursor.clone();
                                        move |_| { load_more.dispatch(filters.get_untracked().request(more_cursor())); }
                                    }
                                >
                                    {move || if load_more.pending().get() { "Loading…" } else { "Load older events" }}
                                </button>
                            </Show>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}

/// One event as a sentence, with when it happened and, for failures, a mark.
#[component]
fn EventRow(event: AuditEvent) -> impl IntoView {
    let failed = event.outcome == Outcome::Failure;
    let sentence = event.sentence();
    let agent = event.user_agent.clone();
    view! {
        <li class="event" class:failure=failed>
            <span class="event-time" title=short_time(&event.time)><RelativeTime at=event.time.clone() /></span>
            <span class="event-text">
                {failed.then(|| view! { <span class="badge bad">"refused"</span> " " })}
                {sentence}
            </span>
            <span class="event-action muted small" title=agent.unwrap_or_default()>{event.action.as_str()}</span>
        </li>
    }
}

/// "Whose key is this?": paste a secret, see the key, its owner, and its events.
#[component]
fn FindKeyCard(filters: RwSignal<Filters>) -> impl IntoView {
    let find = ServerAction::<FindKey>::new();
    let secret = RwSignal::new(String::new());
    view! {
        <Card
            class="find-key"
            title_id="find-key-title"
            title="Whose key is this?"
            hint="Found a key in a public repository, a log or a screenshot? Paste it to see whose it is. \
                  keyward hashes it to look it up and never stores or logs it."
        >
            <form class="inline-form" on:submit=move |ev| {
                ev.prevent_default();
                find.dispatch(FindKey { request: FindKeyRequest { secret: secret.get_untracked() } });
                // The secret is not kept in the page once it is sent.
                secret.set(String::new());
            }>
                <label for="find-key-secret" class="visually-hidden">"Key secret"</label>
                <input id="find-key-secret" type="password" autocomplete="off" required placeholder="kw_…"
                    prop:value=secret on:input=move |ev| secret.set(event_target_value(&ev)) />
                <button type="submit" disabled=move || find.pending().get()>"Find key"</button>
            </form>
            <ErrorNote error=action_error(find.value()) />
            {move || match find.value().get() {
                Some(Ok(found)) => Some(match found.key {
                    Some(key) => view! { <FoundKeyNote key filters /> }.into_any(),
                    None => view! {
                        <p class="notice" role="status">
                            "This is not a key of this account (it may belong to another account, or was never issued)."
                        </p>
                    }.into_any(),
                }),
                _ => None,
            }}
        </Card>
    }
}

#[component]
fn FoundKeyNote(key: Key, filters: RwSignal<Filters>) -> impl IntoView {
    let owner = key
        .owner
        .as_ref()
        .map(|owner| owner.email.clone())
        .unwrap_or_else(|| "nobody (a legacy account key)".to_string());
    let status = match key.status {
        KeyStatus::Active => "active — revoke it on the All keys page",
        KeyStatus::Revoked => "already revoked",
        KeyStatus::Expired => "expired",
    };
    let key_id = key.id.to_string();
    view! {
        <div class="found-key" role="status" data-testid="found-key">
            <p>
                "It is the key " <strong>{format!("“{}”", key.name)}</strong> " (" <code>{key.hint.clone()}</code> ") of "
                <strong>{owner}</strong> ", acting as " <RoleBadge role=key.effective_role /> ", " {status} "."
            </p>
            <button type="button" class="secondary" on:click=move |_| filters.update(|f| f.key_id = key_id.clone())>
                "Show this key's events"
            </button>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::Filters;

    #[test]
    fn a_day_range_covers_both_days_whole() {
        let filters = Filters {
            from: "2026-11-01".into(),
            to: "2026-11-02".into(),
            ..Filters::default()
        };
        let request = filters.request(Some("42".into()));
        assert_eq!(request.since.as_deref(), Some("2026-11-01T00:00:00Z"));
        assert_eq!(request.until.as_deref(), Some("2026-11-02T23:59:59.999Z"));
        assert_eq!(request.cursor.as_deref(), Some("42"));
        assert_eq!(request.action, None);
    }
}
