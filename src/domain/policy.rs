//! The access policy: the single place that says who may do what.
//!
//! Every server function asks [`allows`] (through the server's `Principal`) for the permission
//! its operation needs before it touches anything, and the UI asks the same function to decide
//! what to show. What a caller may do depends on their role in the account, on how they proved
//! who they are — a key is the credential most likely to leak, so it can do less than a browser
//! session of the same person (see "What a key can never do" in the README) — and, for a key, on
//! its grant (`permissions::Grant`).

use crate::domain::permissions::Permission;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A member's role in an account, ordered from least to most powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ReadOnly,
    ReadWrite,
    Admin,
}

/// How the caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A browser session (cookie) of a person.
    Session,
    /// A person's key: acts with its owner's current role, lowered to its cap.
    UserKey,
    /// A legacy account-scoped key: acts as Admin, belongs to nobody.
    AccountKey,
    /// A service account's key: acts with the service account's current role, lowered to its
    /// cap. It manages no members and no service accounts, and makes keys only when its grant
    /// names `keys:write`.
    ServiceKey,
}

impl Via {
    pub const ALL: [Via; 4] = [Via::Session, Via::UserKey, Via::AccountKey, Via::ServiceKey];
}

impl Permission {
    /// The least role that may use this permission through `via`; `None` when no role may use
    /// it that way at all. The access table, as code: a permission without a row here does not
    /// compile.
    pub fn least_role(self, via: Via) -> Option<Role> {
        use Permission::*;
        use Via::*;
        match (self, via) {
            (AccountRead | ChecksRead | MembersRead | ServiceAccountsRead, _) => {
                Some(Role::ReadOnly)
            }
            (ChecksWrite, _) => Some(Role::ReadWrite),
            // Legacy account keys have no person to own keys; a service key's own keys are its
            // service account's.
            (KeysRead, Session | UserKey | ServiceKey) => Some(Role::ReadOnly),
            (KeysRead | KeysWrite, AccountKey) => None,
            (KeysWrite, Session) => Some(Role::ReadOnly),
            // Through a key, changing keys is a write: a leaked Read only key must not mint
            // keys, re-arm itself by rotation, or revoke its owner's other keys. (A service key
            // also needs `keys:write` named in its grant: see `needs_explicit_grant`.)
            (KeysWrite, UserKey | ServiceKey) => Some(Role::ReadWrite),
            // A machine identity does not decide who is in the account.
            (MembersWrite, ServiceKey) => None,
            // Admins' keys may read the trail too: exporting it to a SIEM is a program's job.
            (AccountWrite | MembersWrite | AccountKeysRead | AccountKeysWrite | AuditRead, _) => {
                Some(Role::Admin)
            }
            // A service account outlives every key, so no key makes, changes or feeds one.
            (ServiceAccountsWrite, Session) => Some(Role::Admin),
            (ServiceAccountsWrite, UserKey | AccountKey | ServiceKey) => None,
            // A service behind keyward asks about the keys it is shown; the answer says no more
            // than the shown key could say of itself. A person in a browser has no service.
            (KeysVerify, UserKey | ServiceKey) => Some(Role::ReadOnly),
            (KeysVerify, Session | AccountKey) => None,
            // An endpoint outlives the key that could make it: a leaked key must not be able
            // to send the account's trail somewhere for good.
            (WebhooksWrite, Session) => Some(Role::Admin),
            (WebhooksWrite, UserKey | AccountKey | ServiceKey) => None,
            // The SCIM token adds and removes people for as long as it lives: no key makes one.
            (ScimWrite, Session) => Some(Role::Admin),
            (ScimWrite, UserKey | AccountKey | ServiceKey) => None,
            (LoginWrite, Session) => Some(Role::ReadOnly),
            (LoginWrite, UserKey | AccountKey | ServiceKey) => None,
        }
    }

    /// Whether only a person in a browser can use it: no key can, whatever it is granted.
    pub fn browser_only(self) -> bool {
        Via::ALL
            .into_iter()
            .filter(|via| *via != Via::Session)
            .all(|via| self.least_role(via).is_none())
    }

    /// Whether a key coming `via` holds this permission only when its grant names it, rather
    /// than by a grant of "everything its role allows": a leaked service key must not mint
    /// more keys for its service account unless someone chose to let it.
    pub fn needs_explicit_grant(self, via: Via) -> bool {
        match self {
            Permission::KeysWrite => via == Via::ServiceKey,
            // A verifier is a key made for it: an ordinary key of its owner does not become one.
            Permission::KeysVerify => true,
            _ => false,
        }
    }

    /// The least role a *key* needs for it, as the catalogue shows it (for sign-in, which no
    /// key can use, a browser's).
    pub fn least_role_of_a_key(self) -> Role {
        self.least_role(Via::UserKey)
            .or_else(|| self.least_role(Via::Session))
            .unwrap_or(Role::Admin)
    }
}

/// Whether a caller with `role`, authenticated `via`, may use `permission` (a key's grant is
/// checked apart, by `Grant::allows`).
pub fn allows(role: Role, via: Via, permission: Permission) -> bool {
    permission
        .least_role(via)
        .is_some_and(|least| role >= least)
}

impl Role {
    pub const ALL: [Role; 3] = [Role::ReadOnly, Role::ReadWrite, Role::Admin];

    /// The stable wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ReadOnly => "read_only",
            Role::ReadWrite => "read_write",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// How the UI names the role.
    pub fn label(self) -> &'static str {
        match self {
            Role::ReadOnly => "Read only",
            Role::ReadWrite => "Read & write",
            Role::Admin => "Admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a caller does to one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChange {
    Read,
    Revoke,
    /// A new name: changes nothing about what the key may do.
    Rename,
    /// A narrower grant (fewer permissions or checks): a key may give up what it holds.
    Narrow,
    /// New networks, a new rate limit, or a wider grant.
    Reguard,
    Rotate,
    /// A rotation whose successor belongs to a service account (off-boarding a person without
    /// breaking what their key runs).
    HandOver,
}

/// Whose key it is, as the caller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHolder {
    /// The key the request came with.
    CallingKey,
    /// Another key of the calling person.
    Own,
    /// Another person's key.
    OtherPersons,
    /// A legacy account key: nobody's.
    Legacy,
    /// A key of a service account the calling person is a custodian of (or, for a service
    /// key, of its own service account: see `Own`).
    CustodiedService,
    /// A key of a service account the caller has no charge of.
    OtherService,
}

/// A change to a key that no role allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Through a key, only that key itself may be rotated: a key must not mint a secret for a
    /// sibling that may do more than it.
    RotatingAnotherKeyThroughAKey,
    /// A rotation hands its caller a secret that acts as the key's owner: only the owner may
    /// hold one. An Admin revokes or narrows another person's key instead.
    RotatingAnotherPersonsKey,
    /// A stolen key must not loosen its own guards, nor its siblings'.
    ReguardingThroughAKey,
    /// A service account's keys are managed in the app, by its custodians and Admins.
    ServiceKeysThroughAKey,
    /// Only a person's key is handed over to a service account.
    HandingOverANonPersonsKey,
}

impl KeyRefusal {
    /// What the caller is told (with 403).
    pub fn message(self) -> &'static str {
        match self {
            KeyRefusal::RotatingAnotherKeyThroughAKey => {
                "Through a key, only the key itself can be rotated. Rotate other keys in the app."
            }
            KeyRefusal::RotatingAnotherPersonsKey => {
                "Only the key's owner can rotate it: its new secret would act as them. Revoke or narrow the key instead, and ask its owner to rotate it."
            }
            KeyRefusal::ReguardingThroughAKey => {
                "Networks, rate limits and wider grants are changed in the app: through a key, a key's guards do not change and its grant only narrows."
            }
            KeyRefusal::ServiceKeysThroughAKey => {
                "A service account's keys are managed in the app, by its custodians and Admins: not through a key."
            }
            KeyRefusal::HandingOverANonPersonsKey => {
                "Only a person's key can be handed over to a service account; a legacy account key is adopted instead (account-keys/adopt)."
            }
        }
    }
}

/// Who may do what to which key, in one place: the permission that doing `change` to a key of
/// `holder` needs (checked against the caller's role by [`allows`] and its grant), `None` for a
/// key revoking itself — which any key may, so a leaked key can always be killed with itself —
/// or the reason it is refused whatever the role. One's own keys are read with `keys:read` and
/// changed with `keys:write`; anyone else's need `account-keys:read` / `account-keys:write`.
/// Through a key guards do not change, grants only narrow, and only the calling key rotates;
/// nobody rotates another person's key — but an Admin may hand it over to a service account
/// (`service-accounts:write`, in a browser). A service account's keys are its custodians'
/// (`keys:*`) and the Admins' (`account-keys:*`), and are changed in the app only.
pub fn key_access(
    change: KeyChange,
    holder: KeyHolder,
    via: Via,
) -> Result<Option<Permission>, KeyRefusal> {
    use KeyChange::{HandOver, Narrow, Read, Reguard, Rename, Revoke, Rotate};
    use KeyHolder::{CallingKey, CustodiedService, Legacy, OtherPersons, OtherService, Own};
    let through_a_key = via != Via::Session;
    match (change, holder) {
        (HandOver, Own | OtherPersons) => Ok(Some(Permission::ServiceAccountsWrite)),
        (HandOver, CallingKey | Legacy | CustodiedService | OtherService) => {
            Err(KeyRefusal::HandingOverANonPersonsKey)
        }
        (Read, CustodiedService) => Ok(Some(Permission::KeysRead)),
        (Read, OtherService) => Ok(Some(Permission::AccountKeysRead)),
        (_, CustodiedService | OtherService) if through_a_key => {
            Err(KeyRefusal::ServiceKeysThroughAKey)
        }
        (_, CustodiedService) => Ok(Some(Permission::KeysWrite)),
        (_, OtherService) => Ok(Some(Permission::AccountKeysWrite)),
        (Reguard, _) if through_a_key => Err(KeyRefusal::ReguardingThroughAKey),
        (Rotate, Own | OtherPersons | Legacy) if through_a_key => {
            Err(KeyRefusal::RotatingAnotherKeyThroughAKey)
        }
        (Rotate, OtherPersons) => Err(KeyRefusal::RotatingAnotherPersonsKey),
        (Revoke, CallingKey) => Ok(None),
        (Read, CallingKey | Own) => Ok(Some(Permission::KeysRead)),
        (Revoke | Rename | Narrow | Reguard | Rotate, CallingKey | Own) => {
            Ok(Some(Permission::KeysWrite))
        }
        (Read, OtherPersons | Legacy) => Ok(Some(Permission::AccountKeysRead)),
        (_, OtherPersons | Legacy) => Ok(Some(Permission::AccountKeysWrite)),
    }
}

/// Who may make a key for a service account: its custodians (`keys:write`, as for their own)
/// and the Admins (`service-accounts:write`), in a browser — never through a key of someone
/// else's, so a leaked personal key cannot give itself a machine identity that outlives its
/// owner. (A service key makes keys for its own service account as its own keys.)
pub fn new_service_key_access(via: Via, custodian: bool) -> Result<Permission, KeyRefusal> {
    match (via, custodian) {
        (Via::UserKey | Via::AccountKey | Via::ServiceKey, _) => {
            Err(KeyRefusal::ServiceKeysThroughAKey)
        }
        (Via::Session, true) => Ok(Permission::KeysWrite),
        (Via::Session, false) => Ok(Permission::ServiceAccountsWrite),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (permission, credential) pair with what Read only, Read & write and Admin may do.
    /// A legacy account key acts as Admin, so its row reads in the last column. A service key
    /// manages no members, no service accounts and no sign-in.
    #[test]
    fn the_policy_table_of_the_design() {
        use Permission::*;
        use Via::*;
        #[rustfmt::skip]
        let expected = [
            (AccountRead,          Session,    [true , true , true ]),
            (AccountRead,          UserKey,    [true , true , true ]),
            (AccountRead,          AccountKey, [true , true , true ]),
            (AccountRead,          ServiceKey, [true , true , true ]),
            (AccountWrite,         Session,    [false, false, true ]),
            (AccountWrite,         UserKey,    [false, false, true ]),
            (AccountWrite,         AccountKey, [false, false, true ]),
            (AccountWrite,         ServiceKey, [false, false, true ]),
            (ChecksRead,           Session,    [true , true , true ]),
            (ChecksRead,           UserKey,    [true , true , true ]),
            (ChecksRead,           AccountKey, [true , true , true ]),
            (ChecksRead,           ServiceKey, [true , true , true ]),
            (ChecksWrite,          Session,    [false, true , true ]),
            (ChecksWrite,          UserKey,    [false, true , true ]),
            (ChecksWrite,          AccountKey, [false, true , true ]),
            (ChecksWrite,          ServiceKey, [false, true , true ]),
            (MembersRead,          Session,    [true , true , true ]),
            (MembersRead,          UserKey,    [true , true , true ]),
            (MembersRead,          AccountKey, [true , true , true ]),
            (MembersRead,          ServiceKey, [true , true , true ]),
            (MembersWrite,         Session,    [false, false, true ]),
            (MembersWrite,         UserKey,    [false, false, true ]),
            (MembersWrite,         AccountKey, [false, false, true ]),
            (MembersWrite,         ServiceKey, [false, false, false]),
            (KeysRead,             Session,    [true , true , true ]),
            (KeysRead,             UserKey,    [true , true , true ]),
            (KeysRead,             AccountKey, [false, false, false]),
            (KeysRead,             ServiceKey, [true , true , true ]),
            (KeysWrite,            Session,    [true , true , true ]),
            (KeysWrite,            UserKey,    [false, true , true ]),
            (KeysWrite,            AccountKey, [false, false, false]),
            (KeysWrite,            ServiceKey, [false, true , true ]),
            (AccountKeysRead,      Session,    [false, false, true ]),
            (AccountKeysRead,      UserKey,    [false, false, true ]),
            (AccountKeysRead,      AccountKey, [false, false, true ]),
            (AccountKeysRead,      ServiceKey, [false, false, true ]),
            (AccountKeysWrite,     Session,    [false, false, true ]),
            (AccountKeysWrite,     UserKey,    [false, false, true ]),
            (AccountKeysWrite,     AccountKey, [false, false, true ]),
            (AccountKeysWrite,     ServiceKey, [false, false, true ]),
            (AuditRead,            Session,    [false, false, true ]),
            (AuditRead,            UserKey,    [false, false, true ]),
            (AuditRead,            AccountKey, [false, false, true ]),
            (AuditRead,            ServiceKey, [false, false, true ]),
            (ServiceAccountsRead,  Session,    [true , true , true ]),
            (ServiceAccountsRead,  UserKey,    [true , true , true ]),
            (ServiceAccountsRead,  AccountKey, [true , true , true ]),
            (ServiceAccountsRead,  ServiceKey, [true , true , true ]),
            (ServiceAccountsWrite, Session,    [false, false, true ]),
            (ServiceAccountsWrite, UserKey,    [false, false, false]),
            (ServiceAccountsWrite, AccountKey, [false, false, false]),
            (ServiceAccountsWrite, ServiceKey, [false, false, false]),
            (KeysVerify,           Session,    [false, false, false]),
            (KeysVerify,           UserKey,    [true , true , true ]),
            (KeysVerify,           AccountKey, [false, false, false]),
            (KeysVerify,           ServiceKey, [true , true , true ]),
            (WebhooksWrite,        Session,    [false, false, true ]),
            (WebhooksWrite,        UserKey,    [false, false, false]),
            (WebhooksWrite,        AccountKey, [false, false, false]),
            (WebhooksWrite,        ServiceKey, [false, false, false]),
            (ScimWrite,            Session,    [false, false, true ]),
            (ScimWrite,            UserKey,    [false, false, false]),
            (ScimWrite,            AccountKey, [false, false, false]),
            (ScimWrite,            ServiceKey, [false, false, false]),
            (LoginWrite,           Session,    [true , true , true ]),
            (LoginWrite,           UserKey,    [false, false, false]),
            (LoginWrite,           AccountKey, [false, false, false]),
            (LoginWrite,           ServiceKey, [false, false, false]),
        ];
        assert_eq!(
            expected.len(),
            Permission::ALL.len() * Via::ALL.len(),
            "every permission needs a row per credential"
        );
        for (permission, via, allowed) in expected {
            for (role, allowed) in Role::ALL.into_iter().zip(allowed) {
                assert_eq!(
                    allows(role, via, permission),
                    allowed,
                    "{role:?} {via:?} {permission:?}"
                );
            }
        }
    }

    #[test]
    fn only_custodians_and_admins_in_a_browser_make_a_service_accounts_keys() {
        assert_eq!(
            new_service_key_access(Via::Session, true),
            Ok(Permission::KeysWrite)
        );
        assert_eq!(
            new_service_key_access(Via::Session, false),
            Ok(Permission::ServiceAccountsWrite)
        );
        for via in [Via::UserKey, Via::AccountKey, Via::ServiceKey] {
            for custodian in [true, false] {
                assert_eq!(
                    new_service_key_access(via, custodian),
                    Err(KeyRefusal::ServiceKeysThroughAKey),
                    "{via:?}"
                );
            }
        }
        // An Admin's browser may; a Read & write person who is not a custodian may not.
        assert!(allows(
            Role::Admin,
            Via::Session,
            Permission::ServiceAccountsWrite
        ));
        assert!(!allows(
            Role::ReadWrite,
            Via::Session,
            Permission::ServiceAccountsWrite
        ));
        assert!(Permission::KeysWrite.needs_explicit_grant(Via::ServiceKey));
        assert!(!Permission::KeysWrite.needs_explicit_grant(Via::UserKey));
    }

    #[test]
    fn roles_are_ordered_by_power_and_round_trip_their_names() {
        assert!(Role::ReadOnly < Role::ReadWrite && Role::ReadWrite < Role::Admin);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("owner"), None);
        assert_eq!(
            serde_json::to_string(&Role::ReadWrite).unwrap(),
            "\"read_write\""
        );
    }

    /// Every (change, holder, credential) with what the policy answers. A row per triple: a new
    /// change or holder fails here until someone has decided.
    #[test]
    fn who_may_do_what_to_which_key() {
        use KeyChange::*;
        use KeyHolder::*;
        use KeyRefusal::*;
        let read_own = Ok(Some(Permission::KeysRead));
        let own = Ok(Some(Permission::KeysWrite));
        let read_admin = Ok(Some(Permission::AccountKeysRead));
        let admin = Ok(Some(Permission::AccountKeysWrite));
        let hand_over = Ok(Some(Permission::ServiceAccountsWrite));
        let itself = Ok(None);
        let in_the_app = Err(ServiceKeysThroughAKey);
        let reguard = Err(ReguardingThroughAKey);
        let rotate_other = Err(RotatingAnotherKeyThroughAKey);
        let not_a_person = Err(HandingOverANonPersonsKey);
        #[rustfmt::skip]
        let table = [
            // change    holder            session           user key      legacy key    service key
            (Read,     CallingKey,       [read_own,          read_own,     read_own,     read_own]),
            (Read,     Own,              [read_own,          read_own,     read_own,     read_own]),
            (Read,     OtherPersons,     [read_admin,        read_admin,   read_admin,   read_admin]),
            (Read,     Legacy,           [read_admin,        read_admin,   read_admin,   read_admin]),
            (Read,     CustodiedService, [read_own,          read_own,     read_own,     read_own]),
            (Read,     OtherService,     [read_admin,        read_admin,   read_admin,   read_admin]),
            (Revoke,   CallingKey,       [itself,            itself,       itself,       itself]),
            (Revoke,   Own,              [own,               own,          own,          own]),
            (Revoke,   OtherPersons,     [admin,             admin,        admin,        admin]),
            (Revoke,   Legacy,           [admin,             admin,        admin,        admin]),
            (Revoke,   CustodiedService, [own,               in_the_app,   in_the_app,   in_the_app]),
            (Revoke,   OtherService,     [admin,             in_the_app,   in_the_app,   in_the_app]),
            (Rename,   CallingKey,       [own,               own,          own,          own]),
            (Rename,   Own,              [own,               own,          own,          own]),
            (Rename,   OtherPersons,     [admin,             admin,        admin,        admin]),
            (Rename,   Legacy,           [admin,             admin,        admin,        admin]),
            (Rename,   CustodiedService, [own,               in_the_app,   in_the_app,   in_the_app]),
            (Rename,   OtherService,     [admin,             in_the_app,   in_the_app,   in_the_app]),
            (Narrow,   CallingKey,       [own,               own,          own,          own]),
            (Narrow,   Own,              [own,               own,          own,          own]),
            (Narrow,   OtherPersons,     [admin,             admin,        admin,        admin]),
            (Narrow,   Legacy,           [admin,             admin,        admin,        admin]),
            (Narrow,   CustodiedService, [own,               in_the_app,   in_the_app,   in_the_app]),
            (Narrow,   OtherService,     [admin,             in_the_app,   in_the_app,   in_the_app]),
            (Reguard,  CallingKey,       [own,               reguard,      reguard,      reguard]),
            (Reguard,  Own,              [own,               reguard,      reguard,      reguard]),
            (Reguard,  OtherPersons,     [admin,             reguard,      reguard,      reguard]),
            (Reguard,  Legacy,           [admin,             reguard,      reguard,      reguard]),
            (Reguard,  CustodiedService, [own,               in_the_app,   in_the_app,   in_the_app]),
            (Reguard,  OtherService,     [admin,             in_the_app,   in_the_app,   in_the_app]),
            (Rotate,   CallingKey,       [own,               own,          own,          own]),
            (Rotate,   Own,              [own,               rotate_other, rotate_other, rotate_other]),
            (Rotate,   OtherPersons,     [Err(RotatingAnotherPersonsKey), rotate_other, rotate_other, rotate_other]),
            (Rotate,   Legacy,           [admin,             rotate_other, rotate_other, rotate_other]),
            (Rotate,   CustodiedService, [own,               in_the_app,   in_the_app,   in_the_app]),
            (Rotate,   OtherService,     [admin,             in_the_app,   in_the_app,   in_the_app]),
            (HandOver, CallingKey,       [not_a_person,      not_a_person, not_a_person, not_a_person]),
            (HandOver, Own,              [hand_over,         hand_over,    hand_over,    hand_over]),
            (HandOver, OtherPersons,     [hand_over,         hand_over,    hand_over,    hand_over]),
            (HandOver, Legacy,           [not_a_person,      not_a_person, not_a_person, not_a_person]),
            (HandOver, CustodiedService, [not_a_person,      not_a_person, not_a_person, not_a_person]),
            (HandOver, OtherService,     [not_a_person,      not_a_person, not_a_person, not_a_person]),
        ];
        assert_eq!(table.len(), 7 * 6, "every change needs a row per holder");
        for (change, holder, answers) in table {
            for (via, expected) in Via::ALL.into_iter().zip(answers) {
                assert_eq!(
                    key_access(change, holder, via),
                    expected,
                    "{change:?} of {holder:?} {via:?}"
                );
            }
        }
    }
}
