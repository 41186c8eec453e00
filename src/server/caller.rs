//! Who is calling: every server function starts by resolving the request into a [`Principal`]
//! and asking the policy whether it may act. There is no other way in: a bearer key is checked
//! by `keys::check`, a browser session here.

use crate::domain::time::now_millis;
use crate::domain::{views::Via, ApiError, ErrorCode, Permission};
use crate::server::limits::throttle::AddressGroup;
use crate::server::signin::sessions;
use crate::server::signin::sessions::SessionUser;
use crate::server::{stores, AppState};
use tower_sessions::Session;

use crate::server::keys::check::from_key;
use crate::server::principal::Principal;
use crate::server::request::{app_state, is_bearer_request, session, RequestHead};
use crate::server::respond::AnswerHeaders;

/// Resolves the caller and checks that they may use `permission` (the one the operation's row
/// in `host::openapi::OPERATIONS` names): the first line of every server function that needs a
/// caller.
pub async fn authorize(permission: Permission) -> Result<(AppState, Principal), ApiError> {
    let state = app_state()?;
    let principal = resolve(&state).await?;
    principal.authorize(permission)?;
    Ok((state, principal))
}

/// [`authorize`], and for a browser session a proof of its person from the last
/// `KEYWARD_STEP_UP_SECONDS` (`signin::step_up`): for the actions a stolen session would use to
/// dig in — making keys, changing members, roles, the policy or where the trail goes.
pub async fn authorize_with_recent_proof(
    permission: Permission,
) -> Result<(AppState, Principal), ApiError> {
    let (state, principal) = authorize(permission).await?;
    crate::server::signin::step_up::require_recent_proof(&state, &principal)?;
    Ok((state, principal))
}

/// Resolves the caller without asking the policy yet: for operations on one object, whose
/// policy check needs the object (`Principal::authorize_key`), made by the use case.
pub async fn resolve_caller() -> Result<(AppState, Principal), ApiError> {
    let state = app_state()?;
    let principal = resolve(&state).await?;
    Ok((state, principal))
}

/// The account a person signs in to (or carries on in, when removed from the current one): the
/// first of their memberships that admits how they signed in (`via_sso`: through the identity
/// provider; an account that requires single sign-on admits nothing else). 403 when they belong
/// to none, `sso_required` when only such accounts would have them.
pub async fn first_membership(
    state: &AppState,
    user_id: &crate::domain::ids::UserId,
    via_sso: bool,
) -> Result<stores::accounts::Membership, ApiError> {
    let memberships = stores::accounts::memberships_of(&state.pool, user_id).await?;
    if memberships.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "You are not a member of any account.",
        ));
    }
    memberships
        .into_iter()
        .find(|membership| membership.admits(via_sso))
        .ok_or_else(sso_required)
}

/// The refusal of a sign-in, or a session, that did not come through the identity provider, in
/// an account that requires it.
pub fn sso_required() -> ApiError {
    ApiError::new(
        ErrorCode::SsoRequired,
        "Your account requires single sign-on: sign in with SSO, through your identity provider.",
    )
}

/// Resolves the caller of the current server function: from a bearer key if the request has an
/// `Authorization` header, else from the session cookie ([`resolve_head`]), and puts the key's
/// headers (rate limit, expiry, `Retry-After`) on its answer.
pub async fn resolve(state: &AppState) -> Result<Principal, ApiError> {
    let head = RequestHead::current(state)?;
    let mut headers = AnswerHeaders::default();
    let principal = resolve_head(state, &head, &mut headers).await;
    headers.respond();
    principal
}

/// Resolves the caller of a request from its head: the one way in, for the server functions and
/// the export route alike. What the answer should carry about the key goes into `headers`.
pub async fn resolve_head(
    state: &AppState,
    head: &RequestHead,
    headers: &mut AnswerHeaders,
) -> Result<Principal, ApiError> {
    let principal = match &head.bearer {
        Some(token) => from_bearer(state, token, head, headers).await?,
        None => from_session(state, head).await?,
    };
    if let Some(named) = &head.named_account {
        if named.as_bytes() != principal.account.id.as_str().as_bytes() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "This credential acts in one account only; X-Account-Id names another.",
            ));
        }
    }
    Ok(principal)
}

/// A bearer attempt. A `kw_` key is verified whatever else came from its address: its 190
/// random bits cannot be guessed online, and a client sharing a NAT with someone sending junk
/// must not be locked out. Any other token is tried as a legacy key — short secrets that can be
/// guessed — so those attempts are charged per address group before the lookup and given back
/// when the key is good: guessing is refused with 429 long before it could succeed.
async fn from_bearer(
    state: &AppState,
    token: &str,
    head: &RequestHead,
    headers: &mut AnswerHeaders,
) -> Result<Principal, ApiError> {
    let gate = &state.throttles.bearer_attempts;
    let group = head
        .address
        .filter(|_| !token.starts_with(crate::server::keys::secret::USER_KEY_PREFIX))
        .map(AddressGroup::of);
    let Some(group) = group else {
        return from_key(state, token, head, headers).await;
    };
    let Ok(admitted) = gate
        .admit(&group)
        .await
        .map_err(|wait| headers.retry_after(wait))
    else {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "Too many failed key attempts from this address. Wait a moment and try again.",
        ));
    };
    let result = from_key(state, token, head, headers).await;
    if !matches!(&result, Err(error) if error.code == ErrorCode::Unauthenticated) {
        gate.give_back(&group, admitted).await;
    }
    result
}

/// The signed-in person of this request's session, whatever their memberships; `None` for a
/// bearer request, an anonymous session, or a session that is over (too old, or started before
/// the person's last password change), which is signed out on the way.
pub async fn signed_in_session(
    state: &AppState,
) -> Result<Option<(Session, SessionUser, stores::users::UserWithPassword)>, ApiError> {
    if is_bearer_request() {
        return Ok(None);
    }
    session_user(state, session().await?).await
}

/// Who is signed in to `session`, if anyone still is (see [`signed_in_session`]).
async fn session_user(
    state: &AppState,
    session: Session,
) -> Result<Option<(Session, SessionUser, stores::users::UserWithPassword)>, ApiError> {
    let Some(signed_in) = session.get::<SessionUser>(sessions::SESSION_USER).await? else {
        return Ok(None);
    };
    let user = stores::users::find(&state.pool, &signed_in.user_id).await?;
    match user {
        Some(user) if signed_in.is_current(now_millis(), user.sessions_valid_after) => {
            Ok(Some((session, signed_in, user)))
        }
        _ => {
            // Forget who was signed in. Not `flush()`: a server-rendered page resolves the
            // caller from several resources at once, and concurrent flushes of one session can
            // leave it non-empty without an id, which tower-sessions answers with a 500.
            // Removing the entry is idempotent, and the session is refused either way.
            session.remove_value(sessions::SESSION_USER).await?;
            Ok(None)
        }
    }
}

async fn from_session(state: &AppState, head: &RequestHead) -> Result<Principal, ApiError> {
    let session = head.session.clone().ok_or_else(|| {
        tracing::error!("no session layer");
        ApiError::internal()
    })?;
    let (session, signed_in, user) = session_user(state, session)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let current = stores::accounts::membership(&state.pool, &signed_in.account_id, &user.id)
        .await?
        .filter(|membership| membership.admits(signed_in.via_sso));
    let membership = match current {
        Some(membership) => membership,
        // Removed or suspended from the current account, or it now requires single sign-on
        // and this session did not come through it: carry on in another one, if any.
        None => {
            let first = first_membership(state, &user.id, signed_in.via_sso).await?;
            sessions::move_to_account(&session, &first.account.id).await?;
            first
        }
    };
    Ok(Principal {
        user: Some(user.view()),
        service_account: None,
        account: membership.account,
        role: membership.role,
        via: Via::Session,
        key: None,
        membership_id: Some(membership.id),
        must_set_up_second_factor: membership.must_set_up_second_factor,
        proved_at: Some(signed_in.proved_at),
    })
}
