use crate::api::members::{list_members, InviteMember, RemoveMember, SetMemberRole};
use crate::domain::requests::{InviteMemberRequest, RemoveMemberRequest, SetMemberRoleRequest};
use crate::domain::{
    views::{Me, Member},
    Action, Role,
};
use crate::ui::{
    components::{
        action_error, short_time, CopyButton, ErrorNote, Loading, RelativeTime, RoleBadge,
        RoleSelect,
    },
    layout::{use_session, RequireSignIn},
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn MembersPage() -> impl IntoView {
    view! {
        <Title text="Members · keyward" />
        <RequireSignIn render=|me| view! { <Members me /> } />
    }
}

#[component]
fn Members(me: Me) -> impl IntoView {
    let session = use_session();
    let is_admin = me.role.allows(Action::ManageMembers);
    let my_id = me
        .user
        .as_ref()
        .map(|user| user.id.clone())
        .unwrap_or_default();
    let invite = ServerAction::<InviteMember>::new();
    let set_role = ServerAction::<SetMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let members = Resource::new(
        move || {
            (
                session.version.get(),
                set_role.version().get(),
                remove.version().get(),
                invite.version().get(),
            )
        },
        |_| list_members(),
    );
    // Leaving the account changes who we are: fetch the session again.
    Effect::new(move |_| {
        if matches!(remove.value().get(), Some(Ok(_))) {
            session.refresh();
        }
    });
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::ReadOnly);
    Effect::new(move |_| {
        if matches!(invite.value().get(), Some(Ok(_))) {
            email.set(String::new());
        }
    });
    let change_error = Signal::derive(move || {
        action_error(set_role.value())
            .get()
            .or_else(|| action_error(remove.value()).get())
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
                        invite.dispatch(InviteMember { request: InviteMemberRequest { email: email.get(), role: role.get() } });
                    }>
                        <h2 id="invite-title">"Invite someone"</h2>
                        <div class="grid">
                            <div class="wide">
                                <label for="invite-email">"Email"</label>
                                <input id="invite-email" type="email" required maxlength="254" prop:value=email
                                    on:input=move |ev| email.set(event_target_value(&ev)) />
                            </div>
                            <div>
                                <label for="invite-role">"Role"</label>
                                <RoleSelect id="invite-role" roles=Role::ALL.to_vec() value=role />
                            </div>
                        </div>
                        <ErrorNote error=action_error(invite.value()) />
                        <button type="submit">"Create invite link"</button>
                        {move || {
                            invite.value().get().and_then(Result::ok).map(|invitation| {
                                view! {
                                    <div class="secret-box" role="status">
                                        <p>"Send this one-time link to the person you invite. It expires " {short_time(&invitation.expires_at)} "."</p>
                                        <code class="invite-url">{invitation.invite_url.clone()}</code>
                                        <CopyButton text=invitation.invite_url label="Copy link" />
                                    </div>
                                }
                            })
                        }}
                    </form>
                }
            })}
        <ErrorNote error=change_error />
        <Transition fallback=|| view! { <Loading /> }>
            {move || {
                let my_id = my_id.clone();
                Suspend::new(async move {
                    match members.await {
                        Ok(list) => {
                            view! {
                                <table class="table">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Email"</th>
                                            <th scope="col">"Role"</th>
                                            <th scope="col">"Joined"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list
                                            .members
                                            .into_iter()
                                            .map(|member| {
                                                let is_me = member.user.id == my_id;
                                                view! { <MemberRow member is_me is_admin set_role remove /> }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <p class="error" role="alert">{error.message}</p> }.into_any(),
                    }
                })
            }}
        </Transition>
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
    let confirming = RwSignal::new(false);
    let role = RwSignal::new(member.role);
    let user_id = member.user.id.clone();
    let select_id = format!("role-{}", member.user.id);
    let email = member.user.email.clone();
    let remove_label = if is_me { "Leave account" } else { "Remove" };
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
                        user_id: user_id.clone(),
                        role: chosen,
                    },
                });
            }
            chosen
        }
    });
    view! {
        <tr>
            <td data-label="Email">{member.user.email.clone()} {is_me.then(|| view! { <span class="muted">" (you)"</span> })}</td>
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
            <td data-label="Joined"><RelativeTime at=member.joined_at.clone() /></td>
            <td class="row-actions">
                {(is_admin || is_me)
                    .then(|| {
                        let question = question.clone();
                        view! {
                            <Show
                                when=move || confirming.get()
                                fallback=move || view! {
                                    <button type="button" class="danger-outline" on:click=move |_| confirming.set(true)>{remove_label}</button>
                                }
                            >
                                <span class="confirm">{question.clone()}</span>
                                <button type="button" class="danger" on:click={
                                    let user_id = user_id.clone();
                                    move |_| { remove.dispatch(RemoveMember { request: RemoveMemberRequest { user_id: user_id.clone() } }); }
                                }>{remove_label}</button>
                                <button type="button" class="secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                            </Show>
                        }
                    })}
            </td>
        </tr>
    }
}
