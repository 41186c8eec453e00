use crate::domain::wire::Json;
use crate::domain::{
    requests::{
        InviteMemberRequest, ListMembersRequest, RemoveMemberRequest, SetMemberRoleRequest,
    },
    views::{Empty, Invitation, MemberList, OneMember},
    ApiError,
};
use leptos::prelude::*;

/// Lists the members of the current account in the order they joined, a page at a time.
#[server(prefix = "/api", endpoint = "v1/members/list", input = Json, output = Json)]
pub async fn list_members(
    #[server(flatten)] request: ListMembersRequest,
) -> Result<MemberList, ApiError> {
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::{paging, stores};

    let (state, caller) = authorize(Permission::MembersRead).await?;
    let after: Option<(i64, String)> = paging::decode_cursor(&request.cursor, "members/list")?;
    let limit = paging::page_size(request.limit)?;
    let (members, next_cursor) =
        stores::accounts::members(&state.pool, caller.account_id(), after.as_ref(), limit).await?;
    Ok(MemberList {
        members,
        next_cursor,
    })
}

/// Invites someone by email with a role. The Admin gets the one-time link to pass on, and —
/// when keyward sends email — the person gets it by email too. The link expires after seven
/// days; a new invite for the same email withdraws the earlier one.
#[server(prefix = "/api", endpoint = "v1/members/invite", input = Json, output = Json)]
pub async fn invite_member(
    #[server(flatten)] request: InviteMemberRequest,
) -> Result<Invitation, ApiError> {
    use crate::domain::random::random_base62;
    use crate::domain::time::{now_millis, rfc3339};
    use crate::domain::{audit::AuditAction, ids::InviteId, inputs::Email, Permission};
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::respond::respond_created;
    use crate::server::stores;

    let InviteMemberRequest { email, role } = request;
    let (state, caller) = authorize_with_recent_proof(Permission::MembersWrite).await?;
    let email = Email::parse(&email)?;
    let now = now_millis();
    state
        .config
        .ceilings
        .room_for_invite(&state.pool, caller.account_id(), now)
        .await?;
    if let Err(wait) = state.throttles.invite(caller.account_id()).await {
        crate::server::respond::respond_retry_after(wait);
        return Err(ApiError::new(
            crate::domain::ErrorCode::RateLimited,
            format!(
                "This account has sent {} invites in the last hour, the most it may ({}). Try again later.",
                state.config.ceilings.invites_per_account_per_hour,
                crate::server::config::INVITES_PER_HOUR_VAR
            ),
        ));
    }
    if let Some(existing) = stores::users::find_by_email(&state.pool, email.as_str()).await? {
        if stores::accounts::member(&state.pool, caller.account_id(), &existing.id)
            .await?
            .is_some()
        {
            return Err(ApiError::conflict(
                "email: this person is already a member of the account.",
            ));
        }
    }
    let token = random_base62(32);
    let expires_at = now.after(std::time::Duration::from_secs(7 * 24 * 60 * 60));
    stores::invites::insert(
        &state.pool,
        stores::invites::NewInvite {
            id: &InviteId::generate(),
            account_id: caller.account_id(),
            email: email.as_str(),
            role,
            token_hash: &crate::server::joining::invite_token_hash(&state.key_hasher, &token),
            invited_by: caller.user.as_ref().map(|user| &user.id),
            invited_by_key_id: caller.key_id(),
            now,
            expires_at,
        },
        caller.audit(&state, AuditAction::MemberInvited),
    )
    .await?;
    respond_created();
    let invite_url = format!("{}/invite/{token}", public_base_url(&state).await);
    let letter = crate::server::mail::invite_letter(
        email.as_str(),
        &caller.account.name,
        caller.user.as_ref().map(|user| user.email.as_str()),
        role,
        &invite_url,
        &rfc3339(expires_at),
    );
    let emailed = crate::server::mail::send_later(&state, letter);
    Ok(Invitation {
        invite_url,
        expires_at: rfc3339(expires_at),
        emailed,
    })
}

/// The base of links keyward hands out: the configured public URL, else the host the request
/// was sent to.
#[cfg(feature = "ssr")]
pub(crate) async fn public_base_url(state: &crate::server::AppState) -> String {
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    crate::server::request::public_base_url(&state.config, &headers)
}

/// Changes a member's role. The last Admin cannot be demoted.
#[server(prefix = "/api", endpoint = "v1/members/set-role", input = Json, output = Json)]
pub async fn set_member_role(
    #[server(flatten)] request: SetMemberRoleRequest,
) -> Result<OneMember, ApiError> {
    use crate::domain::{audit::AuditAction, ids::*, Permission};
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::stores;

    let SetMemberRoleRequest { user_id, role } = request;
    let (state, caller) = authorize_with_recent_proof(Permission::MembersWrite).await?;
    let user_id = UserId::parse("user_id", &user_id)?;
    let event = caller.audit(&state, AuditAction::MemberRoleChanged);
    let member =
        stores::accounts::set_role(&state.pool, caller.account_id(), &user_id, role, event).await?;
    // The member's keys act with the new role from the next request, on every instance.
    crate::server::keys::changes::note_change(caller.account_id());
    Ok(OneMember { member })
}

/// Removes a member (an Admin removing anyone, or a member leaving — which takes a browser
/// session, not a key). Their keys in this account are revoked at once and their pending
/// invites withdrawn. The last Admin cannot be removed.
#[server(prefix = "/api", endpoint = "v1/members/remove", input = Json, output = Json)]
pub async fn remove_member(
    #[server(flatten)] request: RemoveMemberRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::*, Permission};
    use crate::server::caller::resolve_caller;
    use crate::server::stores;

    let RemoveMemberRequest { user_id } = request;
    let (state, caller) = resolve_caller().await?;
    let user_id = UserId::parse("user_id", &user_id)?;
    let leaving = caller.user.as_ref().is_some_and(|me| me.id == user_id);
    caller.authorize(if leaving {
        Permission::LoginWrite
    } else {
        Permission::MembersWrite
    })?;
    // Leaving needs no proof: it only takes the person's own access away.
    if !leaving {
        crate::server::signin::step_up::require_recent_proof(&state, &caller)?;
    }
    let event = caller.audit(
        &state,
        if leaving {
            AuditAction::MemberLeft
        } else {
            AuditAction::MemberRemoved
        },
    );
    stores::accounts::remove(
        &state.pool,
        caller.account_id(),
        &user_id,
        now_millis(),
        event,
    )
    .await?;
    // The member's keys stop at the next request, on every instance.
    crate::server::keys::changes::note_change(caller.account_id());
    Ok(Empty {})
}
