use crate::domain::wire::Json;
use crate::domain::{
    requests::{ChangePasswordRequest, LoginRequest, SignupRequest, SwitchAccountRequest},
    views::{Empty, LoginOutcome, Me, SignedIn, SwitchedAccount},
    ApiError,
};
use leptos::prelude::*;

/// Creates a user and a new account in which they are Admin, and signs them in.
#[server(prefix = "/api", endpoint = "v1/auth/signup", input = Json, output = Json)]
pub async fn signup(#[server(flatten)] request: SignupRequest) -> Result<SignedIn, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{
        audit::AuditAction,
        ids::{AccountId, UserId},
        inputs::{AccountName, Email, NewPassword},
        views::{Account, User},
        ErrorCode, Role,
    };
    use crate::server::audit::{Actor, Event, Origin};
    use crate::server::db::is_unique_violation;
    use crate::server::request::app_state;
    use crate::server::respond::respond_created;
    use crate::server::signin::sessions;
    use crate::server::{signin, stores};

    let SignupRequest {
        email,
        password,
        account_name,
    } = request;
    let state = app_state()?;
    if !state.config.signup_open {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Sign-up is closed on this keyward. Ask an Admin of your team for an invite.",
        ));
    }
    let email = Email::parse(&email)?;
    let password = NewPassword::parse(&password)?;
    let account_name = AccountName::parse(&account_name)?;
    signin::login_checks::new_login_allowed(&state).await?;
    let password_hash = state.passwords.hash(password.expose()).await?;
    let user = User {
        id: UserId::generate(),
        email: email.as_str().to_string(),
    };
    let account = Account {
        id: AccountId::generate(),
        name: account_name.as_str().to_string(),
    };
    let event = Event::new(
        &state.key_hasher,
        &account.id,
        AuditAction::AccountCreated,
        Actor::person(&user),
        Origin::of_request(&state),
    );
    let new_account = stores::accounts::NewAccount {
        user_id: &user.id,
        account_id: &account.id,
        email: &user.email,
        password_hash: &password_hash,
        account_name: &account.name,
    };
    match stores::accounts::create_with_admin(&state.pool, &new_account, event).await {
        Err(error) if is_unique_violation(&error) => {
            return Err(ApiError::conflict(
                "email: an account with this email already exists. Sign in instead.",
            ));
        }
        other => other?,
    };

    sessions::start(&user.id, &account.id, now_millis(), false).await?;
    respond_created();
    Ok(SignedIn {
        user,
        account,
        role: Role::Admin,
    })
}

/// Signs in with email and password. Unknown email and wrong password give the same answer in
/// the same time; failures are throttled (see `server::limits::throttle`). For a person with a
/// second factor the right password gives no session yet: the answer says a code must follow
/// (`auth/second-factor`), and the browser holds only a pending sign-in.
#[server(prefix = "/api", endpoint = "v1/auth/login", input = Json, output = Json)]
pub async fn login(#[server(flatten)] request: LoginRequest) -> Result<LoginOutcome, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{inputs::Email, ErrorCode};
    use crate::server::request::app_state;
    use crate::server::signin::sessions;
    use crate::server::{signin, stores};

    let LoginRequest { email, password } = request;
    let state = app_state()?;
    let email = Email::parse(&email)?;
    if password.is_empty() || password.chars().count() > 128 {
        return Err(ApiError::invalid_input(
            "password",
            "must be 1 to 128 characters",
        ));
    }
    let user = stores::users::find_by_email(&state.pool, email.as_str()).await?;
    let user =
        signin::login_checks::prove_password(&state, email.as_str(), &password, user.as_ref())
            .await
            .map_err(|error| match error.code {
                ErrorCode::Unauthenticated => {
                    ApiError::new(ErrorCode::Unauthenticated, "Wrong email or password.")
                }
                _ => error,
            })?;
    let membership = crate::server::caller::first_membership(&state, &user.id, false).await?;
    let methods = stores::second_factors::methods(&state.pool, &user.id).await?;
    if !methods.is_empty() {
        sessions::start_pending(&user.id, now_millis()).await?;
        return Ok(LoginOutcome::SecondFactorRequired(
            crate::domain::views::SecondFactorRequired {
                second_factor_required: true,
                methods: methods.into_iter().map(str::to_string).collect(),
            },
        ));
    }
    let signed_in = sessions::sign_in(&state, user.view(), membership, None, false).await?;
    Ok(LoginOutcome::SignedIn(signed_in))
}

/// Ends the browser session. Works for any signed-in session, even one whose person belongs
/// to no account any more.
#[server(prefix = "/api", endpoint = "v1/auth/logout", input = Json, output = Json)]
pub async fn logout() -> Result<Empty, ApiError> {
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::audit::{Actor, Event, Origin};
    use crate::server::caller::{resolve, signed_in_session};
    use crate::server::request::{app_state, is_bearer_request};
    use crate::server::stores;

    let state = app_state()?;
    if is_bearer_request() {
        // A key has no session to end: answer as the policy does for any key.
        resolve(&state).await?.authorize(Permission::LoginWrite)?;
    }
    let (session, signed_in, user) = signed_in_session(&state)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let event = Event::new(
        &state.key_hasher,
        &signed_in.account_id,
        AuditAction::SessionSignedOut,
        Actor::person(&user.view()),
        Origin::of_request(&state),
    );
    stores::audit::append_alone(&state.pool, &event).await?;
    session.flush().await?;
    Ok(Empty {})
}

/// Describes the caller: who, in which account, with which role, and how they authenticated.
#[server(prefix = "/api", endpoint = "v1/auth/me", input = Json, output = Json)]
pub async fn whoami() -> Result<Me, ApiError> {
    use crate::domain::{views::Via, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::AccountRead).await?;
    let accounts = match (&caller.user, caller.via) {
        (Some(user), Via::Session) => stores::accounts::memberships_of(&state.pool, &user.id)
            .await?
            .into_iter()
            .map(|membership| membership.view())
            .collect(),
        _ => Vec::new(),
    };
    let grant = caller.key.as_ref().map(|key| &key.grant);
    Ok(Me {
        key_id: caller.key_id().cloned(),
        permissions: grant.and_then(|grant| grant.permissions.clone()),
        check_ids: grant.and_then(|grant| grant.check_ids.clone()),
        user: caller.user,
        service_account: caller.service_account,
        account: caller.account,
        role: caller.role,
        via: caller.via,
        accounts,
        must_set_up_second_factor: caller.must_set_up_second_factor,
    })
}

/// Makes another of the signed-in person's accounts the current one.
#[server(prefix = "/api", endpoint = "v1/auth/switch-account", input = Json, output = Json)]
pub async fn switch_account(
    #[server(flatten)] request: SwitchAccountRequest,
) -> Result<SwitchedAccount, ApiError> {
    use crate::domain::{ids::*, Permission};
    use crate::server::caller::authorize;
    use crate::server::request::session;
    use crate::server::signin::sessions;
    use crate::server::stores;

    let SwitchAccountRequest { account_id } = request;
    let (state, caller) = authorize(Permission::LoginWrite).await?;
    let account_id = AccountId::parse("account_id", &account_id)?;
    let user = caller.person()?;
    let membership = stores::accounts::membership(&state.pool, &account_id, &user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    sessions::move_to_account(&session().await?, &membership.account.id).await?;
    Ok(SwitchedAccount {
        account: membership.account,
        role: membership.role,
    })
}

/// Changes the signed-in person's password. Every other session of theirs ends at once; this
/// one continues under a new id.
#[server(prefix = "/api", endpoint = "v1/auth/change-password", input = Json, output = Json)]
pub async fn change_password(
    #[server(flatten)] request: ChangePasswordRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, inputs::NewPassword, ErrorCode, Permission};
    use crate::server::audit::Target;
    use crate::server::caller::authorize;
    use crate::server::signin::sessions;
    use crate::server::{signin, stores};

    let ChangePasswordRequest {
        current_password,
        new_password,
    } = request;
    let (state, caller) = authorize(Permission::LoginWrite).await?;
    let new_password = NewPassword::parse_field("new_password", &new_password)?;
    let person = caller.person()?;
    let stored = stores::users::find(&state.pool, &person.id).await?;
    signin::login_checks::prove_password(&state, &person.email, &current_password, stored.as_ref())
        .await
        .map_err(|error| match error.code {
            ErrorCode::Unauthenticated => {
                ApiError::invalid_input("current_password", "is not your current password")
            }
            _ => error,
        })?;
    let hash = state.passwords.hash(new_password.expose()).await?;
    let now = now_millis();
    let event = caller
        .audit(&state, AuditAction::PasswordChanged)
        .target(Target::user(&person.id, &person.email));
    stores::users::change_password(&state.pool, &person.id, &hash, now, event).await?;
    // The session goes on as it came in: through the identity provider or not.
    let via_sso = sessions::came_through_sso().await?;
    sessions::start(&person.id, caller.account_id(), now, via_sso).await?;
    tracing::info!(user_id = %person.id, "changed a password; other sessions ended");
    Ok(Empty {})
}
