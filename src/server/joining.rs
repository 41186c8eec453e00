//! Accepting an invite, step by step: is the invite still usable, who joins and how they
//! prove it, and what a refused join tells the caller. `api::invites::accept_invite` runs these
//! in order around the one transaction in `stores::invites::accept`.

use crate::domain::time::Millis;
use crate::domain::{ids::UserId, inputs::NewPassword, views::User, ApiError, ErrorCode};
use crate::server::caller::signed_in_session;
use crate::server::stores::invites::{Accepted, InviteByToken, Joiner};
use crate::server::{signin, stores, AppState};

/// The invite behind `token`, if it can still be accepted: not withdrawn, used or expired, and
/// whoever sent it could still invite.
pub async fn usable_invite(
    state: &AppState,
    token: &str,
    now: Millis,
) -> Result<InviteByToken, ApiError> {
    if token.is_empty() || token.len() > 128 {
        return Err(ApiError::invalid_input(
            "token",
            "is not a valid invite token",
        ));
    }
    let mut invite = stores::invites::find_by_token_hash(
        &state.pool,
        &invite_token_hash(&state.key_hasher, token),
        now,
    )
    .await?;
    if invite.is_none() {
        // Invites made before token hashes had a purpose of their own: they expire within
        // seven days of the upgrade, and this lookup can go with them.
        invite = stores::invites::find_by_token_hash(
            &state.pool,
            &state.key_hasher.hash_text(token),
            now,
        )
        .await?;
    }
    let invite = invite
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
    Ok(invite)
}

/// The person who joins, proven, and — for a new login — their password's hash.
pub struct Joining {
    pub user: User,
    password_hash: Option<String>,
}

impl Joining {
    pub fn joiner(&self) -> Joiner<'_> {
        match &self.password_hash {
            None => Joiner::Existing {
                user_id: &self.user.id,
            },
            Some(hash) => Joiner::New {
                user_id: &self.user.id,
                email: &self.user.email,
                password_hash: hash,
            },
        }
    }
}

/// Who accepts an invite for `email`: the person signed in as that email in this browser; else
/// an existing login proving its password (throttled like a sign-in); else a new login with a
/// new password (counted against the sign-up quota). Passwords are checked and hashed here,
/// before the transaction, which then holds no lock across argon2. Only a browser session
/// counts as "signed in": a request with a key is anonymous here.
pub async fn who_joins(
    state: &AppState,
    email: &str,
    password: Option<String>,
) -> Result<Joining, ApiError> {
    let existing = stores::users::find_by_email(&state.pool, email).await?;
    let signed_in_as = signed_in_session(state)
        .await?
        .map(|(_, signed_in, _)| signed_in.user_id);
    match &existing {
        Some(user) if signed_in_as.as_ref() == Some(&user.id) => Ok(Joining {
            user: user.view(),
            password_hash: None,
        }),
        Some(user) => {
            let password = password.ok_or_else(|| {
                ApiError::invalid_input(
                    "password",
                    "is required: enter the password of your keyward login",
                )
            })?;
            signin::login_checks::prove_password(state, &user.email, &password, Some(user)).await?;
            // A password alone does not sign this person in: they join from a session that
            // passed their second factor.
            if stores::second_factors::has_factor(&state.pool, &user.id).await? {
                return Err(ApiError::new(
                    ErrorCode::Unauthenticated,
                    "Your login has two-step sign-in: sign in with your code first, then open the invite link again.",
                ));
            }
            Ok(Joining {
                user: user.view(),
                password_hash: None,
            })
        }
        None => {
            let password = password.ok_or_else(|| {
                ApiError::invalid_input("password", "is required to create your login")
            })?;
            let password = NewPassword::parse(&password)?;
            signin::login_checks::new_login_allowed(state).await?;
            let hash = state.passwords.hash(password.expose()).await?;
            Ok(Joining {
                user: User {
                    id: UserId::generate(),
                    email: email.to_string(),
                },
                password_hash: Some(hash),
            })
        }
    }
}

/// What the caller hears when the join did not happen.
pub fn refuse_unless_joined(outcome: Accepted) -> Result<(), ApiError> {
    match outcome {
        Accepted::Joined => Ok(()),
        Accepted::AlreadyUsed => Err(ApiError::conflict("This invite has already been used.")),
        Accepted::AlreadyMember => Err(ApiError::conflict(
            "You are already a member of this account.",
        )),
        Accepted::EmailTaken => Err(ApiError::conflict(
            "A login with this email was just created. Sign in, then open the link again.",
        )),
    }
}

/// The stored form of an invite token: a keyed hash under the pepper, separated by its purpose
/// from key hashes (which are the pepper's unprefixed use, kept so for every key already out
/// there), session ids and the audit chain.
pub fn invite_token_hash(hasher: &crate::server::keys::secret::KeyHasher, token: &str) -> String {
    crate::server::keys::secret::to_hex(&hasher.hash_bytes(b"invite", token.as_bytes()))
}
