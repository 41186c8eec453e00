use crate::api::checks::{list_checks, CreateCheck, DeleteCheck, UpdateCheck};
use crate::domain::requests::{
    CheckIdRequest, CreateCheckRequest, ListChecksRequest, UpdateCheckRequest,
};
use crate::domain::{
    views::{Check, Me},
    Permission,
};
use crate::ui::components::ColumnHeads;
use crate::ui::{
    components::{action_error, ConfirmButton, ErrorNote, Loading, RelativeTime},
    layout::{use_session, SignedInPage},
    paging::{LoadMore, MorePages},
};
use leptos::prelude::*;

#[component]
pub fn ChecksPage() -> impl IntoView {
    view! {
        <SignedInPage title="Checks" render=|me| view! { <Checks me /> } />
    }
}

/// The editor's fields; `editing` names the check being changed, `None` for a new one.
#[derive(Clone, Copy)]
struct Draft {
    editing: RwSignal<Option<String>>,
    name: RwSignal<String>,
    kind: RwSignal<String>,
    url: RwSignal<String>,
    frequency: RwSignal<String>,
    activated: RwSignal<bool>,
}

impl Draft {
    fn new() -> Self {
        Draft {
            editing: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            kind: RwSignal::new("api".to_string()),
            url: RwSignal::new(String::new()),
            frequency: RwSignal::new("10".to_string()),
            activated: RwSignal::new(true),
        }
    }

    fn load(&self, check: &Check) {
        self.editing.set(Some(check.id.to_string()));
        self.name.set(check.name.clone());
        self.kind.set(check.kind.as_str().to_string());
        self.url.set(check.url.clone());
        self.frequency.set(check.frequency_minutes.to_string());
        self.activated.set(check.activated);
    }

    fn clear(&self) {
        self.editing.set(None);
        self.name.set(String::new());
        self.url.set(String::new());
        self.frequency.set("10".to_string());
        self.activated.set(true);
    }

    /// The frequency as typed; a non-number becomes 0, which the server rejects by name.
    fn frequency_minutes(&self) -> i64 {
        self.frequency.get().trim().parse().unwrap_or(0)
    }
}

#[component]
fn Checks(me: Me) -> impl IntoView {
    let session = use_session();
    let can_write = crate::domain::allows(me.role, me.via, Permission::ChecksWrite);
    let create = ServerAction::<CreateCheck>::new();
    let update = ServerAction::<UpdateCheck>::new();
    let delete = ServerAction::<DeleteCheck>::new();
    let search = RwSignal::new(String::new());
    let reloads = move || {
        (
            session.version.get(),
            create.version().get(),
            update.version().get(),
            delete.version().get(),
            search.get(),
        )
    };
    let request = move |cursor: Option<String>| ListChecksRequest {
        cursor,
        limit: None,
        search: Some(search.get_untracked()),
    };
    let checks = Resource::new(reloads, move |_| list_checks(request(None)));
    let more = MorePages::<Check>::new();
    Effect::watch(reloads, move |_, _, _| more.reset(), false);
    let next_page = move |cursor: String| {
        let request = request(Some(cursor));
        async move {
            list_checks(request)
                .await
                .map(|list| (list.checks, list.next_cursor))
        }
    };
    let draft = Draft::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_)))
            || matches!(update.value().get(), Some(Ok(_)))
        {
            draft.clear();
        }
    });
    view! {
        <div class="page-head">
            <h1>"Checks"</h1>
            <p class="muted">{format!("Monitors of {}.", me.account.name)}</p>
        </div>
        {(!can_write)
            .then(|| {
                view! {
                    <p class="notice">"Your role is Read only: you can see checks but not change them."</p>
                }
            })}
        {can_write.then(|| view! { <CheckEditor draft create update /> })}
        <ErrorNote error=action_error(delete.value()) />
        <form class="filters" role="search" on:submit=|ev| ev.prevent_default()>
            <label class="visually-hidden" for="check-search">"Search checks"</label>
            <input id="check-search" type="search" placeholder="Search by name or URL" maxlength="100"
                prop:value=search on:input=move |ev| search.set(event_target_value(&ev)) />
        </form>
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match checks.await {
                    Ok(list) if list.checks.is_empty() && !search.get_untracked().trim().is_empty() => {
                        view! { <p class="empty">"No checks match this search."</p> }.into_any()
                    }
                    Ok(list) if list.checks.is_empty() => {
                        view! {
                            <div class="empty">
                                <h2>"No checks yet"</h2>
                                <p>"A check watches a URL on a schedule. Create one above, or with an API key from a script."</p>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(list) => {
                        let first = list.checks;
                        view! {
                            <table class="table">
                                <ColumnHeads columns=vec!["Name", "Kind", "URL", "Every", "State", "Updated"] actions=can_write />
                                <tbody>
                                    {move || more
                                        .after_first(&first)
                                        .into_iter()
                                        .map(|check| view! { <CheckRow check can_write draft delete /> })
                                        .collect_view()}
                                </tbody>
                            </table>
                            <LoadMore more first_cursor=list.next_cursor fetch=next_page noun="checks" />
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The form that creates a check, or edits the one loaded into `draft`.
#[component]
fn CheckEditor(
    draft: Draft,
    create: ServerAction<CreateCheck>,
    update: ServerAction<UpdateCheck>,
) -> impl IntoView {
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match draft.editing.get() {
            Some(check_id) => {
                update.dispatch(UpdateCheck {
                    request: UpdateCheckRequest {
                        check_id,
                        name: Some(draft.name.get()),
                        kind: Some(draft.kind.get()),
                        url: Some(draft.url.get()),
                        frequency_minutes: Some(draft.frequency_minutes()),
                        activated: Some(draft.activated.get()),
                    },
                });
            }
            None => {
                create.dispatch(CreateCheck {
                    request: CreateCheckRequest {
                        name: draft.name.get(),
                        kind: draft.kind.get(),
                        url: draft.url.get(),
                        frequency_minutes: draft.frequency_minutes(),
                        activated: draft.activated.get(),
                    },
                });
            }
        }
    };
    let save_error = Signal::derive(move || {
        if draft.editing.get().is_some() {
            action_error(update.value()).get()
        } else {
            action_error(create.value()).get()
        }
    });
    view! {
        <form method="post" class="card editor" on:submit=save aria-labelledby="editor-title">
            <h2 id="editor-title">
                {move || if draft.editing.get().is_some() { "Edit check" } else { "New check" }}
            </h2>
            <div class="grid">
                <div>
                    <label for="check-name">"Name"</label>
                    <input id="check-name" required maxlength="100" prop:value=draft.name
                        on:input=move |ev| draft.name.set(event_target_value(&ev)) />
                </div>
                <div>
                    <label for="check-kind">"Kind"</label>
                    <select id="check-kind" on:change=move |ev| draft.kind.set(event_target_value(&ev))>
                        <option value="api" selected=move || draft.kind.get() == "api">"API"</option>
                        <option value="browser" selected=move || draft.kind.get() == "browser">"Browser"</option>
                    </select>
                </div>
                <div class="wide">
                    <label for="check-url">"URL"</label>
                    <input id="check-url" type="url" required placeholder="https://example.com/health"
                        prop:value=draft.url on:input=move |ev| draft.url.set(event_target_value(&ev)) />
                </div>
                <div>
                    <label for="check-frequency">"Every (minutes)"</label>
                    <input id="check-frequency" type="number" min="1" max="1440" required
                        prop:value=draft.frequency
                        on:input=move |ev| draft.frequency.set(event_target_value(&ev)) />
                </div>
                <div class="checkbox">
                    <input id="check-activated" type="checkbox" prop:checked=draft.activated
                        on:change=move |ev| draft.activated.set(event_target_checked(&ev)) />
                    <label for="check-activated">"Activated"</label>
                </div>
            </div>
            <ErrorNote error=save_error />
            <div class="actions">
                <button type="submit">
                    {move || if draft.editing.get().is_some() { "Save changes" } else { "Create check" }}
                </button>
                <Show when=move || draft.editing.get().is_some()>
                    <button type="button" class="secondary" on:click=move |_| draft.clear()>"Cancel"</button>
                </Show>
            </div>
        </form>
    }
}

#[component]
fn CheckRow(
    check: Check,
    can_write: bool,
    draft: Draft,
    delete: ServerAction<DeleteCheck>,
) -> impl IntoView {
    let state = if check.activated { "Active" } else { "Paused" };
    let for_edit = check.clone();
    let check_id = check.id.clone();
    view! {
        <tr>
            <td data-label="Name">{check.name.clone()}</td>
            <td data-label="Kind">{check.kind.as_str()}</td>
            <td class="url" data-label="URL">{check.url.clone()}</td>
            <td data-label="Every">{format!("{} min", check.frequency_minutes)}</td>
            <td data-label="State"><span class=if check.activated { "badge ok" } else { "badge" }>{state}</span></td>
            <td data-label="Updated"><RelativeTime at=check.updated_at.clone() /></td>
            {can_write
                .then(|| {
                    let check_id = check_id.clone();
                    let name = check.name.clone();
                    view! {
                        <td class="row-actions">
                            <button type="button" class="secondary" on:click=move |_| draft.load(&for_edit)>"Edit"</button>
                            <ConfirmButton
                                label="Delete"
                                question=format!("Delete “{name}”?")
                                confirm_label="Yes, delete"
                                on_confirm=move |_| { delete.dispatch(DeleteCheck { request: CheckIdRequest { check_id: check_id.to_string() } }); }
                            />
                        </td>
                    }
                })}
        </tr>
    }
}
