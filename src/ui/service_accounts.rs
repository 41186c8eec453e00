//! Service accounts in the UI: their section of the Members page (create, role, custodians, a
//! key for one, delete), the hand-over of a leaving member's keys, and adopting legacy keys.

use crate::api::keys::{list_account_keys, list_keys, CreateKey, RevokeKey, RotateKey};
use crate::api::service_accounts::{
    list_service_accounts, AdoptAccountKey, CreateServiceAccount, DeleteServiceAccount,
    UpdateServiceAccount,
};
use crate::domain::requests::{
    AdoptKeyRequest, CreateKeyRequest, CreateServiceAccountRequest, ListAccountKeysRequest,
    ListKeysRequest, RotateKeyRequest, ServiceAccountIdRequest, UpdateServiceAccountRequest,
};
use crate::domain::{
    inputs::KeyStatusFilter,
    views::{Key, Me, Member, ServiceAccount},
    Permission, Role,
};
use crate::ui::components::{
    action_error, input_value, select_value, ColumnHeads, ConfirmButton, CopyButton, ErrorNote,
    Loading, RelativeTime, RoleBadge, RoleSelect,
};
use crate::ui::layout::use_session;
use crate::ui::step_up::{retry_of, StepUpOr};
use leptos::prelude::*;

/// A secret shown once, inline, with what to do with it.
#[component]
fn SecretOnce(name: String, secret: String, note: &'static str) -> impl IntoView {
    view! {
        <div class="secret-box" role="status">
            <p><strong>{format!("The key “{name}”: copy it now, keyward shows it only this once.")}</strong></p>
            <code class="secret" data-testid="new-key-secret">{secret.clone()}</code>
            <p class="hint">{note}</p>
            <CopyButton text=secret label="Copy key" />
        </div>
    }
}

/// The service accounts of the account, on the Members page under their own heading.
#[component]
pub fn ServiceAccountsSection(me: Me) -> impl IntoView {
    let session = use_session();
    let is_admin = crate::domain::allows(me.role, me.via, Permission::ServiceAccountsWrite);
    let my_id = me.user.as_ref().map(|user| user.id.clone());
    let create = ServerAction::<CreateServiceAccount>::new();
    let update = ServerAction::<UpdateServiceAccount>::new();
    let delete = ServerAction::<DeleteServiceAccount>::new();
    let new_key = ServerAction::<CreateKey>::new();
    let accounts = Resource::new(
        move || {
            (
                session.version.get(),
                create.version().get(),
                update.version().get(),
                delete.version().get(),
                new_key.version().get(),
            )
        },
        |_| list_service_accounts(),
    );
    // The custodian picker offers the account's members.
    let members = crate::ui::paging::members_for_picker();
    let name = NodeRef::<leptos::html::Input>::new();
    let description = NodeRef::<leptos::html::Input>::new();
    let role = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            for input in [name.get(), description.get()].into_iter().flatten() {
                input.set_value("");
            }
        }
    });
    let change_error = Signal::derive(move || action_error(delete.value()).get());
    view! {
        <section class="service-accounts" aria-labelledby="service-accounts-title">
            <h2 id="service-accounts-title">"Service accounts"</h2>
            <p class="muted">
                "Members without a login, for CI jobs, provisioning tools and other programs. Their keys act with the service account's role and keep working when the person who set them up leaves. "
                "Its custodians and the Admins create, rotate and revoke its keys."
            </p>
            {is_admin.then(|| view! {
                <form method="post" class="card editor" aria-labelledby="new-service-account-title" on:submit=move |ev| {
                    ev.prevent_default();
                    let role = Role::parse(&select_value(role)).unwrap_or(Role::ReadOnly);
                    let description = Some(input_value(description)).filter(|text| !text.trim().is_empty());
                    create.dispatch(CreateServiceAccount { request: CreateServiceAccountRequest { name: input_value(name), role, description } });
                }>
                    <h3 id="new-service-account-title">"New service account"</h3>
                    <div class="grid">
                        <div>
                            <label for="service-account-name">"Name"</label>
                            <input id="service-account-name" required maxlength="100" placeholder="CI" node_ref=name />
                        </div>
                        <div class="wide">
                            <label for="service-account-description">"What it is for"</label>
                            <input id="service-account-description" maxlength="500" placeholder="Deploys from the main branch" node_ref=description />
                        </div>
                        <div>
                            <label for="service-account-role">"Role"</label>
                            <select id="service-account-role" node_ref=role>
                                {Role::ALL.into_iter().map(|choice| view! {
                                    <option value=choice.as_str() selected=choice == Role::ReadOnly>{choice.label()}</option>
                                }).collect_view()}
                            </select>
                        </div>
                    </div>
                    <StepUpOr error=action_error(create.value()) retry=retry_of(create) />
                    <button type="submit">"Create service account"</button>
                </form>
            })}
            <StepUpOr error=action_error(update.value()) retry=retry_of(update) />
            <StepUpOr error=action_error(new_key.value()) retry=retry_of(new_key) />
            <ErrorNote error=change_error />
            {move || new_key.value().get().and_then(Result::ok).map(|made| view! {
                <SecretOnce name=made.key.name.clone() secret=made.secret
                    note="It acts for the service account, not for you: put it in the program's secret store." />
            })}
            <Transition fallback=|| view! { <Loading /> }>
                {move || {
                    let my_id = my_id.clone();
                    Suspend::new(async move {
                        let members = members.await.map(|list| list.members).unwrap_or_default();
                        match accounts.await {
                            Ok(list) if list.service_accounts.is_empty() => view! {
                                <p class="muted">"No service account yet."</p>
                            }.into_any(),
                            Ok(list) => view! {
                                <table class="table" aria-labelledby="service-accounts-title">
                                    <ColumnHeads columns=vec!["Name", "Role", "Custodians", "Active keys"] actions=true />
                                    <tbody>
                                        {list.service_accounts.into_iter().map(|service_account| {
                                            let custodian = my_id.as_ref().is_some_and(|me| service_account.custodians.iter().any(|user| &user.id == me));
                                            view! { <ServiceAccountRow service_account members=members.clone() is_admin custodian update delete new_key /> }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                            Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn ServiceAccountRow(
    service_account: ServiceAccount,
    members: Vec<Member>,
    is_admin: bool,
    custodian: bool,
    update: ServerAction<UpdateServiceAccount>,
    delete: ServerAction<DeleteServiceAccount>,
    new_key: ServerAction<CreateKey>,
) -> impl IntoView {
    let id = service_account.id.to_string();
    let role = RwSignal::new(service_account.role);
    Effect::new({
        let id = id.clone();
        move |previous: Option<Role>| {
            let chosen = role.get();
            if previous.is_some_and(|previous| previous != chosen) {
                update.dispatch(UpdateServiceAccount {
                    request: UpdateServiceAccountRequest {
                        service_account_id: id.clone(),
                        name: None,
                        role: Some(chosen),
                        description: None,
                        custodian_user_ids: None,
                    },
                });
            }
            chosen
        }
    });
    let editing_custodians = RwSignal::new(false);
    let making_key = RwSignal::new(false);
    let showing_keys = RwSignal::new(false);
    let chosen: RwSignal<Vec<String>> = RwSignal::new(
        service_account
            .custodians
            .iter()
            .map(|user| user.id.to_string())
            .collect(),
    );
    let custodian_names = if service_account.custodians.is_empty() {
        "None: the Admins manage its keys".to_string()
    } else {
        service_account
            .custodians
            .iter()
            .map(|user| user.email.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let key_name = NodeRef::<leptos::html::Input>::new();
    let key_days = NodeRef::<leptos::html::Select>::new();
    let select_id = format!("service-role-{id}");
    let name = service_account.name.clone();
    let name_for_legend = StoredValue::new(service_account.name.clone());
    let keys_of = StoredValue::new(id.clone());
    let save_custodians = Callback::new({
        let id = id.clone();
        move |_: ()| {
            update.dispatch(UpdateServiceAccount {
                request: UpdateServiceAccountRequest {
                    service_account_id: id.clone(),
                    name: None,
                    role: None,
                    description: None,
                    custodian_user_ids: Some(chosen.get_untracked()),
                },
            });
            editing_custodians.set(false);
        }
    });
    let make_key = Callback::new({
        let id = id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let days = select_value(key_days).parse::<u32>().ok();
            new_key.dispatch(CreateKey {
                request: CreateKeyRequest {
                    name: input_value(key_name),
                    role_cap: None,
                    expires_at: days.map(crate::ui::pages::keys::days_from_now),
                    allowed_cidrs: None,
                    rate_limit_per_minute: None,
                    permissions: None,
                    check_ids: None,
                    service_account_id: Some(id.clone()),
                },
            });
            making_key.set(false);
        }
    });
    let delete_id = id.clone();
    let boxes: Vec<(String, String, String)> = members
        .iter()
        .map(|member| {
            let user_id = member.user.id.to_string();
            let box_id = format!("custodian-{id}-{user_id}");
            (user_id, member.user.email.clone(), box_id)
        })
        .collect();
    let boxes = StoredValue::new(boxes);
    let form_ids = StoredValue::new((
        format!("service-key-name-{id}"),
        format!("service-key-days-{id}"),
    ));
    // Erased in two parts: as one type, the row and its details are too deep for a release
    // build of the server.
    let row = view! {
        <tr>
            <td data-label="Name">
                <strong>{service_account.name.clone()}</strong>
                <span class="muted small block">{service_account.description.clone()}</span>
                <span class="muted small block">
                    {service_account.created_by.as_ref().map_or_else(|| "Created ".to_string(), |user| format!("Created by {} ", user.email))}
                    <RelativeTime at=service_account.created_at.clone() />
                </span>
            </td>
            <td data-label="Role">
                {if is_admin {
                    view! {
                        <label class="visually-hidden" for=select_id.clone()>{format!("Role of {name}")}</label>
                        <RoleSelect id=select_id.clone() roles=Role::ALL.to_vec() value=role />
                    }.into_any()
                } else {
                    view! { <RoleBadge role=service_account.role /> }.into_any()
                }}
            </td>
            <td data-label="Custodians">
                {custodian_names}
                {is_admin.then(|| view! {
                    " " <button type="button" class="link-button" on:click=move |_| editing_custodians.update(|open| *open = !*open)>"Change"</button>
                })}
            </td>
            <td data-label="Active keys">{service_account.active_keys}</td>
            <td class="row-actions">
                {(is_admin || custodian).then(|| view! {
                    <button type="button" class="secondary" on:click=move |_| showing_keys.update(|open| *open = !*open)>"Keys"</button>
                    <button type="button" class="secondary" on:click=move |_| making_key.update(|open| *open = !*open)>"New key"</button>
                })}
                {is_admin.then(|| view! {
                    <ConfirmButton
                        label="Delete"
                        question=format!("Delete {}? Its {} active key(s) stop working at once.", service_account.name, service_account.active_keys)
                        confirm_label="Delete service account"
                        on_confirm=move |_| { delete.dispatch(DeleteServiceAccount { request: ServiceAccountIdRequest { service_account_id: delete_id.clone() } }); }
                        pending=delete.pending()
                    />
                })}
            </td>
        </tr>
    }
    .into_any();
    let details = view! {
        <Show when=move || editing_custodians.get() || making_key.get() || showing_keys.get()>
            <tr class="detail-row">
                <td colspan="5">
                <Show when=move || editing_custodians.get()>
                    <fieldset class="check-scope">
                        <legend>{format!("Who manages the keys of {} (besides the Admins)", name_for_legend.get_value())}</legend>
                        {boxes.get_value().into_iter().map(|(user_id, email, box_id)| {
                            let checked = chosen.get_untracked().contains(&user_id);
                            let label_for = box_id.clone();
                            view! {
                                <label for=label_for class="inline block">
                                    <input type="checkbox" id=box_id checked=checked on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|ids| {
                                            ids.retain(|existing| existing != &user_id);
                                            if on { ids.push(user_id.clone()); }
                                        });
                                    } />
                                    {email}
                                </label>
                            }
                        }).collect_view()}
                        <p class="hint">"With nobody ticked, only the Admins manage its keys."</p>
                        <button type="button" on:click=move |_| save_custodians.run(())>"Save custodians"</button>
                    </fieldset>
                </Show>
                <Show when=move || making_key.get()>
                    <form method="post" class="inline-form" on:submit=move |ev| make_key.run(ev)>
                        <label for=form_ids.get_value().0>"Key name"</label>
                        <input id=form_ids.get_value().0 required maxlength="100" placeholder="deploy" node_ref=key_name />
                        <label for=form_ids.get_value().1>"Expires"</label>
                        <select id=form_ids.get_value().1 node_ref=key_days>
                            <option value="90">"In 90 days"</option>
                            <option value="30">"In 30 days"</option>
                            <option value="365">"In a year"</option>
                            <option value="">"Never"</option>
                        </select>
                        <button type="submit">"Create key"</button>
                    </form>
                    <p class="hint">"The key acts for the service account with its role (capped at yours), and is shown once."</p>
                </Show>
                <Show when=move || showing_keys.get()>
                    <ServiceAccountKeys service_account_id=keys_of.get_value() />
                </Show>
                </td>
            </tr>
        </Show>
    }
    .into_any();
    view! { {row} {details} }
}

/// A service account's keys, for its custodians and the Admins: each can be revoked or rotated
/// here (a rotation's new secret is shown once, below the list's errors).
#[component]
fn ServiceAccountKeys(service_account_id: String) -> impl IntoView {
    let revoke = ServerAction::<RevokeKey>::new();
    let rotate = ServerAction::<RotateKey>::new();
    let keys = Resource::new(
        move || (revoke.version().get(), rotate.version().get()),
        move |_| {
            list_keys(ListKeysRequest {
                cursor: None,
                limit: Some(50),
                search: None,
                status: None,
                service_account_id: Some(service_account_id.clone()),
            })
        },
    );
    let error = Signal::derive(move || {
        action_error(revoke.value())
            .get()
            .or_else(|| action_error(rotate.value()).get())
    });
    view! {
        <ErrorNote error />
        {move || rotate.value().get().and_then(Result::ok).map(|rotated| view! {
            <SecretOnce name=rotated.key.name.clone() secret=rotated.secret
                note="Put it where the old key was used; the old secret works until its grace ends." />
        })}
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) if list.keys.is_empty() => view! { <p class="muted">"It has no key yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <crate::ui::key_table::KeyTable keys=list.keys revoke rotate show_owner=false />
                        {list.next_cursor.is_some().then(|| view! {
                            <p class="hint">"Its 50 newest keys."</p>
                        })}
                    }.into_any(),
                    Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The grace choices a hand-over offers, in seconds.
const GRACE_CHOICES: [(&str, i64); 4] = [
    ("The old secret works 1 more day", 86_400),
    ("… 1 more hour", 3_600),
    ("… 7 more days", 604_800),
    ("… stops now", 0),
];

/// Before an Admin removes a member: their active keys, with last use, each with "replace with
/// a key of service account X" — a rotation whose successor (shown here once) belongs to the
/// service account, so that what runs on the key keeps running after the removal.
#[component]
pub fn HandOverKeys(user_id: String, email: String) -> impl IntoView {
    let rotate = ServerAction::<RotateKey>::new();
    let keys = Resource::new(
        move || rotate.version().get(),
        move |_| {
            list_account_keys(ListAccountKeysRequest {
                cursor: None,
                limit: Some(200),
                search: None,
                status: Some(KeyStatusFilter::Active.as_str().to_string()),
                owner_user_id: Some(user_id.clone()),
                service_account_id: None,
            })
        },
    );
    let accounts = Resource::new(|| (), |_| list_service_accounts());
    view! {
        <div class="hand-over">
            <StepUpOr error=action_error(rotate.value()) retry=retry_of(rotate) />
            {move || rotate.value().get().and_then(Result::ok).map(|rotated| view! {
                <SecretOnce name=rotated.key.name.clone() secret=rotated.secret
                    note="Put it where the old key was used. It speaks for the service account; so does the old secret until its grace ends." />
            })}
            <Transition fallback=|| view! { <Loading /> }>
                {move || {
                    let email = email.clone();
                    Suspend::new(async move {
                        let service_accounts = accounts.await.map(|list| list.service_accounts).unwrap_or_default();
                        match keys.await {
                            Ok(list) if list.keys.is_empty() => view! {
                                <p class="muted">{format!("{email} has no active key.")}</p>
                            }.into_any(),
                            Ok(list) => view! {
                                <p>{format!("{email} has {} active key(s). They stop when {email} is removed, unless you replace them with a key of a service account first:", list.keys.len())}</p>
                                {service_accounts.is_empty().then(|| view! {
                                    <p class="notice">"There is no service account yet: create one below (Service accounts) to hand keys over to it."</p>
                                })}
                                <ul class="hand-over-keys">
                                    {list.keys.into_iter().map(|key| view! { <HandOverKey key service_accounts=service_accounts.clone() rotate /> }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn HandOverKey(
    key: Key,
    service_accounts: Vec<ServiceAccount>,
    rotate: ServerAction<RotateKey>,
) -> impl IntoView {
    let target = NodeRef::<leptos::html::Select>::new();
    let grace = NodeRef::<leptos::html::Select>::new();
    let key_id = key.id.to_string();
    let last_used = key.last_used_at.clone();
    let can = !service_accounts.is_empty();
    view! {
        <li>
            <strong>{key.name.clone()}</strong>
            " "<code>{key.hint.clone()}</code>" · "
            {match last_used {
                Some(at) => view! { "last used " <RelativeTime at /> }.into_any(),
                None => view! { "never used" }.into_any(),
            }}
            {can.then(|| view! {
                <form method="post" class="inline-form" on:submit=move |ev| {
                    ev.prevent_default();
                    let grace_seconds = select_value(grace).parse::<i64>().unwrap_or(0);
                    rotate.dispatch(RotateKey { request: RotateKeyRequest {
                        key_id: key_id.clone(),
                        grace_seconds,
                        to_service_account_id: Some(select_value(target)),
                    } });
                }>
                    <label for=format!("hand-over-to-{}", key.id)>"Replace with a key of"</label>
                    <select id=format!("hand-over-to-{}", key.id) node_ref=target>
                        {service_accounts.iter().map(|service_account| view! {
                            <option value=service_account.id.to_string()>{format!("{} ({})", service_account.name, service_account.role.label())}</option>
                        }).collect_view()}
                    </select>
                    <label class="visually-hidden" for=format!("hand-over-grace-{}", key.id)>"Grace for the old secret"</label>
                    <select id=format!("hand-over-grace-{}", key.id) node_ref=grace>
                        {GRACE_CHOICES.into_iter().map(|(label, seconds)| view! {
                            <option value=seconds.to_string()>{label}</option>
                        }).collect_view()}
                    </select>
                    <button type="submit" disabled=move || rotate.pending().get()>"Replace"</button>
                </form>
            })}
        </li>
    }
}

/// On All keys: how many legacy keys remain, and a way to give each an owner without
/// re-issuing it.
#[component]
pub fn AdoptLegacyKeys(
    legacy: Vec<Key>,
    adopt: ServerAction<AdoptAccountKey>,
    /// `retry_of(adopt)`, made by the page: this section is made anew when the list reloads.
    retry_adopt: Callback<()>,
) -> impl IntoView {
    let accounts = Resource::new(move || adopt.version().get(), |_| list_service_accounts());
    let count = legacy.len();
    view! {
        <section class="notice" aria-labelledby="legacy-title">
            <h2 id="legacy-title">{format!("{count} legacy account key(s) remain")}</h2>
            <p>
                "They act as Admin with no one accountable. Move each under a service account: the same secret keeps working, "
                "so nothing has to be re-issued, and from then on it acts with the service account's role and its uses name it in the audit trail."
            </p>
            <StepUpOr error=action_error(adopt.value()) retry=retry_adopt />
            <Transition fallback=|| view! { <Loading /> }>
                {move || {
                    let legacy = legacy.clone();
                    Suspend::new(async move {
                        let service_accounts = accounts.await.map(|list| list.service_accounts).unwrap_or_default();
                        if service_accounts.is_empty() {
                            return view! { <p class="muted">"Create a service account on the Members page first."</p> }.into_any();
                        }
                        view! {
                            <ul class="hand-over-keys">
                                {legacy.into_iter().map(|key| {
                                    let target = NodeRef::<leptos::html::Select>::new();
                                    let key_id = key.id.to_string();
                                    let select_id = format!("adopt-{}", key.id);
                                    view! {
                                        <li>
                                            <strong>{key.name.clone()}</strong>" "<code>{key.hint.clone()}</code>
                                            <form method="post" class="inline-form" on:submit=move |ev| {
                                                ev.prevent_default();
                                                adopt.dispatch(AdoptAccountKey { request: AdoptKeyRequest { key_id: key_id.clone(), service_account_id: select_value(target) } });
                                            }>
                                                <label for=select_id.clone()>"Move under"</label>
                                                <select id=select_id node_ref=target>
                                                    {service_accounts.iter().map(|service_account| view! {
                                                        <option value=service_account.id.to_string()>{format!("{} ({})", service_account.name, service_account.role.label())}</option>
                                                    }).collect_view()}
                                                </select>
                                                <button type="submit">"Adopt"</button>
                                            </form>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    })
                }}
            </Transition>
        </section>
    }
}
