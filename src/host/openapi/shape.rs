//! The request-shape check the API boundary runs before any server function: a body must have
//! the shape the OpenAPI document gives its operation — no unknown field, none missing, every
//! type right — or it is refused with a 400 naming the field.

use crate::domain::{ApiError, ErrorCode};
use crate::host::openapi::document_json;
use serde_json::{Map, Value};
use std::{collections::HashMap, sync::OnceLock};

/// Checks a request body against the documented shape of the operation at `path` (an
/// `/api/v1/...` path). Paths that are not operations pass: they are answered elsewhere.
pub fn check_request_shape(path: &str, body: &[u8]) -> Result<(), ApiError> {
    let document = document_json();
    let Some(schema) = request_schema(path) else {
        return Ok(());
    };
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::invalid_input(
            "body",
            "must be a JSON object ({} for an operation without arguments)",
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::invalid_input("body", "must be a JSON object"));
    };
    let no_properties = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&no_properties);
    for name in fields.keys() {
        if !properties.contains_key(name) {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("{}: is not a known field", printable(name)),
            ));
        }
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = required.as_str().unwrap_or_default();
        if !fields.contains_key(name) {
            return Err(ApiError::invalid_input(name, "is required"));
        }
    }
    for (name, value) in &fields {
        if let Err(expected) = conforms(document, value, &properties[name]) {
            return Err(ApiError::invalid_input(
                name,
                &format!("must be {expected}"),
            ));
        }
    }
    Ok(())
}

/// A field name from the caller, shortened and stripped so it is safe to echo.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The request body schema of the operation at `path`, from a table made once: every API call
/// asks, and walking the document by JSON pointer each time cost a tenth of a key check.
pub(super) fn request_schema(path: &str) -> Option<&'static Map<String, Value>> {
    static SCHEMAS: OnceLock<HashMap<&'static str, &'static Map<String, Value>>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            let document = document_json();
            let paths = document.get("paths").and_then(Value::as_object);
            paths
                .into_iter()
                .flatten()
                .filter_map(|(path, operations)| {
                    let reference = operations
                        .pointer("/post/requestBody/content/application~1json/schema/$ref")?
                        .as_str()?;
                    Some((path.as_str(), resolve(document, reference)?.as_object()?))
                })
                .collect()
        })
        .get(path)
        .copied()
}

fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

/// Whether `value` fits `schema` (the subset of JSON Schema our request types produce);
/// `Err` says what was expected, in words.
fn conforms(document: &Value, value: &Value, schema: &Value) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(document, reference).ok_or_else(|| "valid".to_string())?;
        return conforms(document, value, target);
    }
    if let Some(choices) = schema.get("oneOf").and_then(Value::as_array) {
        let mut expectations = Vec::new();
        for choice in choices {
            match conforms(document, value, choice) {
                Ok(()) => return Ok(()),
                Err(expected) => expectations.push(expected),
            }
        }
        return Err(expectations.join(" or "));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if value.is_null() && type_names(schema).contains(&"null") {
            return Ok(());
        }
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        return if allowed.contains(value) {
            Ok(())
        } else {
            Err(format!("one of {}", names.join(", ")))
        };
    }
    let types = type_names(schema);
    if types.is_empty() {
        return Ok(());
    }
    let fits = types.iter().any(|kind| match *kind {
        "string" => value.is_string(),
        "integer" => value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    });
    if fits {
        return Ok(());
    }
    let words: Vec<&str> = types
        .iter()
        .map(|kind| match *kind {
            "string" => "a string",
            "integer" => "a whole number",
            "boolean" => "true or false",
            "null" => "null",
            "object" => "an object",
            "array" => "an array",
            _ => "a number",
        })
        .collect();
    Err(words.join(" or "))
}

fn type_names(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_error(path: &str, body: &str) -> String {
        check_request_shape(path, body.as_bytes())
            .unwrap_err()
            .message
    }

    #[test]
    fn request_shapes_are_checked_field_by_field() {
        let path = "/api/v1/checks/create";
        let valid = r#"{"name":"a","kind":"api","url":"https://a.b","frequency_minutes":5,"activated":true}"#;
        assert!(check_request_shape(path, valid.as_bytes()).is_ok());
        assert_eq!(field_error(path, r#"{"name":"a"}"#), "kind: is required");
        assert_eq!(
            field_error(path, &valid.replace("5,", "\"often\",")),
            "frequency_minutes: must be a whole number"
        );
        assert_eq!(
            field_error(path, &valid.replace("true", "1")),
            "activated: must be true or false"
        );
        assert_eq!(
            field_error(path, &valid.replace("{", r#"{"admin":true,"#)),
            "admin: is not a known field"
        );
        assert!(field_error(path, "[]").starts_with("body"));
        assert!(field_error(path, "nope").starts_with("body"));
        let role = field_error(
            "/api/v1/members/invite",
            r#"{"email":"a@b.co","role":"owner"}"#,
        );
        assert_eq!(role, "role: must be one of read_only, read_write, admin");
        let cap = "/api/v1/keys/create";
        assert!(check_request_shape(cap, br#"{"name":"a","role_cap":null}"#).is_ok());
        assert!(check_request_shape(cap, br#"{"name":"a","role_cap":"read_only"}"#).is_ok());
        assert!(
            field_error(cap, r#"{"name":"a","role_cap":"root"}"#).starts_with("role_cap: must be")
        );
        assert!(check_request_shape("/api/v1/auth/me", b"{}").is_ok());
        assert_eq!(
            field_error("/api/v1/auth/me", r#"{"x":1}"#),
            "x: is not a known field"
        );
        assert!(check_request_shape("/api/v1/not/an/operation", b"whatever").is_ok());
    }
}
