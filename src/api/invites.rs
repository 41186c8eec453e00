use crate::domain::wire::Json;
use crate::domain::{
    requests::{AcceptInviteRequest, WithdrawInviteRequest},
    views::{Empty, InviteList, SignedIn},
    ApiError,
};
use leptos::prelude::*;

/// The invites of the account that can still be accepted (Admins only).
#[server(prefix = "/api", endpoint = "v1/invites/list", input = Json, output = Json)]
pub async fn list_invites() -> Result<InviteList, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::MembersWrite).await?;
    let invites = stores::invites::pending(&state.pool, caller.account_id(), now_millis()).await?;
    Ok(InviteList { invites })
}

/// Withdraws a pending invite: its link answers 404 from then on.
#[server(prefix = "/api", endpoint = "v1/invites/withdraw", input = Json, output = Json)]
pub async fn withdraw_invite(
    #[server(flatten)] request: WithdrawInviteRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::*, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores;

    let WithdrawInviteRequest { invite_id } = request;
    let (state, caller) = authorize(Permission::MembersWrite).await?;
    let invite_id = InviteId::parse("invite_id", &invite_id)?;
    let event = caller.audit(&state, AuditAction::InviteWithdrawn);
    if !stores::invites::withdraw(
        &state.pool,
        caller.account_id(),
        &invite_id,
        now_millis(),
        event,
    )
    .await?
    {
        return Err(ApiError::not_found("pending invite"));
    }
    Ok(Empty {})
}

/// Accepts an invitation: creates the user (a password is required) or attaches an existing one
/// (signed in as that person in this browser, or proving it with their password), then signs
/// them in. A bearer key proves nothing here and never gets a session.
#[server(prefix = "/api", endpoint = "v1/invites/accept", input = Json, output = Json)]
pub async fn accept_invite(
    #[server(flatten)] request: AcceptInviteRequest,
) -> Result<SignedIn, ApiError> {
    use crate::domain::audit::AuditAction;
    use crate::domain::time::now_millis;
    use crate::server::audit::{Actor, Event, Origin, Target};
    use crate::server::request::app_state;
    use crate::server::signin::sessions;
    use crate::server::{joining, stores};

    let AcceptInviteRequest { token, password } = request;
    let state = app_state()?;
    let now = now_millis();
    let invite = joining::usable_invite(&state, &token, now).await?;
    let joining = joining::who_joins(&state, &invite.email, password).await?;
    let event = Event::new(
        &state.key_hasher,
        &invite.account_id,
        AuditAction::MemberJoined,
        Actor::person(&joining.user),
        Origin::of_request(&state),
    )
    .target(Target::user(&joining.user.id, &joining.user.email));
    let outcome = stores::invites::accept(
        &state.pool,
        &invite,
        invite.role,
        joining.joiner(),
        now,
        event,
    )
    .await?;
    joining::refuse_unless_joined(outcome)?;
    let account = stores::accounts::account(&state.pool, &invite.account_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    sessions::start(&joining.user.id, &account.id, now, false).await?;
    Ok(SignedIn {
        user: joining.user,
        account,
        role: invite.role,
    })
}
