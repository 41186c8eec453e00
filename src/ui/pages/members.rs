use crate::api::invites::{list_invites, WithdrawInvite};
use crate::api::members::{list_members, InviteMember, RemoveMember, SetMemberRole};
use crate::domain::requests::{
    InviteMemberRequest, ListMembersRequest, RemoveMemberRequest, SetMemberRoleRequest,
    WithdrawInviteRequest,
};
use crate::domain::{
    views::{Invite, Me, Member},
    Permission, Role,
};
use crate::ui::components::ColumnHeads;
use crate::ui::service_accounts::HandOverKeys;
use crate::ui::step_up::{retry_of, StepUpOr};
use crate::ui::{
    components::{
        action_error, input_value, select_value, short_time, ConfirmButton, CopyButton, ErrorNote,
        Loading, RelativeTime, RoleBadge, RoleSelect,
    },
    layout::{use_session, SignedInPage},
    paging::{LoadMore, MorePages},
};
use leptos::prelude::*;

#[component]
pub fn MembersPage() -> impl IntoView {
    view! {
        <SignedInPage title="Members" render=|me| view! { <Members me /> } />
    }
}

#[component]
fn Members(me: Me) -> impl IntoView {
    let section_me = me.clone();
    let session = use_session();
    let is_admin = crate::domain::allows(me.role, me.via, Permission::MembersWrite);
    let my_id = me.user.as_ref().map(|user| user.id.clone());
    let invite = ServerAction::<InviteMember>::new();
    let set_role = ServerAction::<SetMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let reloads = move || {
        (
            session.version.get(),
            set_role.version().get(),
            remove.version().get(),
            invite.version().get(),
        )
    };
    let members = Resource::new(reloads, |_| {
        list_members(ListMembersRequest {
            cursor: None,
            limit: None,
        })
    });
    let more = MorePages::<Member>::new();
    Effect::watch(reloads, move |_, _, _| more.reset(), false);
    let next_page = move |cursor: String| async move {
        list_members(ListMembersRequest {
            cursor: Some(cursor),
            limit: None,
        })
        .await
        .map(|list| (list.members, list.next_cursor))
    };
    // Leaving the account changes who we are: fetch the session again.
    Effect::new(move |_| {
        if matches!(remove.value().get(), Some(Ok(_))) {
            session.refresh();
        }
    });
    // Read from the DOM on submit (see `input_value`): this form is in the server-rendered page.
    let email = NodeRef::<leptos::html::Input>::new();
    let role = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        if matches!(invite.value().get(), Some(Ok(_))) {
            if let Some(input) = email.get() {
                input.set_value("");
            }
        }
    });
    view! {
        <div class="page-head">
            <h1>"Members"</h1>
            <p class="muted">{format!("People in {}. Each member's keys act with the member's current role.", me.account.name)}</p>
        </div>
        {is_admin
            .then(|| {
                view! {
                    <form method="post" class="card editor" aria-labelledby="invite-title" on:submit=move |ev| {
                        ev.prevent_default();
                        let role = Role::parse(&select_value(role)).unwrap_or(Role::ReadOnly);
                        invite.dispatch(InviteMember { request: InviteMemberRequest { email: input_value(email), role } });
                    }>
                        <h2 id="invite-title">"Invite someone"</h2>
                        <div class="grid">
                            <div class="wide">
                                <label for="invite-email">"Email"</label>
                                <input id="invite-email" type="email" required maxlength="254" node_ref=email />
                            </div>
                            <div>
                                <label for="invite-role">"Role"</label>
                                <select id="invite-role" node_ref=role>
                                    {Role::ALL
                                        .into_iter()
                                        .map(|choice| view! {
                                            <option value=choice.as_str() selected=choice == Role::ReadOnly>{choice.label()}</option>
                                        })
                                        .collect_view()}
                                </select>
                            </div>
                        </div>
                        <StepUpOr error=action_error(invite.value()) retry=retry_of(invite) />
                        <button type="submit">"Create invite link"</button>
                        {move || {
                            invite.value().get().and_then(Result::ok).map(|invitation| {
                                view! {
                                    <div class="secret-box" role="status">
                                        <p>
                                            {if invitation.emailed {
                                                "We emailed this one-time link to the person you invite; you can also send it yourself. It expires "
                                            } else {
                                                "Send this one-time link to the person you invite. It expires "
                                            }}
                                            {short_time(&invitation.expires_at)} "."
                                        </p>
                                        <code class="invite-url">{invitation.invite_url.clone()}</code>
                                        <CopyButton text=invitation.invite_url label="Copy link" />
                                    </div>
                                }
                            })
                        }}
                    </form>
                }
            })}
        <h2 id="people-title">"People"</h2>
        <StepUpOr error=action_error(set_role.value()) retry=retry_of(set_role) />
        <StepUpOr error=action_error(remove.value()) retry=retry_of(remove) />
        <Transition fallback=|| view! { <Loading /> }>
            {move || {
                let my_id = my_id.clone();
                Suspend::new(async move {
                    match members.await {
                        Ok(list) => {
                            let first = list.members;
                            view! {
                                <table class="table" aria-labelledby="people-title">
                                    <ColumnHeads columns=vec!["Email", "Role", "Two-step sign-in", "Joined"] actions=true />
                                    <tbody>
                                        {move || more
                                            .after_first(&first)
                                            .into_iter()
                                            .map(|member| {
                                                let is_me = my_id.as_ref() == Some(&member.user.id);
                                                view! { <MemberRow member is_me is_admin set_role remove /> }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                <LoadMore more first_cursor=list.next_cursor fetch=next_page noun="members" />
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                    }
                })
            }}
        </Transition>
        {is_admin.then(|| view! { <PendingInvites invite /> })}
        <crate::ui::service_accounts::ServiceAccountsSection me=section_me />
    }
}

/// Which second factors a member has, in words (the Members page's column).
fn two_step_label(factors: &[String]) -> String {
    let names: Vec<&str> = factors
        .iter()
        .filter_map(|factor| match factor.as_str() {
            "totp" => Some("Authenticator app"),
            "passkey" => Some("Passkey"),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        "Off".to_string()
    } else {
        names.join(", ")
    }
}

#[component]
fn MemberRow(
    member: Member,
    is_me: bool,
    is_admin: bool,
    set_role: ServerAction<SetMemberRole>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let role = RwSignal::new(member.role);
    let user_id = member.user.id.clone();
    let select_id = format!("role-{}", member.user.id);
    let email = member.user.email.clone();
    let remove_label = if is_me { "Leave account" } else { "Remove" };
    // An Admin removing someone first sees their keys, and may hand each over to a service
    // account so that what runs on it keeps running.
    let offboarding = RwSignal::new(false);
    let hand_over = (is_admin && !is_me).then(|| (user_id.to_string(), email.clone()));
    let question = if is_me {
        "Leave this account? Your keys in it stop working.".to_string()
    } else {
        format!("Remove {email}? Their keys in this account stop working at once.")
    };
    Effect::new({
        let user_id = user_id.clone();
        move |previous: Option<Role>| {
            let chosen = role.get();
            if previous.is_some_and(|previous| previous != chosen) {
                set_role.dispatch(SetMemberRole {
                    request: SetMemberRoleRequest {
                        user_id: user_id.to_string(),
                        role: chosen,
                    },
                });
            }
            chosen
        }
    });
    let confirm_remove = {
        let question = question.clone();
        let user_id = user_id.clone();
        move || {
            let user_id = user_id.clone();
            view! {
                <ConfirmButton
                    label=remove_label
                    question=question.clone()
                    confirm_label=remove_label
                    on_confirm=move |_| { remove.dispatch(RemoveMember { request: RemoveMemberRequest { user_id: user_id.to_string() } }); }
                    pending=remove.pending()
                />
            }
        }
    };
    // Erased in two parts: as one type, the row and its hand-over are too deep for a release
    // build of the server.
    let row = view! {
        <tr>
            <td data-label="Email">
                {member.user.email.clone()} {is_me.then(|| view! { <span class="muted">" (you)"</span> })}
                {member.display_name.clone().map(|name| view! { <span class="muted small">" · " {name}</span> })}
                {member.suspended.then(|| view! {
                    " " <span class="badge warn" title="Switched off by the identity provider (SCIM): their sessions and keys in this account stop until it switches them on again.">"Suspended"</span>
                })}
            </td>
            <td data-label="Role">
                {if is_admin {
                    view! {
                        <label class="visually-hidden" for=select_id.clone()>{format!("Role of {email}")}</label>
                        <RoleSelect id=select_id.clone() roles=Role::ALL.to_vec() value=role />
                    }
                        .into_any()
                } else {
                    view! { <RoleBadge role=member.role /> }.into_any()
                }}
            </td>
            <td data-label="Two-step sign-in">{two_step_label(&member.second_factors)}</td>
            <td data-label="Joined"><RelativeTime at=member.joined_at.clone() /></td>
            <td class="row-actions">
                {(is_admin || is_me)
                    .then(|| {
                        match hand_over.clone() {
                            Some(_) => view! {
                                <Show when=move || !offboarding.get()>
                                    <button type="button" class="danger-outline" on:click=move |_| offboarding.set(true)>"Remove…"</button>
                                </Show>
                            }.into_any(),
                            None => confirm_remove.clone()().into_any(),
                        }
                    })}
            </td>
        </tr>
    }
    .into_any();
    let removal = hand_over.map(|(user_id, email)| view! {
            <Show when=move || offboarding.get()>
                <tr class="detail-row">
                    <td colspan="5">
                        <h3 class="small-heading">{format!("Removing {email}")}</h3>
                        <HandOverKeys user_id=user_id.clone() email=email.clone() />
                        <div class="actions">
                            {confirm_remove.clone()}
                            <button type="button" class="secondary" on:click=move |_| offboarding.set(false)>"Not now"</button>
                        </div>
                    </td>
                </tr>
            </Show>
        }
        .into_any());
    view! { {row} {removal} }
}

/// The links handed out and not yet used, so an Admin can see who may still join — and take a
/// link back (sent to the wrong address, or no longer wanted).
#[component]
fn PendingInvites(invite: ServerAction<InviteMember>) -> impl IntoView {
    let session = use_session();
    let withdraw = ServerAction::<WithdrawInvite>::new();
    let invites = Resource::new(
        move || {
            (
                session.version.get(),
                invite.version().get(),
                withdraw.version().get(),
            )
        },
        |_| list_invites(),
    );
    view! {
        <section class="pending-invites" aria-labelledby="pending-title">
            <h2 id="pending-title">"Pending invites"</h2>
            <ErrorNote error=action_error(withdraw.value()) />
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match invites.await {
                        Ok(list) if list.invites.is_empty() => {
                            view! { <p class="muted">"No invite is waiting to be accepted."</p> }.into_any()
                        }
                        Ok(list) => {
                            view! {
                                <table class="table">
                                    <ColumnHeads columns=vec!["Email", "Role", "Invited by", "Expires"] actions=true />
                                    <tbody>
                                        {list.invites.into_iter().map(|pending| view! { <InviteRow pending withdraw /> }).collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn InviteRow(pending: Invite, withdraw: ServerAction<WithdrawInvite>) -> impl IntoView {
    let invite_id = pending.id.clone();
    let inviter = pending.invited_by.as_ref().map_or_else(
        || "A legacy account key".to_string(),
        |user| user.email.clone(),
    );
    view! {
        <tr>
            <td data-label="Email">{pending.email.clone()}</td>
            <td data-label="Role"><RoleBadge role=pending.role /></td>
            <td data-label="Invited by">{inviter}</td>
            <td data-label="Expires"><RelativeTime at=pending.expires_at.clone() /></td>
            <td class="row-actions">
                <ConfirmButton
                    label="Withdraw"
                    question=format!("Withdraw the invite for {}? The link stops working.", pending.email)
                    confirm_label="Withdraw invite"
                    on_confirm=move |_| { withdraw.dispatch(WithdrawInvite { request: WithdrawInviteRequest { invite_id: invite_id.to_string() } }); }
                />
            </td>
        </tr>
    }
}
