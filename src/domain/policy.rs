//! The access policy: the single place that says which role may do what.
//!
//! Every server function asks [`Role::allows`] (through the server's `Principal`) before it
//! touches anything, and the UI asks the same function to decide what to show.

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

/// Everything a caller can ask keyward to do, at the granularity the policy cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read checks, list members, describe oneself.
    Read,
    /// Create, update or delete checks.
    WriteChecks,
    /// Create, list and revoke the caller's own keys (needs a person to own them).
    ManageOwnKeys,
    /// Invite members, change roles, remove other members.
    ManageMembers,
    /// List every key of the account (legacy ones included) and revoke any of them.
    ManageAccountKeys,
}

impl Action {
    /// Every action, for exhaustive tests of the policy.
    pub const ALL: [Action; 5] = [
        Action::Read,
        Action::WriteChecks,
        Action::ManageOwnKeys,
        Action::ManageMembers,
        Action::ManageAccountKeys,
    ];

    /// Actions that only make sense for a person: a legacy account key has nobody to own keys.
    pub fn needs_a_person(self) -> bool {
        matches!(self, Action::ManageOwnKeys)
    }
}

impl Role {
    pub const ALL: [Role; 3] = [Role::ReadOnly, Role::ReadWrite, Role::Admin];

    /// Whether this role may perform `action`. The table in `DESIGN.md`, as code.
    pub fn allows(self, action: Action) -> bool {
        let least_role = match action {
            Action::Read | Action::ManageOwnKeys => Role::ReadOnly,
            Action::WriteChecks => Role::ReadWrite,
            Action::ManageMembers | Action::ManageAccountKeys => Role::Admin,
        };
        self >= least_role
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_table_of_the_design() {
        use Action::*;
        use Role::*;
        let expected = [
            (Read, [true, true, true]),
            (WriteChecks, [false, true, true]),
            (ManageOwnKeys, [true, true, true]),
            (ManageMembers, [false, false, true]),
            (ManageAccountKeys, [false, false, true]),
        ];
        for (action, allowed) in expected {
            for (role, allowed) in [ReadOnly, ReadWrite, Admin].into_iter().zip(allowed) {
                assert_eq!(role.allows(action), allowed, "{role:?} {action:?}");
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
}
