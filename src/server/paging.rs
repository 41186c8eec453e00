//! What every list shares: a page size, a cursor and a search. Lists are walked by keyset
//! (`WHERE (sort key) < (last one seen)`) rather than by offset, so page 500 costs what page 1
//! does and a row created while someone pages is neither skipped nor shown twice.

use crate::domain::ApiError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{de::DeserializeOwned, Serialize};

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

/// `limit` as sent: absent is the default page.
pub fn page_size(limit: Option<i64>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(limit) => usize::try_from(limit)
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| ApiError::invalid_input("limit", "must be 1 to 200")),
    }
}

/// A text field sent by a caller, trimmed; empty counts as absent.
pub fn present(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// A cursor is the sort key of the last row of a page, opaque to callers: base64url of its
/// JSON. It holds nothing the caller could not see in that row.
pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// The position in a `cursor` sent back by `list` (the operation, for the message).
pub fn decode_cursor<T: DeserializeOwned>(
    cursor: &Option<String>,
    list: &str,
) -> Result<Option<T>, ApiError> {
    let Some(text) = present(cursor) else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid_input("cursor", &format!("is not a next_cursor from {list}"))
        })
}

/// The longest search accepted: names are at most 100 characters.
const MAX_SEARCH: usize = 100;

/// `search` as a `LIKE` pattern for a lower-cased column: any case, anywhere in the text, with
/// `%`, `_` and `\` matching themselves (the statement says `ESCAPE '\'`).
pub fn search_pattern(search: &Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = present(search) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_SEARCH {
        return Err(ApiError::invalid_input(
            "search",
            "must be at most 100 characters",
        ));
    }
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Ok(Some(pattern))
}

/// Splits the `limit + 1` rows a list fetched into the page and the cursor after it (`None`
/// when this was the last page).
pub fn split<T, P: Serialize>(
    mut rows: Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> P,
) -> (Vec<T>, Option<String>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let cursor = rows.last().map(|last| encode_cursor(&position(last)));
    (rows, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_come_back_as_they_went_and_others_name_the_field() {
        let cursor = encode_cursor(&(1_700_000_000_000_i64, "key_abc"));
        let back: Option<(i64, String)> = decode_cursor(&Some(cursor), "keys/list").unwrap();
        assert_eq!(back, Some((1_700_000_000_000, "key_abc".to_string())));
        assert_eq!(
            decode_cursor::<(i64, String)>(&None, "keys/list").unwrap(),
            None
        );
        for bad in ["not base64!", "bnVsbA", &encode_cursor(&("x", 1))] {
            let error =
                decode_cursor::<(i64, String)>(&Some(bad.to_string()), "keys/list").unwrap_err();
            assert!(
                error.message.starts_with("cursor:"),
                "{bad}: {}",
                error.message
            );
        }
    }

    #[test]
    fn searches_match_their_text_literally_in_any_case() {
        assert_eq!(search_pattern(&None).unwrap(), None);
        assert_eq!(search_pattern(&Some("  ".into())).unwrap(), None);
        assert_eq!(
            search_pattern(&Some(" CI ".into())).unwrap().unwrap(),
            "%ci%"
        );
        assert_eq!(
            search_pattern(&Some("50%_a\\b".into())).unwrap().unwrap(),
            "%50\\%\\_a\\\\b%"
        );
        let long = Some("x".repeat(101));
        assert!(search_pattern(&long)
            .unwrap_err()
            .message
            .starts_with("search:"));
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let (rows, cursor) = split(vec![1, 2, 3], 3, |row| *row);
        assert_eq!((rows, cursor), (vec![1, 2, 3], None));
        let (rows, cursor) = split(vec![1, 2, 3, 4], 3, |row| *row);
        assert_eq!(rows, vec![1, 2, 3]);
        assert_eq!(decode_cursor::<i32>(&cursor, "x").unwrap(), Some(3));
        assert_eq!(page_size(None).unwrap(), 50);
        assert!(page_size(Some(0)).is_err() && page_size(Some(201)).is_err());
        assert_eq!(page_size(Some(200)).unwrap(), 200);
    }
}
