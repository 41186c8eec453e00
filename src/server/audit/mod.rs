//! The audit trail's write side: what an event is made of, how it is chained, and the one way
//! it is stored — inside the transaction of the change it records (`stores::audit::append`).
//!
//! A server function builds its event from the caller ([`Principal::audit`]) and hands it to
//! the store that makes the change; the store appends it before committing. So a change cannot
//! commit without its event, nor an event without its change, and a store that changes
//! something cannot be called without an event to write.

use crate::domain::audit::TargetKind;
use crate::domain::time::{now_millis, Millis};
use crate::domain::{
    audit::{ActorType, AuditAction, Outcome},
    ids::{AccountId, KeyId, UserId},
    views::{ServiceAccountRef, User, Via},
};
use crate::server::keys::secret::{to_hex, KeyHasher};
use crate::server::request::{client_of, with_request, RequestHead};
use crate::server::{AppState, Principal};
use axum::http::{header::USER_AGENT, HeaderValue};
use serde_json::{json, Value};
pub mod checkpoints;
pub mod query;
pub mod repeats;
pub mod verify;

/// Who acted.
#[derive(Clone, Debug)]
pub struct Actor {
    pub kind: ActorType,
    pub user: Option<User>,
    pub key_id: Option<KeyId>,
    pub key_name: Option<String>,
    /// The service account a service key acts for.
    pub service_account: Option<ServiceAccountRef>,
}

impl Actor {
    pub fn person(user: &User) -> Actor {
        Actor {
            kind: ActorType::User,
            user: Some(user.clone()),
            key_id: None,
            key_name: None,
            service_account: None,
        }
    }

    pub fn cli() -> Actor {
        Actor {
            kind: ActorType::Cli,
            user: None,
            key_id: None,
            key_name: None,
            service_account: None,
        }
    }

    /// The identity provider, changing members through SCIM.
    pub fn scim() -> Actor {
        Actor {
            kind: ActorType::Scim,
            user: None,
            key_id: None,
            key_name: None,
            service_account: None,
        }
    }

    /// The identity provider at a person's single sign-on (setting their role from a claim).
    pub fn sso() -> Actor {
        Actor {
            kind: ActorType::Sso,
            user: None,
            key_id: None,
            key_name: None,
            service_account: None,
        }
    }

    pub fn anonymous() -> Actor {
        Actor {
            kind: ActorType::Anonymous,
            user: None,
            key_id: None,
            key_name: None,
            service_account: None,
        }
    }
}

/// What an event is about.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: TargetKind,
    pub id: String,
    pub label: String,
}

impl Target {
    pub fn key(id: &KeyId, name: &str) -> Target {
        Target {
            kind: TargetKind::Key,
            id: id.to_string(),
            label: name.to_string(),
        }
    }

    pub fn user(id: &UserId, email: &str) -> Target {
        Target {
            kind: TargetKind::User,
            id: id.to_string(),
            label: email.to_string(),
        }
    }

    pub fn new(kind: TargetKind, id: impl ToString, label: &str) -> Target {
        Target {
            kind,
            id: id.to_string(),
            label: label.to_string(),
        }
    }
}

/// Where a request came from.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Longer user agents are cut: the trail is evidence, not a place to store whatever a client
/// sends.
const MAX_USER_AGENT_CHARS: usize = 200;

impl Origin {
    /// The client address and user agent of the request being served.
    pub fn of_request(state: &AppState) -> Origin {
        with_request(|parts| Origin {
            client_address: client_of(parts, &state.config.trusted_proxies)
                .map(|ip| ip.to_string()),
            user_agent: user_agent(parts.headers.get(USER_AGENT)),
        })
        .unwrap_or_default()
    }

    /// The client address and user agent of a request's head.
    pub fn of_head(head: &RequestHead) -> Origin {
        Origin {
            client_address: head.address.map(|ip| ip.to_string()),
            user_agent: user_agent(head.user_agent.as_ref()),
        }
    }
}

/// A user agent as the trail records it: text, cut to a length a log line can hold.
fn user_agent(header: Option<&HeaderValue>) -> Option<String> {
    header
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect())
}

/// One event, ready to be appended to its account's chain (with the key that chains it).
#[derive(Clone)]
pub struct Event {
    hasher: KeyHasher,
    pub account_id: AccountId,
    pub time: Millis,
    pub action: AuditAction,
    pub outcome: Outcome,
    pub actor: Actor,
    pub target: Option<Target>,
    pub details: Value,
    pub origin: Origin,
    /// For `key.updated`: whether the key's guards changed (a rename alone changes no key
    /// check, see `stores::key_checks::changes_key_checks`).
    pub guards_changed: bool,
}

impl Event {
    pub fn new(
        hasher: &KeyHasher,
        account_id: &AccountId,
        action: AuditAction,
        actor: Actor,
        origin: Origin,
    ) -> Event {
        Event {
            hasher: hasher.clone(),
            account_id: account_id.clone(),
            time: now_millis(),
            action,
            outcome: Outcome::Success,
            actor,
            target: None,
            details: json!({}),
            origin,
            guards_changed: false,
        }
    }

    pub fn guards_changed(self, guards_changed: bool) -> Event {
        Event {
            guards_changed,
            ..self
        }
    }

    pub fn target(self, target: Target) -> Event {
        Event {
            target: Some(target),
            ..self
        }
    }

    /// Facts of the action; must be a JSON object.
    pub fn details(self, details: Value) -> Event {
        debug_assert!(details.is_object());
        Event { details, ..self }
    }

    /// The same event, of another action (one request that makes several changes).
    pub fn of_action(self, action: AuditAction) -> Event {
        Event { action, ..self }
    }

    pub fn failed(self) -> Event {
        Event {
            outcome: Outcome::Failure,
            ..self
        }
    }

    pub fn at(self, time: Millis) -> Event {
        Event { time, ..self }
    }

    /// The key this event's link in the chain is made with.
    pub fn chain_key(&self) -> &KeyHasher {
        &self.hasher
    }

    /// The same event in another account (a failed sign-in is told to every account of the
    /// person).
    pub fn in_account(&self, account_id: &AccountId) -> Event {
        Event {
            account_id: account_id.clone(),
            ..self.clone()
        }
    }
}

impl Principal {
    /// An event of `action` done by this caller, from this request.
    pub fn audit(&self, state: &AppState, action: AuditAction) -> Event {
        let kind = match self.via {
            Via::Session => ActorType::User,
            Via::UserKey => ActorType::UserKey,
            Via::AccountKey => ActorType::AccountKey,
            Via::ServiceKey => ActorType::ServiceKey,
        };
        let actor = Actor {
            kind,
            user: self.user.clone(),
            key_id: self.key.as_ref().map(|key| key.id.clone()),
            key_name: self.key.as_ref().map(|key| key.name.clone()),
            service_account: self.service_account.clone(),
        };
        Event::new(
            &state.key_hasher,
            self.account_id(),
            action,
            actor,
            Origin::of_request(state),
        )
    }
}

/// The fields of a stored event, in the order the chain hashes them.
pub struct ChainedFields<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub seq: i64,
    pub time: i64,
    pub action: &'a str,
    pub outcome: &'a str,
    pub actor_type: &'a str,
    pub actor_user_id: Option<&'a str>,
    pub actor_email: Option<&'a str>,
    pub actor_key_id: Option<&'a str>,
    pub actor_key_name: Option<&'a str>,
    /// Set for a service key's events only; older events hash without them.
    pub actor_service_account_id: Option<&'a str>,
    pub actor_service_account_name: Option<&'a str>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub target_label: Option<&'a str>,
    pub details: &'a str,
    pub client_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub prev_hash: &'a str,
}

impl ChainedFields<'_> {
    /// The link: a keyed hash (HMAC with the deployment's pepper) of every field and of the
    /// previous link. Without the pepper, which is not in the database, someone who can write
    /// to the database cannot forge a consistent chain after editing an event.
    pub fn hash(&self, hasher: &KeyHasher) -> String {
        // A JSON array is an unambiguous encoding: no field can run into the next. The service
        // account's fields come last, and only when set, so links made before they existed
        // verify unchanged.
        let mut encoded = json!([
            self.id,
            self.account_id,
            self.seq,
            self.time,
            self.action,
            self.outcome,
            self.actor_type,
            self.actor_user_id,
            self.actor_email,
            self.actor_key_id,
            self.actor_key_name,
            self.target_type,
            self.target_id,
            self.target_label,
            self.details,
            self.client_address,
            self.user_agent,
            self.prev_hash,
        ]);
        if self.actor_service_account_id.is_some() || self.actor_service_account_name.is_some() {
            if let Some(fields) = encoded.as_array_mut() {
                fields.push(json!(self.actor_service_account_id));
                fields.push(json!(self.actor_service_account_name));
            }
        }
        let encoded = encoded.to_string();
        to_hex(&hasher.hash_bytes(b"audit-chain", encoded.as_bytes()))
    }
}
