//! Which audit events a webhook endpoint receives: a list of patterns, each an action
//! (`key.revoked`), every action of one resource (`key.*`) or every event (`*`).

use crate::domain::audit::AuditAction;

/// At most this many patterns per endpoint.
pub const MAX_PATTERNS: usize = 50;

/// One pattern, checked against the actions keyward writes: a pattern that could never match
/// (`kye.*`, `key.revokd`) is refused rather than silently receiving nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventPattern {
    Every,
    Resource(String),
    Action(AuditAction),
}

impl EventPattern {
    pub fn parse(text: &str) -> Result<EventPattern, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(EventPattern::Every);
        }
        if let Some(resource) = text.strip_suffix(".*") {
            let known = AuditAction::ALL
                .iter()
                .any(|action| action.as_str().split_once('.').map(|(r, _)| r) == Some(resource));
            return if known {
                Ok(EventPattern::Resource(resource.to_string()))
            } else {
                Err(format!(
                    "{text:?} matches no event: no action starts with \"{resource}.\""
                ))
            };
        }
        AuditAction::parse(text).map(EventPattern::Action).ok_or_else(|| {
            format!("{text:?} is not an event: use an action like \"key.revoked\", \"key.*\" or \"*\"")
        })
    }

    pub fn matches(&self, action: AuditAction) -> bool {
        match self {
            EventPattern::Every => true,
            EventPattern::Resource(resource) => action
                .as_str()
                .strip_prefix(resource.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            EventPattern::Action(wanted) => *wanted == action,
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            EventPattern::Every => "*".to_string(),
            EventPattern::Resource(resource) => format!("{resource}.*"),
            EventPattern::Action(action) => action.as_str().to_string(),
        }
    }
}

/// Parses an endpoint's patterns: 1 to [`MAX_PATTERNS`], each valid, duplicates dropped.
pub fn parse_patterns(texts: &[String]) -> Result<Vec<EventPattern>, String> {
    if texts.is_empty() {
        return Err("name at least one event pattern, such as \"key.*\" or \"*\"".to_string());
    }
    if texts.len() > MAX_PATTERNS {
        return Err(format!("at most {MAX_PATTERNS} event patterns"));
    }
    let mut patterns: Vec<EventPattern> = Vec::with_capacity(texts.len());
    for text in texts {
        let pattern = EventPattern::parse(text)?;
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

/// Whether any of `patterns` (as stored: spaced) matches `action`.
pub fn stored_patterns_match(stored: &str, action: AuditAction) -> bool {
    stored
        .split_whitespace()
        .filter_map(|text| EventPattern::parse(text).ok())
        .any(|pattern| pattern.matches(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_an_action_a_resource_or_everything() {
        let revoked = AuditAction::KeyRevoked;
        let cases = [
            ("*", revoked, true),
            ("key.*", revoked, true),
            ("key.*", AuditAction::KeyExpiring, true),
            ("key.revoked", revoked, true),
            ("key.created", revoked, false),
            ("member.*", revoked, false),
            // "key.*" is about keys, not legacy keys or key-check-free resources.
            ("key.*", AuditAction::LegacyKeysImported, false),
            (
                "service_account.*",
                AuditAction::ServiceAccountDeleted,
                true,
            ),
        ];
        for (text, action, expected) in cases {
            let pattern = EventPattern::parse(text).unwrap();
            assert_eq!(
                pattern.matches(action),
                expected,
                "{text} against {action:?}"
            );
            assert_eq!(EventPattern::parse(&pattern.as_text()).unwrap(), pattern);
        }
    }

    #[test]
    fn a_pattern_that_could_never_match_is_refused_naming_itself() {
        for text in ["kye.*", "key.revokd", "", "key", ".*", "key.**"] {
            let problem = EventPattern::parse(text).unwrap_err();
            assert!(problem.contains(text.trim()), "{problem}");
        }
        assert!(parse_patterns(&[]).is_err());
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|_| "*".to_string()).collect();
        assert!(parse_patterns(&many).is_err());
        assert_eq!(
            parse_patterns(&["key.*".into(), " key.* ".into()])
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn stored_patterns_are_read_back() {
        assert!(stored_patterns_match(
            "member.removed key.*",
            AuditAction::KeyLeakReported
        ));
        assert!(!stored_patterns_match(
            "member.removed",
            AuditAction::KeyLeakReported
        ));
    }
}
