//! What keyward's SCIM service supports, as RFC 7644 §4 has a provider ask: the service
//! provider configuration, the one resource type (User) and its schema — with only the
//! attributes keyward keeps, so a client builds no form for what would be dropped.

use super::{answer, base_url, error, LIST_SCHEMA, USER_SCHEMA};
use crate::host::scim::users::MAX_PAGE;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{json, Value};

const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// `GET /ServiceProviderConfig`.
pub async fn service_provider_config(
    State(state): State<crate::server::AppState>,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&state, &headers);
    let unsupported = json!({"supported": false});
    answer(
        StatusCode::OK,
        json!({
            "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_PAGE},
            "changePassword": unsupported,
            "sort": unsupported,
            "etag": unsupported,
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "SCIM token",
                "description": "The account's SCIM token (kwscim_…), which an Admin creates in Settings → Single sign-on, as Authorization: Bearer.",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        }),
    )
}

fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A member of the account: userName is their login email; active false suspends them (their sessions and keys stop until they are active again).",
        "schema": USER_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `GET /ResourceTypes`.
pub async fn resource_types(
    State(state): State<crate::server::AppState>,
    headers: HeaderMap,
) -> Response {
    answer(
        StatusCode::OK,
        list(vec![user_resource_type(&base_url(&state, &headers))]),
    )
}

/// `GET /ResourceTypes/User`.
pub async fn resource_type(
    State(state): State<crate::server::AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if id != "User" {
        return error(
            StatusCode::NOT_FOUND,
            None,
            "keyward has one resource type: User.",
        );
    }
    answer(
        StatusCode::OK,
        user_resource_type(&base_url(&state, &headers)),
    )
}

/// One attribute of the schema (RFC 7643 §7).
fn attribute(name: &str, kind: &str, description: &str, traits: Value) -> Value {
    let mut attribute = json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    });
    if let (Some(attribute), Some(traits)) = (attribute.as_object_mut(), traits.as_object()) {
        attribute.extend(traits.clone());
    }
    attribute
}

fn user_schema(base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A member of a keyward account.",
        "attributes": [
            attribute("userName", "string", "The person's login email. Set at creation; it cannot be changed through SCIM.",
                json!({"required": true, "mutability": "immutable", "uniqueness": "server"})),
            attribute("externalId", "string", "The identity provider's own id for the person.",
                json!({"caseExact": true})),
            attribute("displayName", "string", "The person's name, as the Members page shows it.", json!({})),
            attribute("active", "boolean", "false suspends the person in this account: their sessions and keys stop until it is true again.", json!({})),
            attribute("emails", "complex", "The login email (the same as userName).", json!({
                "multiValued": true,
                "mutability": "readOnly",
                "subAttributes": [
                    attribute("value", "string", "The email address.", json!({"mutability": "readOnly"})),
                    attribute("type", "string", "Always \"work\".", json!({"mutability": "readOnly"})),
                    attribute("primary", "boolean", "Always true.", json!({"mutability": "readOnly"})),
                ],
            })),
        ],
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{USER_SCHEMA}"),
        },
    })
}

/// `GET /Schemas`.
pub async fn schemas(State(state): State<crate::server::AppState>, headers: HeaderMap) -> Response {
    answer(
        StatusCode::OK,
        list(vec![user_schema(&base_url(&state, &headers))]),
    )
}

/// `GET /Schemas/{urn}`.
pub async fn schema(
    State(state): State<crate::server::AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !id.eq_ignore_ascii_case(USER_SCHEMA) {
        return error(
            StatusCode::NOT_FOUND,
            None,
            "keyward describes one schema: the core User.",
        );
    }
    answer(StatusCode::OK, user_schema(&base_url(&state, &headers)))
}
