use crate::domain::wire::Json;
use crate::domain::{
    audit::AuditList,
    requests::{AuditListRequest, FindKeyRequest},
    views::FoundKey,
    ApiError,
};
use leptos::prelude::*;

/// The account's audit trail, newest first, a page at a time (Admins only).
#[server(prefix = "/api", endpoint = "v1/audit/list", input = Json, output = Json)]
pub async fn list_audit_events(
    #[server(flatten)] request: AuditListRequest,
) -> Result<AuditList, ApiError> {
    use crate::domain::Permission;
    use crate::server::audit::query::AuditQuery;
    use crate::server::caller::authorize;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::AuditRead).await?;
    let query = AuditQuery::parse(&request)?;
    let (events, next) =
        stores::audit::page(&state.pool, caller.account_id(), &query.filter, query.limit).await?;
    Ok(AuditList {
        events,
        next_cursor: next.map(|seq| seq.to_string()),
    })
}

/// Which key of this account a secret is — for an Admin who found one where it should not
/// be. The secret is hashed in memory, compared, and forgotten.
#[server(prefix = "/api", endpoint = "v1/audit/find-key", input = Json, output = Json)]
pub async fn find_key(#[server(flatten)] request: FindKeyRequest) -> Result<FoundKey, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::keys::secret::KeySecret;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::AuditRead).await?;
    let text = request.secret.trim();
    let secret = KeySecret::parse(text).ok_or_else(|| {
        ApiError::invalid_input(
            "secret",
            "is not a keyward key (kw_… with a valid checksum, or a legacy key of 16 to 256 characters)",
        )
    })?;
    let hash = state.key_hasher.hash(&secret);
    let key = match stores::keys::verification::find_for_verification(&state.pool, &hash).await? {
        // Another account's key looks exactly like no key at all.
        Some(found) if &found.account_id == caller.account_id() => {
            stores::keys::read::get(&state.pool, caller.account_id(), &found.id, now_millis())
                .await?
        }
        _ => None,
    };
    Ok(FoundKey { key })
}
