//! `GET /api/v1/audit/export`: the account's audit trail as JSON lines or CSV, streamed.
//!
//! The one operation that is not a server function: server functions buffer their answer, and
//! a trail can hold millions of events. It authorizes exactly as they do — the same
//! `caller::resolve_head` on its request's head, and the same policy check — and then reads the
//! trail a page at a time, so memory stays the same whatever the trail's size.

use crate::domain::{
    audit::AuditEvent, ids::AccountId, requests::AuditListRequest, ApiError, Permission,
};
use crate::host::boundary::error_response;
use crate::server::audit::query::AuditQuery;
use crate::server::caller::resolve_head;
use crate::server::request::RequestHead;
use crate::server::respond::AnswerHeaders;
use crate::server::signin::step_up::require_recent_proof;
use crate::server::stores::audit::Filter;
use crate::server::{stores, AppState};
use axum::{
    body::{Body, Bytes},
    extract::{Query, Request, State},
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};

/// Events read per query while streaming.
const EXPORT_PAGE: usize = 1_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonLines,
    Csv,
}

/// The query string: the filters of `audit/list` (its paging aside: the export is the whole
/// trail), and a format.
#[derive(serde::Deserialize)]
struct ExportQuery {
    /// `jsonl` (one JSON event per line, the default) or `csv`.
    format: Option<String>,
    /// `audit/list`'s page size, which the export does not take: ignored like any parameter it
    /// does not know, and read as text here so that a number is not refused.
    #[serde(default, rename = "limit")]
    _limit: Option<String>,
    #[serde(flatten)]
    filters: AuditListRequest,
}

pub async fn export_audit_trail(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let query = match Query::<ExportQuery>::try_from_uri(&parts.uri) {
        Ok(Query(query)) => query,
        Err(rejection) => {
            return error_response(ApiError::invalid_input(
                "query",
                &format!("is not understood ({})", rejection.body_text()),
            ))
        }
    };
    let format = match query.format.as_deref().map(str::trim) {
        None | Some("") | Some("jsonl") => Format::JsonLines,
        Some("csv") => Format::Csv,
        Some(_) => {
            return error_response(ApiError::invalid_input("format", "must be jsonl or csv"))
        }
    };
    let parsed = AuditQuery::parse(&AuditListRequest {
        cursor: None,
        limit: None,
        ..query.filters
    });
    let filter = match parsed {
        Ok(parsed) => parsed.filter,
        Err(error) => return error_response(error),
    };

    // Resolve and authorize the caller the way every server function does, from this request's
    // head; the key's headers (rate limit, expiry, Retry-After) go on the answer either way.
    let head = RequestHead::read(&parts, &state.config.trusted_proxies);
    let mut key_headers = AnswerHeaders::default();
    let authorized = resolve_head(&state, &head, &mut key_headers)
        .await
        .and_then(|caller| caller.authorize(Permission::AuditRead).map(|()| caller))
        // The whole trail leaving in one file: a session needs a recent proof.
        .and_then(|caller| require_recent_proof(&state, &caller).map(|()| caller));
    let caller = match authorized {
        Ok(caller) => caller,
        Err(error) => {
            let mut response = error_response(error);
            key_headers.put_on(response.headers_mut());
            return response;
        }
    };

    let account_id = caller.account_id().clone();
    let (content_type, extension) = match format {
        Format::JsonLines => ("application/x-ndjson", "jsonl"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let disposition = format!("attachment; filename=\"keyward-audit-{account_id}.{extension}\"");
    let body = Body::from_stream(stream_pages(state, account_id, filter, format));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    key_headers.put_on(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

struct Position {
    state: AppState,
    account_id: AccountId,
    filter: Filter,
    format: Format,
    started: bool,
    finished: bool,
}

/// The trail, newest first, one chunk per page; a failing read ends the stream with an error,
/// which the client sees as a cut-off download, never as a complete-looking file.
fn stream_pages(
    state: AppState,
    account_id: AccountId,
    filter: Filter,
    format: Format,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let start = Position {
        state,
        account_id,
        filter,
        format,
        started: false,
        finished: false,
    };
    futures_util::stream::unfold(start, |mut position| async move {
        if position.finished {
            return None;
        }
        let mut chunk = Vec::new();
        if !position.started && position.format == Format::Csv {
            chunk.extend_from_slice(CSV_HEADER.as_bytes());
        }
        position.started = true;
        let page = stores::audit::page(
            &position.state.pool,
            &position.account_id,
            &position.filter,
            EXPORT_PAGE,
        )
        .await;
        match page {
            Ok((events, next)) => {
                for event in &events {
                    match position.format {
                        Format::JsonLines => json_line(&mut chunk, event),
                        Format::Csv => csv_row(&mut chunk, event),
                    }
                }
                match next {
                    Some(seq) => position.filter.before_seq = Some(seq),
                    None => position.finished = true,
                }
                Some((Ok(Bytes::from(chunk)), position))
            }
            Err(error) => {
                tracing::error!(%error, "the audit export failed part-way");
                position.finished = true;
                Some((
                    Err(std::io::Error::other("reading the audit trail failed")),
                    position,
                ))
            }
        }
    })
}

fn json_line(out: &mut Vec<u8>, event: &AuditEvent) {
    if serde_json::to_writer(&mut *out, event).is_ok() {
        out.push(b'\n');
    }
}

const CSV_HEADER: &str = "id,time,account_id,action,outcome,actor_type,actor_user_id,actor_email,\
actor_key_id,actor_key_name,target_type,target_id,target_label,details,client_address,user_agent,\
actor_service_account_id,actor_service_account_name\n";

fn csv_row(out: &mut Vec<u8>, event: &AuditEvent) {
    let actor = &event.actor;
    let target = event.target.as_ref();
    let details = event.details.to_string();
    let fields = [
        Some(event.id.as_str()),
        Some(event.time.as_str()),
        event.account_id.as_ref().map(AccountId::as_str),
        Some(event.action.as_str()),
        Some(event.outcome.as_str()),
        Some(actor.kind.as_str()),
        actor.user.as_ref().map(|user| user.id.as_str()),
        actor.user.as_ref().map(|user| user.email.as_str()),
        actor.key_id.as_deref(),
        actor.key_name.as_deref(),
        target.map(|target| target.kind.as_str()),
        target.map(|target| target.id.as_str()),
        target.map(|target| target.label.as_str()),
        Some(details.as_str()),
        event.client_address.as_deref(),
        event.user_agent.as_deref(),
        actor
            .service_account
            .as_ref()
            .map(|service_account| service_account.id.as_str()),
        actor
            .service_account
            .as_ref()
            .map(|service_account| service_account.name.as_str()),
    ];
    let mut writer = csv::Writer::from_writer(&mut *out);
    let row = fields.map(|field| spreadsheet_safe(field.unwrap_or("")));
    if let Err(error) = writer.write_record(row.iter().map(|field| field.as_bytes())) {
        tracing::warn!(%error, "could not write an audit CSV row");
    }
}

/// Names and user agents are chosen by callers; a spreadsheet would run one that starts like
/// a formula (`=HYPERLINK(…)`). A leading apostrophe makes it text (OWASP "CSV injection").
fn spreadsheet_safe(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}").into()
    } else {
        field.into()
    }
}

#[cfg(test)]
mod tests {
    use super::{spreadsheet_safe, ExportQuery};
    use axum::extract::Query;

    #[test]
    fn the_export_query_takes_the_list_filters_and_ignores_paging() {
        let uri: axum::http::Uri =
            "/api/v1/audit/export?format=csv&action=key.created&limit=5&cursor=x&other=1"
                .parse()
                .unwrap();
        let Query(query) = Query::<ExportQuery>::try_from_uri(&uri).unwrap();
        assert_eq!(query.format.as_deref(), Some("csv"));
        assert_eq!(query.filters.action.as_deref(), Some("key.created"));
    }

    #[test]
    fn formulas_in_csv_fields_become_text() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("CI deploy"), "CI deploy");
    }
}
