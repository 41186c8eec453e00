//! The one error type of every server function, and its wire shape
//! `{"error": {"code": "...", "message": "..."}}` (see `docs/api.md`).

use crate::domain::wire::JsonText;
use serde::{Deserialize, Serialize};
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    /// A browser session must prove its person again (`auth/step-up`) before this action.
    StepUpRequired,
    /// The account requires a second factor and the signed-in person has none yet: they may
    /// only set one up (and manage their own sign-in).
    SecondFactorRequired,
    /// The account requires single sign-on: sign in through the identity provider.
    SsoRequired,
    Internal,
}

impl ErrorCode {
    /// The HTTP status that carries this code. The server's API middleware applies it, so a
    /// server function only has to return the error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::StepUpRequired => 403,
            ErrorCode::SecondFactorRequired => 403,
            ErrorCode::SsoRequired => 403,
            ErrorCode::Internal => 500,
        }
    }
}

/// What went wrong, in words fit for the caller. Never carries internal detail: the server logs
/// that and sends [`ApiError::internal`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(into = "ErrorBody", from = "ErrorBody")]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// For a refusal of a permission: the one the operation needs (`checks:write`).
    pub missing_permission: Option<String>,
}

/// The body of every failed call.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    code: ErrorCode,
    message: String,
    /// Present on a 403 that refused a permission: the permission the operation needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    missing_permission: Option<String>,
}

impl From<ApiError> for ErrorBody {
    fn from(error: ApiError) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: error.code,
                message: error.message,
                missing_permission: error.missing_permission,
            },
        }
    }
}

impl From<ErrorBody> for ApiError {
    fn from(envelope: ErrorBody) -> Self {
        ApiError {
            code: envelope.error.code,
            message: envelope.error.message,
            missing_permission: envelope.error.missing_permission,
        }
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            missing_permission: None,
        }
    }

    /// A 403 for a permission the caller lacks, naming it.
    pub fn missing(permission: crate::domain::Permission, message: impl Into<String>) -> Self {
        ApiError {
            missing_permission: Some(permission.name().to_string()),
            ..ApiError::new(ErrorCode::Forbidden, message)
        }
    }

    pub fn invalid_input(field: &str, problem: &str) -> Self {
        ApiError::new(ErrorCode::InvalidInput, format!("{field}: {problem}"))
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "Sign in or send a valid API key.",
        )
    }

    pub fn forbidden() -> Self {
        ApiError::new(ErrorCode::Forbidden, "Your role does not allow this.")
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            ErrorCode::NotFound,
            format!("No such {what} in this account."),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Conflict, message)
    }

    pub fn internal() -> Self {
        ApiError::new(
            ErrorCode::Internal,
            "Something went wrong on our side. Please try again.",
        )
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonText;

    /// Encodes the error a server function returns — and, on the server, gives the response
    /// the status its code names. This runs inside the server function's request, so the
    /// status is set where the error is made into a response, and nobody has to read the body
    /// back to choose it.
    fn ser(&self) -> server_fn::Bytes {
        #[cfg(feature = "ssr")]
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = http::StatusCode::from_u16(self.code.http_status()) {
                response.set_status(status);
            }
        }
        <JsonText as server_fn::Encodes<ApiError>>::encode(self)
            .unwrap_or_else(|_| server_fn::Bytes::from_static(INTERNAL_ERROR_BODY.as_bytes()))
    }

    fn from_server_fn_error(error: ServerFnErrorErr) -> Self {
        match error {
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::Deserialization(detail) => {
                ApiError::new(ErrorCode::InvalidInput, describe_body_error(&detail))
            }
            ServerFnErrorErr::MissingArg(field) => ApiError::invalid_input(&field, "is required"),
            ServerFnErrorErr::Request(_) => ApiError::new(
                ErrorCode::Internal,
                "Could not reach the server. Check your connection and try again.",
            ),
            _ => ApiError::internal(),
        }
    }
}

/// What is sent if an error cannot be encoded (it always can: two strings).
const INTERNAL_ERROR_BODY: &str = r#"{"error":{"code":"internal","message":"Something went wrong on our side. Please try again."}}"#;

/// Turns serde's description of a bad body into a message that names the field but never
/// echoes a submitted value (which could be a password or a key).
fn describe_body_error(detail: &str) -> String {
    let detail = detail
        .rsplit("error deserializing server function arguments: ")
        .next();
    let detail = detail.unwrap_or_default();
    if let Some(field) = between(detail, "missing field `", "`") {
        return format!("{field}: is required");
    }
    if let Some(field) = between(detail, "unknown field `", "`") {
        return format!("{field}: is not a known field");
    }
    if detail.contains("invalid type") || detail.contains("invalid value") {
        if let Some(expected) = detail.split("expected ").nth(1) {
            let expected = expected.split(" at line").next().unwrap_or(expected);
            return format!("body: a field has the wrong type (expected {expected})");
        }
    }
    "body: must be a JSON object with the documented fields".to_string()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_documented_envelope() {
        let json = serde_json::to_value(ApiError::forbidden()).unwrap();
        assert_eq!(json["error"]["code"], "forbidden");
        assert!(json["error"]["message"].as_str().unwrap().contains("role"));
        assert!(json["error"].get("missing_permission").is_none());
        let back: ApiError = serde_json::from_value(json).unwrap();
        assert_eq!(back, ApiError::forbidden());
    }

    #[test]
    fn a_refused_permission_is_named() {
        let error = ApiError::missing(crate::domain::Permission::ChecksWrite, "no");
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["error"]["code"], "forbidden");
        assert_eq!(json["error"]["missing_permission"], "checks:write");
        let back: ApiError = serde_json::from_value(json).unwrap();
        assert_eq!(back, error);
    }

    #[test]
    fn body_errors_name_the_field_and_never_echo_values() {
        let missing = describe_body_error("missing field `email` at line 1 column 2");
        assert_eq!(missing, "email: is required");
        let typed = describe_body_error(
            "invalid type: string \"kw_secretvalue\", expected u32 at line 1 column 9",
        );
        assert!(!typed.contains("kw_secretvalue"), "{typed}");
        assert!(typed.contains("u32"));
    }
}
