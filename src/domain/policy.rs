//! The access policy: the single place that says who may do what.
//!
//! Every server function asks [`allows`] (through the server's `Principal`) before it touches
//! anything, and the UI asks the same function to decide what to show. What a caller may do
//! depends on two things: their role in the account, and how they proved who they are — a key
//! is the credential most likely to leak, so it can do less than a browser session of the same
//! person (see "What a key can never do" in the README).

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

/// Everything a caller can ask keyward to do, at the granularity the policy cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read checks, list members, describe oneself.
    Read,
    /// Create, update or delete checks.
    WriteChecks,
    /// List the caller's own keys (needs a person to own them).
    ListOwnKeys,
    /// Create, rotate, update or revoke one's own keys — other than the calling key itself.
    ChangeOwnKeys,
    /// A key revoking itself: always allowed, so a leaked key can be killed with itself.
    RevokeCallingKey,
    /// Invite members, list and withdraw invites, change roles, remove other members.
    ManageMembers,
    /// List every key of the account (legacy ones included), revoke any of them, and set the
    /// account's key policy.
    ManageAccountKeys,
    /// Sign out, switch account, change one's password, leave an account: things a person
    /// does in a browser, never a program holding a key.
    ManageOwnLogin,
    /// Read the audit trail, export it, and ask whose key a secret is.
    ReadAudit,
}

impl Action {
    /// Every action, for exhaustive tests of the policy.
    pub const ALL: [Action; 9] = [
        Action::Read,
        Action::WriteChecks,
        Action::ListOwnKeys,
        Action::ChangeOwnKeys,
        Action::RevokeCallingKey,
        Action::ManageMembers,
        Action::ManageAccountKeys,
        Action::ManageOwnLogin,
        Action::ReadAudit,
    ];

    /// The least role that may perform this action through `via`; `None` when no role may do
    /// it that way at all. The access table, as code.
    pub fn least_role(self, via: Via) -> Option<Role> {
        use Action::*;
        use Via::*;
        match (self, via) {
            (Read, _) => Some(Role::ReadOnly),
            (WriteChecks, _) => Some(Role::ReadWrite),
            // Legacy account keys have no person to own keys.
            (ListOwnKeys, Session | UserKey) => Some(Role::ReadOnly),
            (ListOwnKeys, AccountKey) => None,
            (ChangeOwnKeys, Session) => Some(Role::ReadOnly),
            // Through a key, changing keys is a write: a leaked Read only key must not mint
            // keys, re-arm itself by rotation, or revoke its owner's other keys.
            (ChangeOwnKeys, UserKey) => Some(Role::ReadWrite),
            (ChangeOwnKeys, AccountKey) => None,
            (RevokeCallingKey, UserKey | AccountKey) => Some(Role::ReadOnly),
            (RevokeCallingKey, Session) => None,
            // Admins' keys may read the trail too: exporting it to a SIEM is a program's job.
            (ManageMembers | ManageAccountKeys | ReadAudit, _) => Some(Role::Admin),
            (ManageOwnLogin, Session) => Some(Role::ReadOnly),
            (ManageOwnLogin, UserKey | AccountKey) => None,
        }
    }
}

/// Whether a caller with `role`, authenticated `via`, may perform `action`.
pub fn allows(role: Role, via: Via, action: Action) -> bool {
    action.least_role(via).is_some_and(|least| role >= least)
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
    /// New networks or a new rate limit.
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
                "Networks and rate limits are changed in the app: a key cannot change the guards of keys."
            }
        }
    }
}

/// Who may do what to which key, in one place: the action that doing `change` to a key of
/// `holder` needs (checked against the caller's role by [`allows`]), or the reason it is refused
/// whatever the role. Any key may revoke itself; one's own keys are read with `ListOwnKeys` and
/// changed with `ChangeOwnKeys`; anyone else's need `ManageAccountKeys` (Admin). Through a key
/// (`via` a user or legacy key) guards do not change and only the calling key rotates; nobody
/// rotates another person's key.
pub fn key_access(change: KeyChange, holder: KeyHolder, via: Via) -> Result<Action, KeyRefusal> {
    use KeyChange::{Read, Reguard, Rename, Revoke, Rotate};
    use KeyHolder::{CallingKey, Legacy, OtherPersons, Own};
    let through_a_key = via != Via::Session;
    match (change, holder) {
        (Reguard, _) if through_a_key => Err(KeyRefusal::ReguardingThroughAKey),
        (Rotate, Own | OtherPersons | Legacy) if through_a_key => {
            Err(KeyRefusal::RotatingAnotherKeyThroughAKey)
        }
        (Rotate, OtherPersons) => Err(KeyRefusal::RotatingAnotherPersonsKey),
        (Revoke, CallingKey) => Ok(Action::RevokeCallingKey),
        (Read, CallingKey | Own) => Ok(Action::ListOwnKeys),
        (Revoke | Rename | Reguard | Rotate, CallingKey | Own) => Ok(Action::ChangeOwnKeys),
        (_, OtherPersons | Legacy) => Ok(Action::ManageAccountKeys),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (action, credential) pair with what Read only, Read & write and Admin may do.
    /// A legacy account key acts as Admin, so its row reads in the last column.
    #[test]
    fn the_policy_table_of_the_design() {
        use Action::*;
        use Via::*;
        #[rustfmt::skip]
        let expected = [
            (Read,              Session,    [true,  true,  true]),
            (Read,              UserKey,    [true,  true,  true]),
            (Read,              AccountKey, [true,  true,  true]),
            (WriteChecks,       Session,    [false, true,  true]),
            (WriteChecks,       UserKey,    [false, true,  true]),
            (WriteChecks,       AccountKey, [false, true,  true]),
            (ListOwnKeys,       Session,    [true,  true,  true]),
            (ListOwnKeys,       UserKey,    [true,  true,  true]),
            (ListOwnKeys,       AccountKey, [false, false, false]),
            (ChangeOwnKeys,     Session,    [true,  true,  true]),
            (ChangeOwnKeys,     UserKey,    [false, true,  true]),
            (ChangeOwnKeys,     AccountKey, [false, false, false]),
            (RevokeCallingKey,  Session,    [false, false, false]),
            (RevokeCallingKey,  UserKey,    [true,  true,  true]),
            (RevokeCallingKey,  AccountKey, [true,  true,  true]),
            (ManageMembers,     Session,    [false, false, true]),
            (ManageMembers,     UserKey,    [false, false, true]),
            (ManageMembers,     AccountKey, [false, false, true]),
            (ManageAccountKeys, Session,    [false, false, true]),
            (ManageAccountKeys, UserKey,    [false, false, true]),
            (ManageAccountKeys, AccountKey, [false, false, true]),
            (ManageOwnLogin,    Session,    [true,  true,  true]),
            (ManageOwnLogin,    UserKey,    [false, false, false]),
            (ManageOwnLogin,    AccountKey, [false, false, false]),
            (ReadAudit,         Session,    [false, false, true]),
            (ReadAudit,         UserKey,    [false, false, true]),
            (ReadAudit,         AccountKey, [false, false, true]),
        ];
        assert_eq!(
            expected.len(),
            Action::ALL.len() * Via::ALL.len(),
            "every action needs a row per credential"
        );
        for (action, via, allowed) in expected {
            for (role, allowed) in Role::ALL.into_iter().zip(allowed) {
                assert_eq!(
                    allows(role, via, action),
                    allowed,
                    "{role:?} {via:?} {action:?}"
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
        let allowed = Ok;
        let own = allowed(Action::ChangeOwnKeys);
        let admin = allowed(Action::ManageAccountKeys);
        #[rustfmt::skip]
        let table = [
            // change   holder        in a session                  through a user key                       through a legacy key
            (Read,    CallingKey,   [allowed(Action::ListOwnKeys), allowed(Action::ListOwnKeys),       allowed(Action::ListOwnKeys)]),
            (Read,    Own,          [allowed(Action::ListOwnKeys), allowed(Action::ListOwnKeys),       allowed(Action::ListOwnKeys)]),
            (Read,    OtherPersons, [admin,                        admin,                              admin]),
            (Read,    Legacy,       [admin,                        admin,                              admin]),
            (Revoke,  CallingKey,   [allowed(Action::RevokeCallingKey), allowed(Action::RevokeCallingKey), allowed(Action::RevokeCallingKey)]),
            (Revoke,  Own,          [own,                          own,                                own]),
            (Revoke,  OtherPersons, [admin,                        admin,                              admin]),
            (Revoke,  Legacy,       [admin,                        admin,                              admin]),
            (Rename,  CallingKey,   [own,                          own,                                own]),
            (Rename,  Own,          [own,                          own,                                own]),
            (Rename,  OtherPersons, [admin,                        admin,                              admin]),
            (Rename,  Legacy,       [admin,                        admin,                              admin]),
            (Reguard, CallingKey,   [own,                          Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Reguard, Own,          [own,                          Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Reguard, OtherPersons, [admin,                        Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Reguard, Legacy,       [admin,                        Err(ReguardingThroughAKey),         Err(ReguardingThroughAKey)]),
            (Rotate,  CallingKey,   [own,                          own,                                own]),
            (Rotate,  Own,          [own,                          Err(RotatingAnotherKeyThroughAKey), Err(RotatingAnotherKeyThroughAKey)]),
            (Rotate,  OtherPersons, [Err(RotatingAnotherPersonsKey), Err(RotatingAnotherKeyThroughAKey), Err(RotatingAnotherKeyThroughAKey)]),
            (Rotate,  Legacy,       [admin,                        Err(RotatingAnotherKeyThroughAKey), Err(RotatingAnotherKeyThroughAKey)]),
        ];
        assert_eq!(table.len(), 5 * 4, "every change needs a row per holder");
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
