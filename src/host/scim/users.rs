//! `/scim/v2/Users`: the account's members as SCIM Users (RFC 7643 §4.1) — `id` is the
//! person's id, `userName` their login email, `active` false while they are suspended.
//!
//! Supported: create (`POST`), list and `filter=userName eq "…"` with `startIndex`/`count`,
//! read, replace (`PUT`), patch (`PATCH` of `active`, `displayName`, `externalId`), delete.
//! Attributes keyward does not keep (names, phone numbers, groups…) are accepted and ignored,
//! as RFC 7644 §3.3 allows; `/Schemas` says which ones are kept.

use super::{answer, base_url, ScimError, LIST_SCHEMA, PATCH_SCHEMA, USER_SCHEMA};
use crate::domain::ids::UserId;
use crate::domain::time::rfc3339;
use crate::server::audit::Origin;
use crate::server::request::RequestHead;
use crate::server::sso::scim::{self, Person, Refusal, ScimCaller};
use crate::server::stores::provisioning::{MemberChange, ProvisionedMember};
use crate::server::AppState;
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    Extension,
};
use scim_v2::filter::{AttrExp, CompValue, CompareOp, Filter, PatchPath};
use scim_v2::models::others::{OperationTarget, PatchOp, PatchOperation};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The most Users one page holds (`count` above it is lowered, as RFC 7644 §3.4.2.4 allows).
pub const MAX_PAGE: u64 = 200;

/// A member as a SCIM User.
fn user(member: &ProvisionedMember, base: &str) -> Value {
    let last_modified = member
        .suspended_at
        .unwrap_or(member.joined_at)
        .max(member.joined_at);
    let mut user = json!({
        "schemas": [USER_SCHEMA],
        "id": member.user_id,
        "userName": member.email,
        "active": member.active(),
        "emails": [{"value": member.email, "type": "work", "primary": true}],
        "meta": {
            "resourceType": "User",
            "created": rfc3339(member.joined_at),
            "lastModified": rfc3339(last_modified),
            "location": format!("{base}/Users/{}", member.user_id),
        },
    });
    if let Some(external_id) = &member.external_id {
        user["externalId"] = json!(external_id);
    }
    if let Some(display_name) = &member.display_name {
        user["displayName"] = json!(display_name);
    }
    user
}

impl From<Refusal> for ScimError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::InvalidValue(detail) => invalid_value(&detail),
            Refusal::Immutable(detail) => {
                ScimError::new(StatusCode::BAD_REQUEST, Some("mutability"), detail)
            }
            Refusal::Taken => ScimError::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                "A member of this account has this userName already.",
            ),
            Refusal::NotFound => not_found(),
            Refusal::LastAdmin => ScimError::new(
                StatusCode::CONFLICT,
                None,
                "This is the account's last active Admin: make someone else Admin in keyward first, or the account could not be managed.",
            ),
            Refusal::Database(database) => {
                tracing::error!(error = %database, "a SCIM request failed in the database");
                ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "Internal error.")
            }
        }
    }
}

fn not_found() -> ScimError {
    ScimError::new(
        StatusCode::NOT_FOUND,
        None,
        "No member of this account has this id.",
    )
}

fn invalid_syntax(detail: &str) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
}

fn invalid_value(detail: &str) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
}

/// The body as JSON.
fn json_body(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|problem| invalid_syntax(&format!("The body is not JSON: {problem}")))
}

/// An id of the path: anything that is no person id is no member either.
fn user_id(id: &str) -> Result<UserId, ScimError> {
    UserId::parse("id", id).map_err(|_| not_found())
}

/// `GET /Users`: the members, a page at a time, or the one a `userName eq "…"` filter names.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<ScimCaller>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let number = |name: &str, default: u64| -> Result<u64, ScimError> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .map(|number| u64::try_from(number).unwrap_or(0))
                .map_err(|_| invalid_value(&format!("{name} must be a whole number"))),
        }
    };
    let start_index = number("startIndex", 1)?.max(1);
    let count = number("count", 100)?.min(MAX_PAGE);
    let email = query
        .get("filter")
        .map(|filter| user_name_filter(filter))
        .transpose()?;
    let (members, total) = crate::server::stores::provisioning::page(
        &state.pool,
        &caller.account_id,
        email.as_deref(),
        start_index - 1,
        count,
    )
    .await
    .map_err(Refusal::Database)?;
    let base = base_url(&state, &headers);
    Ok(answer(
        StatusCode::OK,
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": members.len(),
            "Resources": members.iter().map(|member| user(member, &base)).collect::<Vec<_>>(),
        }),
    ))
}

/// The email a filter asks for: `userName eq "…"` (attribute names are case-insensitive, and
/// may carry the User schema's URN); anything else is refused as `invalidFilter`.
fn user_name_filter(filter: &str) -> Result<String, ScimError> {
    let unsupported = || {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
            "keyward filters Users by userName eq \"<email>\" only.",
        )
    };
    let parsed: Filter = filter.parse().map_err(|problem| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
            format!("The filter is not SCIM filter syntax: {problem}"),
        )
    })?;
    match parsed {
        Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value)))
            if path.name.eq_ignore_ascii_case("userName")
                && path.sub_attr.is_none()
                && path
                    .uri
                    .as_deref()
                    .is_none_or(|uri| uri.eq_ignore_ascii_case(USER_SCHEMA)) =>
        {
            // userName is compared as keyward stores logins: trimmed, lower-case.
            Ok(value.trim().to_lowercase())
        }
        _ => Err(unsupported()),
    }
}

/// The parts of a User body keyward reads; the rest is ignored.
struct UserBody {
    user_name: Option<String>,
    active: Option<bool>,
    external_id: Option<Option<String>>,
    display_name: Option<Option<String>>,
}

/// Reads a User body (`POST`, `PUT`): its schemas must name the User schema.
fn user_body(body: &Value) -> Result<UserBody, ScimError> {
    let Some(object) = body.as_object() else {
        return Err(invalid_syntax("A User is a JSON object."));
    };
    let names_user_schema =
        object
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|schemas| {
                schemas.iter().any(|schema| {
                    schema
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(USER_SCHEMA))
                })
            });
    if !names_user_schema {
        return Err(invalid_syntax(&format!(
            "schemas must include \"{USER_SCHEMA}\"."
        )));
    }
    let field = |name: &str| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    };
    let user_name = match field("userName") {
        Some(Value::String(user_name)) => Some(user_name.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(invalid_value("userName must be a string")),
    };
    let active = match field("active") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(lenient_bool(value).ok_or_else(|| invalid_value("active must be true or false"))?)
        }
    };
    Ok(UserBody {
        user_name,
        active,
        external_id: Some(optional_text("externalId", field("externalId"))?),
        display_name: Some(optional_text("displayName", field("displayName"))?),
    })
}

/// `true`/`false`, or their spellings as strings (`"False"`, which some providers send).
fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(value) => Some(*value),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A text attribute's new value: a string, or none for null or absent.
fn optional_text(name: &str, value: Option<&Value>) -> Result<Option<String>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid_value(&format!("{name} must be a string"))),
    }
}

/// `POST /Users`: a new member with the token's role (201 with the User).
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<ScimCaller>,
    Extension(head): Extension<RequestHead>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = user_body(&json_body(&body)?)?;
    let user_name = body
        .user_name
        .as_deref()
        .ok_or_else(|| invalid_value("userName is required: the person's email address"))?;
    let external_id = body.external_id.clone().flatten();
    let display_name = body.display_name.clone().flatten();
    let person = Person {
        user_name,
        active: body.active,
        external_id: external_id.as_deref(),
        display_name: display_name.as_deref(),
    };
    let member = scim::create(&state, &caller, &person, &Origin::of_head(&head)).await?;
    Ok(answer(
        StatusCode::CREATED,
        user(&member, &base_url(&state, &headers)),
    ))
}

/// `GET /Users/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<ScimCaller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let member = scim::find(&state, &caller, &user_id(&id)?).await?;
    Ok(answer(
        StatusCode::OK,
        user(&member, &base_url(&state, &headers)),
    ))
}

/// `PUT /Users/{id}`: the User as sent; names it leaves out are cleared, `active` it leaves
/// out stays as it is.
pub async fn replace(
    State(state): State<AppState>,
    Extension(caller): Extension<ScimCaller>,
    Extension(head): Extension<RequestHead>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let user_id = user_id(&id)?;
    let body = user_body(&json_body(&body)?)?;
    let change = MemberChange {
        active: body.active,
        external_id: body.external_id,
        display_name: body.display_name,
    };
    let request = Changed {
        state: &state,
        caller: &caller,
        head: &head,
        headers: &headers,
    };
    request
        .apply(&user_id, body.user_name.as_deref(), change)
        .await
}

/// `PATCH /Users/{id}`: `replace` or `add` of `active`, `displayName` or `externalId` (by
/// path, or as an object without one), `remove` of the two names. Other attributes are ignored.
pub async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<ScimCaller>,
    Extension(head): Extension<RequestHead>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let user_id = user_id(&id)?;
    let patch: PatchOp = serde_json::from_value(json_body(&body)?)
        .map_err(|problem| invalid_syntax(&format!("Not a SCIM PatchOp: {problem}")))?;
    if !patch
        .schemas
        .iter()
        .any(|schema| schema.eq_ignore_ascii_case(PATCH_SCHEMA))
    {
        return Err(invalid_syntax(&format!(
            "schemas must include \"{PATCH_SCHEMA}\"."
        )));
    }
    let mut change = MemberChange::default();
    let mut user_name = None;
    for operation in &patch.operations {
        match operation {
            PatchOperation::Add(target) | PatchOperation::Replace(target) => match target {
                OperationTarget::WithPath { path, value } => {
                    set(&mut change, &mut user_name, path_name(path), value.as_ref())?
                }
                OperationTarget::WithoutPath { value } => {
                    for (name, value) in value {
                        set(
                            &mut change,
                            &mut user_name,
                            Some(name.as_str()),
                            Some(value),
                        )?;
                    }
                }
            },
            PatchOperation::Remove { path, .. } => {
                set(&mut change, &mut user_name, path_name(path), None)?
            }
        }
    }
    let request = Changed {
        state: &state,
        caller: &caller,
        head: &head,
        headers: &headers,
    };
    request.apply(&user_id, user_name.as_deref(), change).await
}

/// The attribute a PATCH path names, when it is a plain one of the User schema.
fn path_name(path: &PatchPath) -> Option<&str> {
    match path {
        PatchPath::Attr(attr)
            if attr.sub_attr.is_none()
                && attr
                    .uri
                    .as_deref()
                    .is_none_or(|uri| uri.eq_ignore_ascii_case(USER_SCHEMA)) =>
        {
            Some(attr.name.as_str())
        }
        _ => None,
    }
}

/// One attribute of a patch: `value` `None` removes it.
fn set(
    change: &mut MemberChange,
    user_name: &mut Option<String>,
    name: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(name) = name else {
        return Ok(());
    };
    let value = value.filter(|value| !value.is_null());
    if name.eq_ignore_ascii_case("active") {
        let active = value
            .and_then(lenient_bool)
            .ok_or_else(|| invalid_value("active must be true or false"))?;
        change.active = Some(active);
    } else if name.eq_ignore_ascii_case("displayName") {
        change.display_name = Some(optional_text("displayName", value)?);
    } else if name.eq_ignore_ascii_case("externalId") {
        change.external_id = Some(optional_text("externalId", value)?);
    } else if name.eq_ignore_ascii_case("userName") {
        match value {
            Some(Value::String(text)) => *user_name = Some(text.clone()),
            _ => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("mutability"),
                    "userName is the person's login email and cannot be removed or changed here",
                ))
            }
        }
    }
    Ok(())
}

/// A replacement or a patch on its way: what answering it needs.
struct Changed<'a> {
    state: &'a AppState,
    caller: &'a ScimCaller,
    head: &'a RequestHead,
    headers: &'a HeaderMap,
}

impl Changed<'_> {
    /// Applies the change and answers with the User as it is now.
    async fn apply(
        &self,
        user_id: &UserId,
        user_name: Option<&str>,
        change: MemberChange,
    ) -> Result<Response, ScimError> {
        let origin = Origin::of_head(self.head);
        let member =
            scim::change(self.state, self.caller, user_id, user_name, change, &origin).await?;
        Ok(answer(
            StatusCode::OK,
            user(&member, &base_url(self.state, self.headers)),
        ))
    }
}

/// `DELETE /Users/{id}`: removes the member (204).
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<ScimCaller>,
    Extension(head): Extension<RequestHead>,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    scim::remove(&state, &caller, &user_id(&id)?, &Origin::of_head(&head)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_user_name_equality_filter_is_understood() {
        assert_eq!(
            user_name_filter(r#"userName eq "Ada@Example.com""#).unwrap(),
            "ada@example.com"
        );
        assert_eq!(
            user_name_filter(r#"USERNAME Eq "ada@example.com""#).unwrap(),
            "ada@example.com"
        );
        assert_eq!(
            user_name_filter(&format!(r#"{USER_SCHEMA}:userName eq "a@b.co""#)).unwrap(),
            "a@b.co"
        );
        for unsupported in [
            r#"userName co "ada""#,
            r#"emails.value eq "ada@example.com""#,
            r#"userName eq "a" or userName eq "b""#,
            r#"displayName eq "Ada""#,
            "userName eq",
            "((((",
        ] {
            let refusal = user_name_filter(unsupported).unwrap_err();
            assert_eq!(refusal.status, StatusCode::BAD_REQUEST, "{unsupported}");
            assert_eq!(refusal.scim_type, Some("invalidFilter"), "{unsupported}");
        }
    }

    #[test]
    fn a_patch_sets_active_and_names_and_refuses_a_new_user_name() {
        let mut change = MemberChange::default();
        let mut user_name = None;
        set(
            &mut change,
            &mut user_name,
            Some("Active"),
            Some(&json!("False")),
        )
        .unwrap();
        set(
            &mut change,
            &mut user_name,
            Some("displayName"),
            Some(&json!("Ada L.")),
        )
        .unwrap();
        set(&mut change, &mut user_name, Some("externalId"), None).unwrap();
        set(
            &mut change,
            &mut user_name,
            Some("name.givenName"),
            Some(&json!("Ada")),
        )
        .unwrap();
        assert_eq!(
            change,
            MemberChange {
                active: Some(false),
                external_id: Some(None),
                display_name: Some(Some("Ada L.".to_string())),
            }
        );
        assert!(set(&mut change, &mut user_name, Some("active"), Some(&json!(3))).is_err());
        assert!(set(&mut change, &mut user_name, Some("userName"), None).is_err());
        set(
            &mut change,
            &mut user_name,
            Some("userName"),
            Some(&json!("ada@example.com")),
        )
        .unwrap();
        assert_eq!(user_name.as_deref(), Some("ada@example.com"));
    }
}
