use crate::domain::{
    requests::{AcceptInviteRequest, WithdrawInviteRequest},
    views::{Empty, InviteList, SignedIn},
    ApiError,
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// The invites of the account that can still be accepted (Admins only).
#[server(prefix = "/api", endpoint = "v1/invites/list", input = Json, output = Json)]
pub async fn list_invites() -> Result<InviteList, ApiError> {
    use crate::domain::Action;
    use crate::server::{clock::now_millis, principal::authorize, stores};

    let (state, caller) = authorize(Action::ManageMembers).await?;
    let invites = stores::invites::pending(&state.pool, caller.account_id(), now_millis()).await?;
    Ok(InviteList { invites })
}

/// Withdraws a pending invite: its link answers 404 from then on.
#[server(prefix = "/api", endpoint = "v1/invites/withdraw", input = Json, output = Json)]
pub async fn withdraw_invite(
    #[server(flatten)] request: WithdrawInviteRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::{ids::*, Action};
    use crate::server::{clock::now_millis, principal::authorize, stores};

    let WithdrawInviteRequest { invite_id } = request;
    let (state, caller) = authorize(Action::ManageMembers).await?;
    let invite_id = InviteId::parse("invite_id", &invite_id)?;
    if !stores::invites::withdraw(&state.pool, caller.account_id(), &invite_id, now_millis())
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
    use crate::domain::{ids::UserId, inputs::NewPassword, views::User, ErrorCode};
    use crate::server::{
        clock::now_millis,
        guards,
        principal::{app_state, signed_in_session},
        sessions,
        stores::{
            self,
            invites::{Accepted, Joiner},
        },
    };

    let AcceptInviteRequest { token, password } = request;
    let state = app_state()?;
    if token.is_empty() || token.len() > 128 {
        return Err(ApiError::invalid_input(
            "token",
            "is not a valid invite token",
        ));
    }
    let now = now_millis();
    let invite =
        stores::invites::find_by_token_hash(&state.pool, &state.key_hasher.hash_text(&token), now)
            .await?
            .filter(|invite| invite.withdrawn_at.is_none())
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "This invite link is not valid."))?;
    if invite.accepted_at.is_some() {
        return Err(ApiError::conflict("This invite has already been used."));
    }
    if invite.expires_at <= now {
        return Err(ApiError::conflict(
            "This invite has expired. Ask an Admin for a new one.",
        ));
    }
    if !invite.inviter_still_allowed() {
        return Err(ApiError::conflict(
            "Whoever sent this invite can no longer invite members. Ask an Admin for a new one.",
        ));
    }
    let role = invite.role;
    let existing = stores::users::find_by_email(&state.pool, &invite.email).await?;
    // Only a browser session counts as "signed in": a request with a key is anonymous here.
    let signed_in_as = signed_in_session(&state)
        .await?
        .map(|(_, signed_in, _)| signed_in.user_id);

    // Passwords are checked and hashed before the transaction, which then holds no lock
    // across argon2.
    let (user, new_login) = match &existing {
        Some(user) if signed_in_as.as_ref() == Some(&user.id) => (user.view(), None),
        Some(user) => {
            let password = password.ok_or_else(|| {
                ApiError::invalid_input(
                    "password",
                    "is required: enter the password of your keyward login",
                )
            })?;
            guards::prove_password(&state, &user.email, &password, Some(user)).await?;
            (user.view(), None)
        }
        None => {
            let password = password.ok_or_else(|| {
                ApiError::invalid_input("password", "is required to create your login")
            })?;
            let password = NewPassword::parse(&password)?;
            guards::new_login_allowed(&state).await?;
            let hash = state.passwords.hash(password.expose()).await?;
            let user = User {
                id: UserId::generate(),
                email: invite.email.clone(),
            };
            (user, Some(hash))
        }
    };
    let joiner = match &new_login {
        None => Joiner::Existing { user_id: &user.id },
        Some(hash) => Joiner::New {
            user_id: &user.id,
            email: &user.email,
            password_hash: hash,
        },
    };
    match stores::invites::accept(&state.pool, &invite, role, joiner, now).await? {
        Accepted::Joined => {}
        Accepted::AlreadyUsed => {
            return Err(ApiError::conflict("This invite has already been used."))
        }
        Accepted::AlreadyMember => {
            return Err(ApiError::conflict(
                "You are already a member of this account.",
            ))
        }
        Accepted::EmailTaken => {
            return Err(ApiError::conflict(
                "A login with this email was just created. Sign in, then open the link again.",
            ))
        }
    }
    let account = stores::accounts::account(&state.pool, &invite.account_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    sessions::start(&user.id, &account.id, now).await?;
    Ok(SignedIn {
        user,
        account,
        role,
    })
}
