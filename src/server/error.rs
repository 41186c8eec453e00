//! How server-side failures become [`ApiError`]s: the detail goes to the log, the caller gets a
//! generic `internal` error. This lets server functions use `?` on database and other errors.

use crate::domain::ApiError;

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(error = %error, "database error");
        ApiError::internal()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "unexpected error");
        ApiError::internal()
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    fn from(error: tower_sessions::session::Error) -> Self {
        tracing::error!(error = %error, "session store error");
        ApiError::internal()
    }
}

impl From<crate::server::stores::accounts::MembershipChangeError> for ApiError {
    fn from(error: crate::server::stores::accounts::MembershipChangeError) -> Self {
        use crate::server::stores::accounts::MembershipChangeError::*;
        match error {
            NoSuchMember => ApiError::not_found("member"),
            LastAdmin => ApiError::conflict(
                "An account must keep at least one Admin. Make someone else Admin first.",
            ),
            Database(error) => error.into(),
        }
    }
}

impl From<crate::server::stores::service_accounts::ServiceAccountError> for ApiError {
    fn from(error: crate::server::stores::service_accounts::ServiceAccountError) -> Self {
        use crate::server::stores::service_accounts::ServiceAccountError::*;
        match error {
            NoSuchServiceAccount => ApiError::not_found("service_account"),
            NameTaken => {
                ApiError::conflict("name: another service account of this account has that name.")
            }
            NotAMember(user_id) => ApiError::invalid_input(
                "custodian_user_ids",
                &format!("{user_id} is not a member of this account"),
            ),
            Database(error) => error.into(),
        }
    }
}
