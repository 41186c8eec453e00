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
}

impl Via {
    pub const ALL: [Via; 3] = [Via::Session, Via::UserKey, Via::AccountKey];
}

impl Permission {
    /// The least role that may use this permission through `via`; `None` when no role may use
    /// it that way at all. The access table, as code: a permission without a row here does not
    /// compile.
    pub fn least_role(self, via: Via) -> Option<Role> {
        use Permission::*;
        use Via::*;
        match (self, via) {
            (AccountRead | ChecksRead | MembersRead, _) => Some(Role::ReadOnly),
            (ChecksWrite, _) => Some(Role::ReadWrite),
            // Legacy account keys have no person to own keys.
            (KeysRead, Session | UserKey) => Some(Role::ReadOnly),
            (KeysRead | KeysWrite, AccountKey) => None,
            (KeysWrite, Session) => Some(Role::ReadOnly),
            // Through a key, changing keys is a write: a leaked Read only key must not mint
            // keys, re-arm itself by rotation, or revoke its owner's other keys.
            (KeysWrite, UserKey) => Some(Role::ReadWrite),
            // Admins' keys may read the trail too: exporting it to a SIEM is a program's job.
            (AccountWrite | MembersWrite | AccountKeysRead | AccountKeysWrite | AuditRead, _) => {
                Some(Role::Admin)
            }
            (LoginWrite, Session) => Some(Role::ReadOnly),
            (LoginWrite, UserKey | AccountKey) => None,
        }
    }

    /// Whether only a person in a browser can use it: no key can, whatever it is granted.
    pub fn browser_only(self) -> bool {
        self.least_role(Via::UserKey).is_none() && self.least_role(Via::AccountKey).is_none()
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
        }
    }
}

/// Who may do what to which key, in one place: the permission that doing `change` to a key of
/// `holder` needs (checked against the caller's role by [`allows`] and its grant), `None` for a
/// key revoking itself — which any key may, so a leaked key can always be killed with itself —
/// or the reason it is refused whatever the role. One's own keys are read with `keys:read` and
/// changed with `keys:write`; anyone else's need `account-keys:read` / `account-keys:write`.
/// Through a key (`via` a user or legacy key) guards do not change, grants only narrow, and
/// only the calling key rotates; nobody rotates another person's key.
pub fn key_access(
    change: KeyChange,
    holder: KeyHolder,
    via: Via,
) -> Result<Option<Permission>, KeyRefusal> {
    use KeyChange::{Narrow, Read, Reguard, Rename, Revoke, Rotate};
    use KeyHolder::{CallingKey, Legacy, OtherPersons, Own};
    let through_a_key = via != Via::Session;
    match (change, holder) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (permission, credential) pair with what Read only, Read & write and Admin may do.
    /// A legacy account key acts as Admin, so its row reads in the last column.
    #[test]
    fn the_policy_table_of_the_design() {
        use Permission::*;
        use Via::*;
        #[rustfmt::skip]
        let expected = [
            (AccountRead,      Session,    [true,  true,  true]),
            (AccountRead,      UserKey,    [true,  true,  true]),
            (AccountRead,      AccountKey, [true,  true,  true]),
            (AccountWrite,     Session,    [false, false, true]),
            (AccountWrite,     UserKey,    [false, false, true]),
            (AccountWrite,     AccountKey, [false, false, true]),
            (ChecksRead,       Session,    [true,  true,  true]),
            (ChecksRead,       UserKey,    [true,  true,  true]),
            (ChecksRead,       AccountKey, [true,  true,  true]),
            (ChecksWrite,      Session,    [false, true,  true]),
            (ChecksWrite,      UserKey,    [false, true,  true]),
            (ChecksWrite,      AccountKey, [false, true,  true]),
            (MembersRead,      Session,    [true,  true,  true]),
            (MembersRead,      UserKey,    [true,  true,  true]),
            (MembersRead,      AccountKey, [true,  true,  true]),
            (MembersWrite,     Session,    [false, false, true]),
            (MembersWrite,     UserKey,    [false, false, true]),
            (MembersWrite,     AccountKey, [false, false, true]),
            (KeysRead,         Session,    [true,  true,  true]),
            (KeysRead,         UserKey,    [true,  true,  true]),
            (KeysRead,         AccountKey, [false, false, false]),
            (KeysWrite,        Session,    [true,  true,  true]),
            (KeysWrite,        UserKey,    [false, true,  true]),
            (KeysWrite,        AccountKey, [false, false, false]),
            (AccountKeysRead,  Session,    [false, false, true]),
            (AccountKeysRead,  UserKey,    [false, false, true]),
            (AccountKeysRead,  AccountKey, [false, false, true]),
            (AccountKeysWrite, Session,    [false, false, true]),
            (AccountKeysWrite, UserKey,    [false, false, true]),
            (AccountKeysWrite, AccountKey, [false, false, true]),
            (AuditRead,        Session,    [false, false, true]),
            (AuditRead,        UserKey,    [false, false, true]),
            (AuditRead,        AccountKey, [false, false, true]),
            (LoginWrite,       Session,    [true,  true,  true]),
            (LoginWrite,       UserKey,    [false, false, false]),
            (LoginWrite,       AccountKey, [false, false, false]),
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
        let itself = Ok(None);
        #[rustfmt::skip]
        let table = [
            // change   holder        in a session                  through a user key                       through a legacy key
            (Read,    CallingKey,   [read_own,                     read_own,                           read_own]),
            (Read,    Own,          [read_own,                     read_own,                           read_own]),
            (Read,    OtherPersons, [read_admin,                   read_admin,                         read_admin]),
            (Read,    Legacy,       [read_admin,                   read_admin,                         read_admin]),
            (Revoke,  CallingKey,   [itself,                       itself,                             itself]),
            (Revoke,  Own,          [own,                          own,                                own]),
            (Revoke,  OtherPersons, [admin,                        admin,                              admin]),
            (Revoke,  Legacy,       [admin,                        admin,                              admin]),
            (Rename,  CallingKey,   [own,                          own,                                own]),
            (Rename,  Own,          [own,                          own,                                own]),
            (Rename,  OtherPersons, [admin,                        admin,                              admin]),
            (Rename,  Legacy,       [admin,                        admin,                              admin]),
            (Narrow,  CallingKey,   [own,                          own,                                own]),
            (Narrow,  Own,          [own,                          own,                                own]),
            (Narrow,  OtherPersons, [admin,                        admin,                              admin]),
            (Narrow,  Legacy,       [admin,                        admin,                              admin]),
            (Reguard, CallingKey,   [own,                          Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Reguard, Own,          [own,                          Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Reguard, OtherPersons, [admin,                        Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Reguard, Legacy,       [admin,                        Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Rotate,  CallingKey,   [own,                          own,                                own]),
            (Rotate,  Own,          [own,                          Err(RotatingAnotherKeyThroughAKey), Err(RotatingAnotherKeyThroughAKey)]),
            (Rotate,  OtherPersons, [Err(RotatingAnotherPersonsKey), Err(RotatingAnotherKeyThroughAKey), Err(RotatingAnotherKeyThroughAKey)]),
            (Rotate,  Legacy,       [admin,                        Err(RotatingAnotherKeyThroughAKey), Err(RotatingAnotherKeyThroughAKey)]),
        ];
        assert_eq!(table.len(), 6 * 4, "every change needs a row per holder");
        for (change, holder, answers) in table {
            for (via, expected) in [Via::Session, Via::UserKey, Via::AccountKey]
                .into_iter()
                .zip(answers)
            {
                assert_eq!(
                    key_access(change, holder, via),
                    expected,
                    "{change:?} of {holder:?} {via:?}"
                );
            }
        }
    }
}
