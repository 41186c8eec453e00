//! The audit trail as the API and the UI see it: what happened, who did it (the person *and*
//! the key), to what, from where — and each event as one readable sentence.

use crate::domain::ids::AccountId;
use crate::domain::views::{ServiceAccountRef, User};
use serde::{Deserialize, Serialize};

macro_rules! audit_actions {
    ($($variant:ident => $text:literal, $label:literal;)*) => {
        /// Every kind of event the trail records (`docs/api.md`, "Views").
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum AuditAction {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant),*];

            /// The stable wire and database spelling, e.g. `key.revoked`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $text,)*
                }
            }

            /// What the filter on the Audit log page calls it.
            pub fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label,)*
                }
            }

            pub fn parse(text: &str) -> Option<AuditAction> {
                AuditAction::ALL.iter().copied().find(|action| action.as_str() == text)
            }
        }
    };
}

// By hand: a derived schema would list the variants' Rust names, not their wire spellings
// (schemathesis caught it).
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for AuditAction {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(AuditAction::ALL.iter().map(|action| action.as_str())))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for AuditAction {}

audit_actions! {
    AccountCreated => "account.created", "Account created";
    MemberInvited => "member.invited", "Member invited";
    InviteWithdrawn => "invite.withdrawn", "Invite withdrawn";
    MemberJoined => "member.joined", "Member joined";
    MemberRoleChanged => "member.role_changed", "Role changed";
    MemberRemoved => "member.removed", "Member removed";
    MemberLeft => "member.left", "Member left";
    KeyCreated => "key.created", "Key created";
    KeyRevoked => "key.revoked", "Key revoked";
    KeyRotated => "key.rotated", "Key rotated";
    KeyUpdated => "key.updated", "Key updated";
    KeyRejected => "key.rejected", "Key rejected";
    KeyLeakReported => "key.leak_reported", "Key reported leaked";
    LegacyKeysImported => "legacy_keys.imported", "Legacy keys imported";
    SessionSignedIn => "session.signed_in", "Signed in";
    SessionSignInFailed => "session.sign_in_failed", "Sign-in failed";
    SessionSignedOut => "session.signed_out", "Signed out";
    PasswordChanged => "password.changed", "Password changed";
    PolicyChanged => "policy.changed", "Key policy changed";
    CheckCreated => "check.created", "Check created";
    CheckUpdated => "check.updated", "Check updated";
    CheckDeleted => "check.deleted", "Check deleted";
    ServiceAccountCreated => "service_account.created", "Service account created";
    ServiceAccountUpdated => "service_account.updated", "Service account changed";
    ServiceAccountDeleted => "service_account.deleted", "Service account deleted";
    KeyAdopted => "key.adopted", "Legacy key adopted";
    PermissionDefined => "permission.defined", "Permission defined";
    PermissionUndefined => "permission.undefined", "Permission removed";
    KeyExpiring => "key.expiring", "Key expires soon";
    WebhookCreated => "webhook.created", "Webhook added";
    WebhookUpdated => "webhook.updated", "Webhook changed";
    WebhookDeleted => "webhook.deleted", "Webhook removed";
    WebhookSecretRotated => "webhook.secret_rotated", "Webhook secret rotated";
    WebhookFailing => "webhook.failing", "Webhook failing";
    TotpEnabled => "second_factor.totp_enabled", "Authenticator set up";
    TotpRemoved => "second_factor.totp_removed", "Authenticator removed";
    RecoveryCodesRenewed => "second_factor.recovery_codes_renewed", "Recovery codes renewed";
    RecoveryCodeUsed => "second_factor.recovery_code_used", "Recovery code used";
    PasskeyAdded => "second_factor.passkey_added", "Passkey added";
    PasskeyRemoved => "second_factor.passkey_removed", "Passkey removed";
    SteppedUp => "session.stepped_up", "Identity confirmed";
    MemberSuspended => "member.suspended", "Member suspended";
    MemberReactivated => "member.reactivated", "Member reactivated";
    MemberUpdated => "member.updated", "Member details changed";
    SsoLinked => "sso.linked", "Single sign-on linked";
    ScimTokenCreated => "scim_token.created", "SCIM token created";
    ScimTokenRevoked => "scim_token.revoked", "SCIM token revoked";
    PasswordSignInAllowed => "sso.password_allowed", "Break-glass password sign-in";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Success, Outcome::Failure]
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// How the actor authenticated: a person in a browser, a person's key, a legacy account key,
/// the admin command line, the identity provider (SCIM, or a role at single sign-on), or nobody
/// yet (a failed sign-in, a rejected key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    User,
    UserKey,
    AccountKey,
    /// A service account's key (`actor.service_account` names it).
    ServiceKey,
    Cli,
    Anonymous,
    /// The identity provider, provisioning with the account's SCIM token.
    Scim,
    /// The identity provider at a person's single sign-on (a role from its claim).
    Sso,
}

impl ActorType {
    pub const ALL: [ActorType; 8] = [
        ActorType::User,
        ActorType::UserKey,
        ActorType::AccountKey,
        ActorType::ServiceKey,
        ActorType::Cli,
        ActorType::Anonymous,
        ActorType::Scim,
        ActorType::Sso,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::UserKey => "user_key",
            ActorType::AccountKey => "account_key",
            ActorType::ServiceKey => "service_key",
            ActorType::Cli => "cli",
            ActorType::Anonymous => "anonymous",
            ActorType::Scim => "scim",
            ActorType::Sso => "sso",
        }
    }

    /// How the trail stores it: the first schema allows no `service_key`, so a service key is
    /// stored as a key no person holds (`account_key`) with the service account's columns set
    /// (see the service accounts migration).
    pub fn stored(self) -> &'static str {
        match self {
            ActorType::ServiceKey => ActorType::AccountKey.as_str(),
            other => other.as_str(),
        }
    }

    pub fn parse(text: &str) -> Option<ActorType> {
        ActorType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditActor {
    #[serde(rename = "type")]
    pub kind: ActorType,
    pub user: Option<User>,
    pub key_id: Option<String>,
    /// The key's name when it acted.
    pub key_name: Option<String>,
    /// The service account a service key acted for, with the name it had then.
    #[serde(default)]
    pub service_account: Option<ServiceAccountRef>,
}

/// The kinds of things an event can be about, as stored and sent (`target.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Key,
    User,
    Invite,
    Check,
    Account,
    ServiceAccount,
    /// One of the account's own permissions (its name is the id).
    Permission,
    /// A webhook endpoint (its URL is the label).
    Webhook,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Key => "key",
            TargetKind::User => "user",
            TargetKind::Invite => "invite",
            TargetKind::Check => "check",
            TargetKind::Account => "account",
            TargetKind::ServiceAccount => "service_account",
            TargetKind::Permission => "permission",
            TargetKind::Webhook => "webhook",
        }
    }
}

/// What an event is about: `{type: "key"|"user"|"invite"|"check"|"account", id, label}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    /// Its name or email when the event happened.
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: String,
    /// RFC 3339.
    pub time: String,
    pub account_id: Option<AccountId>,
    pub action: AuditAction,
    pub outcome: Outcome,
    pub actor: AuditActor,
    pub target: Option<AuditTarget>,
    /// Facts of this action, e.g. `{from, to}` for a role change, `{reason, count}` for a
    /// rejected key. Never a secret or a hash of one.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub details: serde_json::Value,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditList {
    pub events: Vec<AuditEvent>,
    /// Pass it back as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl AuditEvent {
    fn detail(&self, name: &str) -> Option<&str> {
        self.details.get(name).and_then(serde_json::Value::as_str)
    }

    /// Who acted, as a reader wants it: "alice@example.com (key “CI deploy”, from 10.1.2.3)".
    pub fn actor_phrase(&self) -> String {
        let actor = &self.actor;
        let who = match (actor.kind, &actor.user) {
            (ActorType::Cli, _) => "The admin command line".to_string(),
            (ActorType::Scim, _) => "The identity provider (SCIM)".to_string(),
            (ActorType::Sso, _) => "The identity provider (at sign-in)".to_string(),
            (ActorType::AccountKey, _) => "A legacy account key".to_string(),
            (ActorType::ServiceKey, _) => match &actor.service_account {
                Some(service_account) => format!("Service account “{}”", service_account.name),
                None => "A service account".to_string(),
            },
            (_, Some(user)) => user.email.clone(),
            (_, None) => "Someone".to_string(),
        };
        let mut how = Vec::new();
        if let (ActorType::UserKey | ActorType::ServiceKey, Some(name)) =
            (actor.kind, &actor.key_name)
        {
            how.push(format!("key “{name}”"));
        }
        if let (ActorType::AccountKey, Some(name)) = (actor.kind, &actor.key_name) {
            how.push(format!("“{name}”"));
        }
        if let Some(address) = &self.client_address {
            how.push(format!("from {address}"));
        }
        if how.is_empty() {
            who
        } else {
            format!("{who} ({})", how.join(", "))
        }
    }

    /// The event as one sentence: "alice@example.com (key “CI deploy”, from 10.1.2.3) revoked
    /// key “Grafana” of bob@example.com".
    pub fn sentence(&self) -> String {
        let actor = self.actor_phrase();
        let label = self
            .target
            .as_ref()
            .map(|target| target.label.as_str())
            .unwrap_or("");
        // "of bob@…" only when the key is someone else's than the actor's.
        let actor_email = self.actor.user.as_ref().map(|user| user.email.as_str());
        let of_owner = self
            .detail("owner")
            .filter(|owner| Some(*owner) != actor_email)
            .map(|owner| format!(" of {owner}"))
            .unwrap_or_default();
        let count = self
            .details
            .get("count")
            .and_then(serde_json::Value::as_u64)
            .filter(|count| *count > 1)
            .map(|count| format!(" ({count} times)"))
            .unwrap_or_default();
        match self.action {
            AuditAction::AccountCreated => format!("{actor} created the account “{label}”"),
            AuditAction::MemberInvited => format!(
                "{actor} invited {label} as {}",
                role_label(self.detail("role"))
            ),
            AuditAction::InviteWithdrawn => format!("{actor} withdrew the invite for {label}"),
            AuditAction::MemberJoined => {
                format!("{label} joined as {}", role_label(self.detail("role")))
            }
            AuditAction::MemberRoleChanged => format!(
                "{actor} changed the role of {label} from {} to {}",
                role_label(self.detail("from")),
                role_label(self.detail("to"))
            ),
            AuditAction::MemberRemoved => format!("{actor} removed {label} from the account"),
            AuditAction::MemberLeft => format!("{actor} left the account"),
            AuditAction::MemberSuspended => format!(
                "{actor} suspended {label}: their sessions and keys in this account stopped"
            ),
            AuditAction::MemberReactivated => format!(
                "{actor} reactivated {label}: their sessions and keys work again"
            ),
            AuditAction::MemberUpdated => format!("{actor} changed the details of {label}"),
            AuditAction::SsoLinked => format!(
                "{actor} linked their login to the identity provider's {}",
                self.detail("issuer").unwrap_or("single sign-on")
            ),
            AuditAction::ScimTokenCreated => format!(
                "{actor} created the account's SCIM token (new members: {})",
                role_label(self.detail("default_role"))
            ),
            AuditAction::ScimTokenRevoked => format!("{actor} revoked the account's SCIM token"),
            AuditAction::PasswordSignInAllowed => match self.details.get("allowed") {
                Some(serde_json::Value::Bool(false)) => format!(
                    "{actor} took back {label}'s password sign-in (single sign-on only again)"
                ),
                _ => format!(
                    "{actor} let {label} sign in with a password although the account requires single sign-on"
                ),
            },
            AuditAction::KeyCreated => format!("{actor} created key “{label}”{of_owner}"),
            AuditAction::KeyRevoked => format!("{actor} revoked key “{label}”{of_owner}"),
            AuditAction::KeyUpdated => format!("{actor} changed key “{label}”{of_owner}"),
            AuditAction::KeyRotated => format!(
                "{actor} rotated key “{label}”{of_owner}; the old secret works until {}",
                self.detail("old_key_stops_at").unwrap_or("now")
            ),
            AuditAction::KeyRejected => format!(
                "{actor} presented key “{label}”{of_owner}, which was refused: {}{count}",
                self.detail("reason").unwrap_or("refused")
            ),
            AuditAction::KeyLeakReported => {
                format!("{actor} reported key “{label}”{of_owner} as leaked; it was revoked")
            }
            AuditAction::LegacyKeysImported => format!(
                "{actor} imported {} legacy account key(s)",
                self.details
                    .get("count")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
            ),
            AuditAction::SessionSignedIn => format!("{actor} signed in"),
            AuditAction::SessionSignInFailed => match self.detail("reason") {
                Some("wrong_code") => {
                    format!("{actor} gave a wrong second-factor code for {label}{count}")
                }
                _ => format!("{actor} failed to sign in as {label}{count}"),
            },
            AuditAction::SessionSignedOut => format!("{actor} signed out"),
            AuditAction::PasswordChanged => format!("{actor} changed their password"),
            AuditAction::TotpEnabled => {
                format!("{actor} set up an authenticator app for signing in")
            }
            AuditAction::TotpRemoved => format!("{actor} removed their authenticator app"),
            AuditAction::PasskeyAdded => format!(
                "{actor} added a passkey ({})",
                self.detail("name").unwrap_or("unnamed")
            ),
            AuditAction::PasskeyRemoved => format!("{actor} removed a passkey"),
            AuditAction::RecoveryCodesRenewed => {
                format!("{actor} renewed their recovery codes; the old ones stopped working")
            }
            AuditAction::RecoveryCodeUsed => format!(
                "{actor} signed in with a recovery code ({} left)",
                self.details
                    .get("recovery_codes_left")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
            ),
            AuditAction::SteppedUp => format!(
                "{actor} confirmed it is them ({}) for sensitive actions",
                self.detail("method").unwrap_or("password")
            ),
            AuditAction::PolicyChanged => format!("{actor} changed the account's key policy"),
            AuditAction::CheckCreated => format!("{actor} created check “{label}”"),
            AuditAction::CheckUpdated => format!("{actor} changed check “{label}”"),
            AuditAction::CheckDeleted => format!("{actor} deleted check “{label}”"),
            AuditAction::ServiceAccountCreated => format!(
                "{actor} created service account “{label}” as {}",
                role_label(self.detail("role"))
            ),
            AuditAction::ServiceAccountUpdated => {
                format!("{actor} changed service account “{label}”")
            }
            AuditAction::ServiceAccountDeleted => {
                format!("{actor} deleted service account “{label}”; its keys stopped")
            }
            AuditAction::KeyAdopted => format!(
                "{actor} moved legacy key “{label}” under service account “{}”",
                self.detail("service_account_name").unwrap_or("?")
            ),
            AuditAction::PermissionDefined => format!(
                "{actor} defined the permission {label} for {} and up",
                role_label(self.detail("least_role"))
            ),
            AuditAction::PermissionUndefined => {
                format!("{actor} removed the permission {label}; no key holds it any more")
            }
            AuditAction::KeyExpiring => format!(
                "Key “{label}”{of_owner} expires at {}",
                self.detail("expires_at").unwrap_or("?")
            ),
            AuditAction::WebhookCreated => format!("{actor} added a webhook to {label}"),
            AuditAction::WebhookUpdated => format!("{actor} changed the webhook to {label}"),
            AuditAction::WebhookDeleted => format!("{actor} removed the webhook to {label}"),
            AuditAction::WebhookSecretRotated => format!(
                "{actor} rotated the signing secret of the webhook to {label}; the old one signs until {}",
                self.detail("previous_secret_until").unwrap_or("now")
            ),
            AuditAction::WebhookFailing => format!(
                "The webhook to {label} is failing: a delivery ran out of retries ({})",
                self.detail("error").unwrap_or("no answer")
            ),
        }
    }
}

fn role_label(role: Option<&str>) -> &'static str {
    role.and_then(crate::domain::Role::parse)
        .map(crate::domain::Role::label)
        .unwrap_or("an unknown role")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;
    use serde_json::json;

    fn event(action: AuditAction, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            id: "evt_1".into(),
            time: "2026-11-27T10:00:00Z".into(),
            account_id: None,
            action,
            outcome: Outcome::Success,
            actor: AuditActor {
                kind: ActorType::UserKey,
                user: Some(User {
                    id: UserId::parse("user_id", "usr_a").unwrap(),
                    email: "alice@example.com".into(),
                }),
                key_id: Some("key_ci".into()),
                key_name: Some("CI deploy".into()),
                service_account: None,
            },
            target: Some(AuditTarget {
                kind: "key".into(),
                id: "key_g".into(),
                label: "Grafana".into(),
            }),
            details,
            client_address: Some("10.1.2.3".into()),
            user_agent: None,
        }
    }

    #[test]
    fn an_event_reads_as_a_sentence_naming_person_key_address_and_target() {
        assert_eq!(
            event(AuditAction::KeyRevoked, json!({"owner": "bob@example.com"})).sentence(),
            "alice@example.com (key “CI deploy”, from 10.1.2.3) revoked key “Grafana” of bob@example.com"
        );
        let mut own = event(
            AuditAction::KeyCreated,
            json!({"owner": "alice@example.com"}),
        );
        own.client_address = None;
        assert_eq!(
            own.sentence(),
            "alice@example.com (key “CI deploy”) created key “Grafana”"
        );
        let mut change = event(
            AuditAction::MemberRoleChanged,
            json!({"from": "admin", "to": "read_only"}),
        );
        change.actor.kind = ActorType::User;
        change.client_address = None;
        change.target.as_mut().unwrap().label = "bob@example.com".into();
        assert_eq!(
            change.sentence(),
            "alice@example.com changed the role of bob@example.com from Admin to Read only"
        );
        let mut rejected = event(
            AuditAction::KeyRejected,
            json!({"reason": "revoked", "count": 12}),
        );
        rejected.actor = AuditActor {
            kind: ActorType::Anonymous,
            user: None,
            key_id: None,
            key_name: None,
            service_account: None,
        };
        assert_eq!(
            rejected.sentence(),
            "Someone (from 10.1.2.3) presented key “Grafana”, which was refused: revoked (12 times)"
        );
    }

    #[test]
    fn every_action_round_trips_its_spelling() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                json!(action.as_str())
            );
        }
        assert_eq!(AuditAction::parse("key.exploded"), None);
    }
}
