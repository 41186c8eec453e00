use crate::domain::{
    requests::{CheckIdRequest, CreateCheckRequest, UpdateCheckRequest},
    views::{CheckList, Empty, OneCheck},
    ApiError,
};
use leptos::prelude::*;
use server_fn::codec::Json;

#[server(prefix = "/api", endpoint = "v1/checks/list", input = Json, output = Json)]
pub async fn list_checks() -> Result<CheckList, ApiError> {
    use crate::domain::Action;
    use crate::server::{principal::authorize, stores};

    let (state, caller) = authorize(Action::Read).await?;
    let checks = stores::checks::list(&state.pool, caller.account_id()).await?;
    Ok(CheckList { checks })
}

#[server(prefix = "/api", endpoint = "v1/checks/get", input = Json, output = Json)]
pub async fn get_check(#[server(flatten)] request: CheckIdRequest) -> Result<OneCheck, ApiError> {
    use crate::domain::{ids::*, Action};
    use crate::server::{principal::authorize, stores};

    let CheckIdRequest { check_id } = request;
    let (state, caller) = authorize(Action::Read).await?;
    let check_id = CheckId::parse("check_id", &check_id)?;
    let check = stores::checks::get(&state.pool, caller.account_id(), &check_id)
        .await?
        .ok_or_else(|| ApiError::not_found("check"))?;
    Ok(OneCheck { check })
}

#[server(prefix = "/api", endpoint = "v1/checks/create", input = Json, output = Json)]
pub async fn create_check(
    #[server(flatten)] request: CreateCheckRequest,
) -> Result<OneCheck, ApiError> {
    use crate::domain::ids::CheckId;
    use crate::domain::Action;
    use crate::server::{boundary::respond_created, ids::*, principal::authorize, stores};

    let (state, caller) = authorize(Action::WriteChecks).await?;
    let fields = validate(
        &request.name,
        &request.kind,
        &request.url,
        request.frequency_minutes,
        request.activated,
    )?;
    let check_id = CheckId::generate();
    stores::checks::insert(
        &state.pool,
        caller.account_id(),
        &check_id,
        &fields,
        now_millis(),
    )
    .await?;
    let check = stores::checks::get(&state.pool, caller.account_id(), &check_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    respond_created();
    Ok(OneCheck { check })
}

/// Changes the given fields of a check; fields left out keep their value.
#[server(prefix = "/api", endpoint = "v1/checks/update", input = Json, output = Json)]
pub async fn update_check(
    #[server(flatten)] request: UpdateCheckRequest,
) -> Result<OneCheck, ApiError> {
    use crate::domain::{ids::*, Action};
    use crate::server::{ids::now_millis, principal::authorize, stores};

    let UpdateCheckRequest {
        check_id,
        name,
        kind,
        url,
        frequency_minutes,
        activated,
    } = request;
    let (state, caller) = authorize(Action::WriteChecks).await?;
    let check_id = CheckId::parse("check_id", &check_id)?;
    let current = stores::checks::get(&state.pool, caller.account_id(), &check_id)
        .await?
        .ok_or_else(|| ApiError::not_found("check"))?;
    let fields = validate(
        name.as_deref().unwrap_or(&current.name),
        kind.as_deref().unwrap_or(current.kind.as_str()),
        url.as_deref().unwrap_or(&current.url),
        frequency_minutes.unwrap_or(i64::from(current.frequency_minutes)),
        activated.unwrap_or(current.activated),
    )?;
    if !stores::checks::update(
        &state.pool,
        caller.account_id(),
        &check_id,
        &fields,
        now_millis(),
    )
    .await?
    {
        return Err(ApiError::not_found("check"));
    }
    let check = stores::checks::get(&state.pool, caller.account_id(), &check_id)
        .await?
        .ok_or_else(|| ApiError::not_found("check"))?;
    Ok(OneCheck { check })
}

#[server(prefix = "/api", endpoint = "v1/checks/delete", input = Json, output = Json)]
pub async fn delete_check(#[server(flatten)] request: CheckIdRequest) -> Result<Empty, ApiError> {
    use crate::domain::{ids::*, Action};
    use crate::server::{principal::authorize, stores};

    let CheckIdRequest { check_id } = request;
    let (state, caller) = authorize(Action::WriteChecks).await?;
    let check_id = CheckId::parse("check_id", &check_id)?;
    if !stores::checks::delete(&state.pool, caller.account_id(), &check_id).await? {
        return Err(ApiError::not_found("check"));
    }
    Ok(Empty {})
}

#[cfg(feature = "ssr")]
fn validate(
    name: &str,
    kind: &str,
    url: &str,
    frequency_minutes: i64,
    activated: bool,
) -> Result<crate::server::stores::checks::CheckFields, ApiError> {
    use crate::domain::inputs::{parse_check_kind, CheckName, CheckUrl, Frequency};
    Ok(crate::server::stores::checks::CheckFields {
        name: CheckName::parse(name)?.as_str().to_string(),
        kind: parse_check_kind(kind)?,
        url: CheckUrl::parse(url)?.as_str().to_string(),
        frequency_minutes: Frequency::parse(frequency_minutes)?.minutes(),
        activated,
    })
}
