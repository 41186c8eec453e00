use crate::domain::{
    requests::{LoginRequest, SignupRequest, SwitchAccountRequest},
    views::{Empty, Me, SignedIn, SwitchedAccount},
    ApiError,
};
use leptos::prelude::*;
use server_fn::codec::Json;

#[cfg(feature = "ssr")]
mod session_support {
    use crate::domain::ApiError;
    use crate::server::{
        principal::session,
        sessions::{SessionUser, SESSION_USER},
    };

    /// Signs the browser in. The session id is renewed so that an id planted before sign-in
    /// (session fixation) is worthless afterwards.
    pub async fn start_session(user_id: &str, account_id: &str) -> Result<(), ApiError> {
        let session = session().await?;
        session.cycle_id().await?;
        let user = SessionUser {
            user_id: user_id.to_string(),
            account_id: account_id.to_string(),
        };
        session.insert(SESSION_USER, user).await?;
        Ok(())
    }
}
#[cfg(feature = "ssr")]
pub(crate) use session_support::start_session;

/// Creates a user and a new account in which they are Admin, and signs them in.
#[server(prefix = "/api", endpoint = "v1/auth/signup", input = Json, output = Json)]
pub async fn signup(#[server(flatten)] request: SignupRequest) -> Result<SignedIn, ApiError> {
    use crate::domain::{
        inputs::{AccountName, Email, NewPassword},
        views::Account,
        Role,
    };
    use crate::server::{
        boundary::respond_created, error::is_unique_violation, principal::app_state, stores,
    };

    let SignupRequest {
        email,
        password,
        account_name,
    } = request;
    let state = app_state()?;
    let email = Email::parse(&email)?;
    let password = NewPassword::parse(&password)?;
    let account_name = AccountName::parse(&account_name)?;
    let password_hash = state.passwords.hash(password.expose()).await?;
    let (user_id, account_id) = match stores::accounts::create_with_admin(
        &state.pool,
        email.as_str(),
        &password_hash,
        account_name.as_str(),
    )
    .await
    {
        Err(error) if is_unique_violation(&error) => {
            return Err(ApiError::conflict(
                "email: an account with this email already exists. Sign in instead.",
            ));
        }
        other => other?,
    };

    start_session(&user_id, &account_id).await?;
    respond_created();
    Ok(SignedIn {
        user: crate::domain::views::User {
            id: user_id,
            email: email.as_str().to_string(),
        },
        account: Account {
            id: account_id,
            name: account_name.as_str().to_string(),
        },
        role: Role::Admin,
    })
}

/// Signs in with email and password. Unknown email and wrong password give the same answer in
/// the same time; attempts are throttled per email and per client address.
#[server(prefix = "/api", endpoint = "v1/auth/login", input = Json, output = Json)]
pub async fn login(#[server(flatten)] request: LoginRequest) -> Result<SignedIn, ApiError> {
    use crate::domain::{inputs::Email, ErrorCode};
    use crate::server::{
        boundary::respond_retry_after,
        principal::{app_state, client_address},
        stores,
    };

    let LoginRequest { email, password } = request;
    let state = app_state()?;
    let email = Email::parse(&email)?;
    if password.is_empty() || password.chars().count() > 128 {
        return Err(ApiError::invalid_input(
            "password",
            "must be 1 to 128 characters",
        ));
    }
    let address = client_address().await;
    if let Err(wait) = state
        .login_throttle
        .attempt(email.as_str(), address.as_deref())
    {
        respond_retry_after(wait);
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "Too many sign-in attempts. Wait a moment and try again.",
        ));
    }
    let user = stores::users::find_by_email(&state.pool, email.as_str()).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.as_str());
    let password_matches = state.passwords.verify(&password, stored_hash).await?;
    let Some(user) = user.filter(|_| password_matches) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "Wrong email or password.",
        ));
    };
    let membership = stores::accounts::memberships_of(&state.pool, &user.id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::new(ErrorCode::Forbidden, "You are not a member of any account.")
        })?;
    start_session(&user.id, &membership.account.id).await?;
    Ok(SignedIn {
        user: user.view(),
        account: membership.account,
        role: membership.role,
    })
}

/// Ends the browser session.
#[server(prefix = "/api", endpoint = "v1/auth/logout", input = Json, output = Json)]
pub async fn logout() -> Result<Empty, ApiError> {
    use crate::domain::{views::Via, Action, ErrorCode};
    use crate::server::principal::{authorize, session};

    let (_, caller) = authorize(Action::Read).await?;
    if caller.via != Via::Session {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Keys have no session to end. Revoke the key instead.",
        ));
    }
    session().await?.flush().await?;
    Ok(Empty {})
}

/// Describes the caller: who, in which account, with which role, and how they authenticated.
#[server(prefix = "/api", endpoint = "v1/auth/me", input = Json, output = Json)]
pub async fn whoami() -> Result<Me, ApiError> {
    use crate::domain::{views::Via, Action};
    use crate::server::{principal::authorize, stores};

    let (state, caller) = authorize(Action::Read).await?;
    let accounts = match (&caller.user, caller.via) {
        (Some(user), Via::Session) => {
            stores::accounts::memberships_of(&state.pool, &user.id).await?
        }
        _ => Vec::new(),
    };
    Ok(Me {
        user: caller.user,
        account: caller.account,
        role: caller.role,
        via: caller.via,
        key_id: caller.key_id,
        accounts,
    })
}

/// Makes another of the signed-in person's accounts the current one.
#[server(prefix = "/api", endpoint = "v1/auth/switch-account", input = Json, output = Json)]
pub async fn switch_account(
    #[server(flatten)] request: SwitchAccountRequest,
) -> Result<SwitchedAccount, ApiError> {
    use crate::domain::{inputs::parse_id, views::Via, Action, ErrorCode};
    use crate::server::{
        principal::{authorize, session},
        sessions::{SessionUser, SESSION_USER},
        stores,
    };

    let SwitchAccountRequest { account_id } = request;
    let (state, caller) = authorize(Action::Read).await?;
    let account_id = parse_id("account_id", &account_id)?;
    if caller.via != Via::Session {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "A key acts in its own account only.",
        ));
    }
    let user = caller.person()?;
    let membership = stores::accounts::membership(&state.pool, &user.id, &account_id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    let moved = SessionUser {
        user_id: user.id.clone(),
        account_id: membership.account.id.clone(),
    };
    session().await?.insert(SESSION_USER, moved).await?;
    Ok(SwitchedAccount {
        account: membership.account,
        role: membership.role,
    })
}
