//! What a person the identity provider vouches for becomes in keyward.
//!
//! - A subject already linked is that login, whatever email it has at the provider now.
//! - Otherwise it is linked, once, to the login with the same email — only when the provider
//!   says the email is verified: an unverified email is a claim anyone can make at many
//!   providers, and linking it would hand them someone else's login.
//! - Nobody else gets in: single sign-on makes no logins (an invite or SCIM does).
//!
//! The session lands in the first account that admits a single sign-on (all do), and is marked
//! as having come through the provider, which accounts that require it need. The provider's
//! proof stands for the person's second factor in keyward: it is where the company's own
//! sign-in rules (and its second factor) apply.

use crate::domain::time::now_millis;
use crate::domain::{audit::AuditAction, views::SignedIn, ApiError, ErrorCode};
use crate::server::audit::{Actor, Event, Origin, Target};
use crate::server::signin::sessions;
use crate::server::sso::oidc::{role_from_claim, Identity};
use crate::server::stores::accounts::MembershipChangeError;
use crate::server::{stores, AppState};
use serde_json::json;
use tower_sessions::Session;

/// Why a vouched-for person was not signed in, as the login page explains it.
#[derive(Debug)]
pub enum Refusal {
    /// No linked login, and the provider did not say the email is verified.
    UnverifiedEmail,
    /// No login with this email: an Admin must invite (or SCIM provision) them first.
    NoLogin,
    /// A login, but not in any account (removed everywhere, or suspended).
    NoAccount,
    Error(ApiError),
}

impl Refusal {
    /// The code the login page is sent with (`/login?sso_error=…`).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnverifiedEmail => "unverified_email",
            Refusal::NoLogin => "no_login",
            Refusal::NoAccount => "no_account",
            Refusal::Error(_) => "error",
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal::Error(error)
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(error: sqlx::Error) -> Self {
        Refusal::Error(error.into())
    }
}

/// Signs in the person `identity` names, in `session`: the login it is (linking it on the way
/// when the email is verified), roles from the provider's claim where accounts require single
/// sign-on, the `session.signed_in` event and the session.
pub async fn sign_in(
    state: &AppState,
    session: &Session,
    origin: Origin,
    identity: &Identity,
) -> Result<SignedIn, Refusal> {
    let now = now_millis();
    let linked =
        stores::sso_identities::linked_user(&state.pool, &identity.issuer, &identity.subject)
            .await?;
    let user = match linked {
        Some(user) => user,
        None => {
            let Some(email) = identity
                .email
                .as_deref()
                .filter(|_| identity.email_verified)
            else {
                tracing::info!(issuer = %identity.issuer, "single sign-on refused: the provider did not verify the email");
                return Err(Refusal::UnverifiedEmail);
            };
            let email = email.trim().to_lowercase();
            let Some(user) = stores::users::find_by_email(&state.pool, &email).await? else {
                tracing::info!(issuer = %identity.issuer, "single sign-on refused: no login has this email");
                return Err(Refusal::NoLogin);
            };
            let membership = match crate::server::caller::first_membership(state, &user.id, true)
                .await
            {
                Ok(membership) => membership,
                Err(error) if error.code == ErrorCode::Forbidden => return Err(Refusal::NoAccount),
                Err(error) => return Err(error.into()),
            };
            let event = Event::new(
                &state.key_hasher,
                &membership.account.id,
                AuditAction::SsoLinked,
                Actor::person(&user.view()),
                origin.clone(),
            )
            .target(Target::user(&user.id, &user.email))
            .details(json!({"issuer": identity.issuer}));
            stores::sso_identities::link(
                &state.pool,
                &identity.issuer,
                &identity.subject,
                &user.id,
                now,
                event,
            )
            .await?;
            user
        }
    };
    let person = user.view();
    set_roles_from_claim(state, &person, identity, origin.clone()).await?;
    let membership = match crate::server::caller::first_membership(state, &user.id, true).await {
        Ok(membership) => membership,
        Err(error) if error.code == ErrorCode::Forbidden => return Err(Refusal::NoAccount),
        Err(error) => return Err(error.into()),
    };
    let details = json!({"method": "sso", "issuer": identity.issuer});
    sessions::record_sign_in(state, &person, &membership, Some(details), origin).await?;
    sessions::start_in(session, &person.id, &membership.account.id, now, true).await?;
    Ok(SignedIn {
        user: person,
        account: membership.account,
        role: membership.role,
    })
}

/// Where the provider's role claim is configured, sets the person's role from it in every
/// account of theirs that requires single sign-on (those accounts made the provider the judge
/// of who may do what), with a `member.role_changed` event by the provider. A claim without a
/// configured value changes nothing; a change that would leave an account without an Admin is
/// not made (and logged).
async fn set_roles_from_claim(
    state: &AppState,
    person: &crate::domain::views::User,
    identity: &Identity,
    origin: Origin,
) -> Result<(), Refusal> {
    let Some(oidc) = &state.oidc else {
        return Ok(());
    };
    if oidc.settings().role_claim.is_none() {
        return Ok(());
    }
    let Some(role) = role_from_claim(&identity.role_claim_values, &oidc.settings().role_values)
    else {
        return Ok(());
    };
    for membership in stores::accounts::memberships_of(&state.pool, &person.id).await? {
        if membership.role == role {
            continue;
        }
        let policy = stores::accounts::key_policy(&state.pool, &membership.account.id).await?;
        if !policy.require_sso {
            continue;
        }
        let event = Event::new(
            &state.key_hasher,
            &membership.account.id,
            AuditAction::MemberRoleChanged,
            Actor::sso(),
            origin.clone(),
        );
        match stores::accounts::set_role(
            &state.pool,
            &membership.account.id,
            &person.id,
            role,
            event,
        )
        .await
        {
            Ok(_) => crate::server::keys::changes::note_change(&membership.account.id),
            Err(MembershipChangeError::LastAdmin) => tracing::warn!(
                account_id = %membership.account.id,
                "the identity provider's role claim would leave the account without an Admin; the role was kept"
            ),
            Err(MembershipChangeError::NoSuchMember) => {}
            Err(MembershipChangeError::Database(error)) => return Err(error.into()),
        }
    }
    Ok(())
}
