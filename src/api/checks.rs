use crate::domain::wire::Json;
use crate::domain::{
    requests::{CheckIdRequest, CreateCheckRequest, ListChecksRequest, UpdateCheckRequest},
    views::{CheckList, Empty, OneCheck},
    ApiError,
};
use leptos::prelude::*;

/// The account's checks by name, a page at a time.
#[server(prefix = "/api", endpoint = "v1/checks/list", input = Json, output = Json)]
pub async fn list_checks(
    #[server(flatten)] request: ListChecksRequest,
) -> Result<CheckList, ApiError> {
    use crate::domain::{ids::CheckId, Permission};
    use crate::server::caller::authorize;
    use crate::server::{paging, stores};

    let (state, caller) = authorize(Permission::ChecksRead).await?;
    let search = paging::search_pattern(&request.search)?;
    let after: Option<(String, CheckId)> = paging::decode_cursor(&request.cursor, "checks/list")?;
    let limit = paging::page_size(request.limit)?;
    let (checks, next_cursor) = stores::checks::page(
        &state.pool,
        caller.account_id(),
        caller.check_scope(),
        search.as_deref(),
        after.as_ref(),
        limit,
    )
    .await?;
    Ok(CheckList {
        checks,
        next_cursor,
    })
}

#[server(prefix = "/api", endpoint = "v1/checks/get", input = Json, output = Json)]
pub async fn get_check(#[server(flatten)] request: CheckIdRequest) -> Result<OneCheck, ApiError> {
    use crate::domain::{ids::*, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores;

    let CheckIdRequest { check_id } = request;
    let (state, caller) = authorize(Permission::ChecksRead).await?;
    let check_id = CheckId::parse("check_id", &check_id)?;
    if !caller.sees_check(&check_id) {
        return Err(ApiError::not_found("check"));
    }
    let check = stores::checks::get(&state.pool, caller.account_id(), &check_id)
        .await?
        .ok_or_else(|| ApiError::not_found("check"))?;
    Ok(OneCheck { check })
}

#[server(prefix = "/api", endpoint = "v1/checks/create", input = Json, output = Json)]
pub async fn create_check(
    #[server(flatten)] request: CreateCheckRequest,
) -> Result<OneCheck, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::CheckId, ErrorCode, Permission};
    use crate::server::caller::authorize;
    use crate::server::respond::respond_created;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::ChecksWrite).await?;
    if caller.check_scope().is_some() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "This key may touch only the checks it was granted, so it cannot create new ones.",
        ));
    }
    state
        .config
        .ceilings
        .room_for_check(&state.pool, caller.account_id())
        .await?;
    let fields = stores::checks::CheckFields::parse(request)?;
    let check = stores::checks::insert(
        &state.pool,
        caller.account_id(),
        &CheckId::generate(),
        &fields,
        now_millis(),
        caller.audit(&state, AuditAction::CheckCreated),
    )
    .await?;
    respond_created();
    Ok(OneCheck { check })
}

/// Changes the given fields of a check; fields left out keep their value.
#[server(prefix = "/api", endpoint = "v1/checks/update", input = Json, output = Json)]
pub async fn update_check(
    #[server(flatten)] request: UpdateCheckRequest,
) -> Result<OneCheck, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::CheckId, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::ChecksWrite).await?;
    let check_id = CheckId::parse("check_id", &request.check_id)?;
    if !caller.sees_check(&check_id) {
        return Err(ApiError::not_found("check"));
    }
    let changes = stores::checks::CheckChanges::parse(request)?;
    let check = stores::checks::update(
        &state.pool,
        caller.account_id(),
        &check_id,
        &changes,
        now_millis(),
        caller.audit(&state, AuditAction::CheckUpdated),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("check"))?;
    Ok(OneCheck { check })
}

#[server(prefix = "/api", endpoint = "v1/checks/delete", input = Json, output = Json)]
pub async fn delete_check(#[server(flatten)] request: CheckIdRequest) -> Result<Empty, ApiError> {
    use crate::domain::{audit::AuditAction, ids::*, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores;

    let CheckIdRequest { check_id } = request;
    let (state, caller) = authorize(Permission::ChecksWrite).await?;
    let check_id = CheckId::parse("check_id", &check_id)?;
    if !caller.sees_check(&check_id) {
        return Err(ApiError::not_found("check"));
    }
    let event = caller.audit(&state, AuditAction::CheckDeleted);
    if !stores::checks::delete(&state.pool, caller.account_id(), &check_id, event).await? {
        return Err(ApiError::not_found("check"));
    }
    Ok(Empty {})
}
