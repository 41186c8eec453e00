use crate::domain::{
    requests::{
        AcceptInviteRequest, InviteMemberRequest, RemoveMemberRequest, SetMemberRoleRequest,
    },
    views::{Empty, Invitation, MemberList, OneMember, SignedIn},
    ApiError,
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// Lists the members of the current account.
#[server(prefix = "/api", endpoint = "v1/members/list", input = Json, output = Json)]
pub async fn list_members() -> Result<MemberList, ApiError> {
    use crate::domain::Action;
    use crate::server::{principal::authorize, stores};

    let (state, caller) = authorize(Action::Read).await?;
    let members = stores::accounts::members(&state.pool, caller.account_id()).await?;
    Ok(MemberList { members })
}

/// Invites someone by email with a role. There is no mail server: the Admin passes the
/// one-time link on. The link expires after seven days.
#[server(prefix = "/api", endpoint = "v1/members/invite", input = Json, output = Json)]
pub async fn invite_member(
    #[server(flatten)] request: InviteMemberRequest,
) -> Result<Invitation, ApiError> {
    use crate::domain::{inputs::Email, Action};
    use crate::server::{boundary::respond_created, ids::*, principal::authorize, stores};

    let InviteMemberRequest { email, role } = request;
    let (state, caller) = authorize(Action::ManageMembers).await?;
    let email = Email::parse(&email)?;
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
    let now = now_millis();
    let expires_at = now + 7 * 24 * 60 * 60 * 1000;
    stores::invites::insert(
        &state.pool,
        stores::invites::NewInvite {
            id: &new_id("inv"),
            account_id: caller.account_id(),
            email: email.as_str(),
            role,
            token_hash: &state.key_hasher.hash_text(&token),
            invited_by: caller.user.as_ref().map(|user| user.id.as_str()),
            now,
            expires_at,
        },
    )
    .await?;
    respond_created();
    Ok(Invitation {
        invite_url: format!("{}/invite/{token}", public_base_url(&state).await),
        expires_at: rfc3339(expires_at),
    })
}

/// The base of links keyward hands out: the configured public URL, else the host the request
/// was sent to.
#[cfg(feature = "ssr")]
async fn public_base_url(state: &crate::server::AppState) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.config.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// Accepts an invitation: creates the user (a password is required) or attaches an existing one
/// (signed in as that person, or proving it with their password), then signs them in.
#[server(prefix = "/api", endpoint = "v1/invites/accept", input = Json, output = Json)]
pub async fn accept_invite(
    #[server(flatten)] request: AcceptInviteRequest,
) -> Result<SignedIn, ApiError> {
    use crate::api::auth::start_session;
    use crate::domain::{inputs::NewPassword, views::User, ErrorCode, Role};
    use crate::server::{error::is_unique_violation, ids::*, principal, stores};

    let AcceptInviteRequest { token, password } = request;
    let state = principal::app_state()?;
    if token.is_empty() || token.len() > 128 {
        return Err(ApiError::invalid_input(
            "token",
            "is not a valid invite token",
        ));
    }
    let invite =
        stores::invites::find_by_token_hash(&state.pool, &state.key_hasher.hash_text(&token))
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "This invite link is not valid."))?;
    let now = now_millis();
    if invite.accepted_at.is_some() {
        return Err(ApiError::conflict("This invite has already been used."));
    }
    if invite.expires_at <= now {
        return Err(ApiError::conflict(
            "This invite has expired. Ask an Admin for a new one.",
        ));
    }
    let role = Role::parse(&invite.role).ok_or_else(ApiError::internal)?;
    let existing = stores::users::find_by_email(&state.pool, &invite.email).await?;
    let signed_in_as = principal::resolve(&state)
        .await
        .ok()
        .and_then(|caller| caller.user);

    let mut transaction = state.pool.begin().await?;
    if !stores::invites::mark_accepted(&mut *transaction, &invite.id, now).await? {
        return Err(ApiError::conflict("This invite has already been used."));
    }
    let user = match existing {
        Some(user) if signed_in_as.as_ref().is_some_and(|me| me.id == user.id) => user.view(),
        Some(user) => {
            let password = password.ok_or_else(|| {
                ApiError::invalid_input(
                    "password",
                    "is required: enter the password of your keyward login",
                )
            })?;
            // Proving a password here is a sign-in: throttled like auth/login, so an invite
            // link cannot be used to guess someone's password.
            let address = principal::client_address().await;
            if let Err(wait) = state
                .login_throttle
                .attempt(&user.email, address.as_deref())
            {
                crate::server::boundary::respond_retry_after(wait);
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    "Too many sign-in attempts. Wait a moment and try again.",
                ));
            }
            if !state
                .passwords
                .verify(&password, Some(&user.password_hash))
                .await?
            {
                return Err(ApiError::new(
                    ErrorCode::Unauthenticated,
                    "Wrong password for this email.",
                ));
            }
            user.view()
        }
        None => {
            let password = password.ok_or_else(|| {
                ApiError::invalid_input("password", "is required to create your login")
            })?;
            let password = NewPassword::parse(&password)?;
            let hash = state.passwords.hash(password.expose()).await?;
            let user = User {
                id: new_id("usr"),
                email: invite.email.clone(),
            };
            stores::users::insert(&mut *transaction, &user.id, &user.email, &hash, now).await?;
            user
        }
    };
    match stores::accounts::insert_membership(
        &mut *transaction,
        &invite.account_id,
        &user.id,
        role,
        now,
    )
    .await
    {
        Err(error) if is_unique_violation(&error) => {
            return Err(ApiError::conflict(
                "You are already a member of this account.",
            ));
        }
        other => other?,
    }
    transaction.commit().await?;

    let account = stores::accounts::account(&state.pool, &invite.account_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    start_session(&user.id, &account.id).await?;
    Ok(SignedIn {
        user,
        account,
        role,
    })
}

/// Changes a member's role. The last Admin cannot be demoted.
#[server(prefix = "/api", endpoint = "v1/members/set-role", input = Json, output = Json)]
pub async fn set_member_role(
    #[server(flatten)] request: SetMemberRoleRequest,
) -> Result<OneMember, ApiError> {
    use crate::domain::{inputs::parse_id, Action};
    use crate::server::{principal::authorize, stores};

    let SetMemberRoleRequest { user_id, role } = request;
    let (state, caller) = authorize(Action::ManageMembers).await?;
    let user_id = parse_id("user_id", &user_id)?;
    let member =
        stores::accounts::set_role(&state.pool, caller.account_id(), &user_id, role).await?;
    Ok(OneMember { member })
}

/// Removes a member (an Admin removing anyone, or a member leaving). Their keys in this account
/// are revoked at once. The last Admin cannot be removed.
#[server(prefix = "/api", endpoint = "v1/members/remove", input = Json, output = Json)]
pub async fn remove_member(
    #[server(flatten)] request: RemoveMemberRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::{inputs::parse_id, Action};
    use crate::server::{ids::now_millis, principal::authorize, stores};

    let RemoveMemberRequest { user_id } = request;
    let (state, caller) = authorize(Action::Read).await?;
    let user_id = parse_id("user_id", &user_id)?;
    let leaving = caller.user.as_ref().is_some_and(|me| me.id == user_id);
    if !leaving {
        caller.authorize(Action::ManageMembers)?;
    }
    stores::accounts::remove(&state.pool, caller.account_id(), &user_id, now_millis()).await?;
    Ok(Empty {})
}
