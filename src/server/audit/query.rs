//! Which events `audit/list` and the export read: their filters and page size from the request,
//! checked field by field.

use crate::domain::{
    audit::AuditAction,
    ids::{KeyId, UserId},
};
use crate::server::stores;

/// The filters and page size of `audit/list` (and of the export), checked field by field.
pub struct AuditQuery {
    pub filter: stores::audit::Filter,
    pub limit: usize,
}

impl AuditQuery {
    pub fn parse(
        request: &crate::domain::requests::AuditListRequest,
    ) -> Result<AuditQuery, crate::domain::ApiError> {
        use crate::domain::ApiError;
        let present = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_string)
        };
        let limit = crate::server::paging::page_size(request.limit)?;
        let before_seq = match present(&request.cursor) {
            None => None,
            Some(text) => Some(text.parse::<i64>().ok().filter(|seq| *seq > 0).ok_or_else(
                || ApiError::invalid_input("cursor", "is not a cursor from audit/list"),
            )?),
        };
        let action = match present(&request.action) {
            None => None,
            Some(text) => Some(AuditAction::parse(&text).ok_or_else(|| {
                ApiError::invalid_input(
                    "action",
                    "is not an audit action (such as key.created or member.role_changed)",
                )
            })?),
        };
        let actor_user_id = present(&request.actor_user_id)
            .map(|id| UserId::parse("actor_user_id", &id))
            .transpose()?;
        let key_id = present(&request.key_id)
            .map(|id| KeyId::parse("key_id", &id))
            .transpose()?;
        let since = present(&request.since)
            .map(|text| crate::domain::time::parse_rfc3339("since", &text))
            .transpose()?;
        let until = present(&request.until)
            .map(|text| crate::domain::time::parse_rfc3339("until", &text))
            .transpose()?;
        Ok(AuditQuery {
            filter: stores::audit::Filter {
                action,
                actor_user_id,
                key_id,
                since,
                until,
                before_seq,
            },
            limit,
        })
    }
}
