//! Permissions: what a key can be granted, narrower than a role. Every operation of the API
//! needs exactly one (the `OPERATIONS` table in `host::openapi` cannot be written without it),
//! and the access table (`Permission::least_role`, in `policy`) says which role each needs. A
//! key acts with the permissions its grant holds *and* its owner's current role allows, on the
//! checks its grant names — and never more than any key above it in its line.

use crate::domain::ids::CheckId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission, spelled `resource:access` on the wire. Read as a string and parsed (see
/// `TryFrom<String>`): the browser already carries the code to read strings, and a derived enum
/// reader would add several kilobytes to every page's first download (key views are read by the
/// top bar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "&'static str")]
pub enum Permission {
    /// Who the caller is and how the account is set up: every key holds it.
    #[serde(rename = "account:read")]
    AccountRead,
    #[serde(rename = "account:write")]
    AccountWrite,
    #[serde(rename = "checks:read")]
    ChecksRead,
    #[serde(rename = "checks:write")]
    ChecksWrite,
    #[serde(rename = "members:read")]
    MembersRead,
    #[serde(rename = "members:write")]
    MembersWrite,
    #[serde(rename = "keys:read")]
    KeysRead,
    #[serde(rename = "keys:write")]
    KeysWrite,
    #[serde(rename = "account-keys:read")]
    AccountKeysRead,
    #[serde(rename = "account-keys:write")]
    AccountKeysWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "service-accounts:read")]
    ServiceAccountsRead,
    /// Creating, changing and deleting service accounts, and handing keys over to them: in a
    /// browser only, since a service account outlives every key that could make one.
    #[serde(rename = "service-accounts:write")]
    ServiceAccountsWrite,
    /// One's own sign-in, in a browser: no key can use it, whatever it is granted.
    #[serde(rename = "login:write")]
    LoginWrite,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::AccountRead,
        Permission::AccountWrite,
        Permission::ChecksRead,
        Permission::ChecksWrite,
        Permission::MembersRead,
        Permission::MembersWrite,
        Permission::KeysRead,
        Permission::KeysWrite,
        Permission::AccountKeysRead,
        Permission::AccountKeysWrite,
        Permission::AuditRead,
        Permission::ServiceAccountsRead,
        Permission::ServiceAccountsWrite,
        Permission::LoginWrite,
    ];

    /// The wire and database spelling.
    pub fn name(self) -> &'static str {
        match self {
            Permission::AccountRead => "account:read",
            Permission::AccountWrite => "account:write",
            Permission::ChecksRead => "checks:read",
            Permission::ChecksWrite => "checks:write",
            Permission::MembersRead => "members:read",
            Permission::MembersWrite => "members:write",
            Permission::KeysRead => "keys:read",
            Permission::KeysWrite => "keys:write",
            Permission::AccountKeysRead => "account-keys:read",
            Permission::AccountKeysWrite => "account-keys:write",
            Permission::AuditRead => "audit:read",
            Permission::ServiceAccountsRead => "service-accounts:read",
            Permission::ServiceAccountsWrite => "service-accounts:write",
            Permission::LoginWrite => "login:write",
        }
    }

    pub fn parse(text: &str) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.name() == text)
    }

    /// What it lets a key do, as the catalogue and the UI say it.
    pub fn description(self) -> &'static str {
        match self {
            Permission::AccountRead => "Say who the caller is, list the permissions, read the account's key policy. Every key holds it.",
            Permission::AccountWrite => "Change the account's key policy (maximum lifetime, required expiry).",
            Permission::ChecksRead => "List and read checks.",
            Permission::ChecksWrite => "Create, change and delete checks.",
            Permission::MembersRead => "List the account's members and their roles.",
            Permission::MembersWrite => "Invite people, list and withdraw invites, change roles, remove members.",
            Permission::KeysRead => "List and read the owner's own keys.",
            Permission::KeysWrite => "Create, rename, narrow, rotate and revoke the owner's own keys (a key may always revoke itself).",
            Permission::AccountKeysRead => "List every key of the account and read other people's keys.",
            Permission::AccountKeysWrite => "Rename, narrow and revoke other people's keys and legacy account keys.",
            Permission::AuditRead => "Read and export the audit trail, and find whose key a leaked secret is.",
            Permission::ServiceAccountsRead => "List the account's service accounts, their roles and custodians.",
            Permission::ServiceAccountsWrite => "Create, change and delete service accounts, adopt legacy keys and hand people's keys over to them. In a browser only.",
            Permission::LoginWrite => "Sign out, switch account, change one's password, leave an account. In a browser only: no key can use it.",
        }
    }

    /// Granted to every key whatever its grant says: a key can always say who it is.
    pub fn always_granted(self) -> bool {
        self == Permission::AccountRead
    }

    /// The group the UI's picker shows it in.
    pub fn group(self) -> PermissionGroup {
        match self {
            Permission::AccountRead | Permission::AccountWrite => PermissionGroup::Account,
            Permission::ChecksRead | Permission::ChecksWrite => PermissionGroup::Checks,
            Permission::MembersRead | Permission::MembersWrite => PermissionGroup::Members,
            Permission::KeysRead | Permission::KeysWrite => PermissionGroup::OwnKeys,
            Permission::AccountKeysRead | Permission::AccountKeysWrite => {
                PermissionGroup::AccountKeys
            }
            Permission::AuditRead => PermissionGroup::Audit,
            Permission::ServiceAccountsRead | Permission::ServiceAccountsWrite => {
                PermissionGroup::ServiceAccounts
            }
            Permission::LoginWrite => PermissionGroup::Login,
        }
    }

    /// Whether it is the read half of its resource (the other half writes).
    pub fn reads(self) -> bool {
        self.name().ends_with(":read")
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl TryFrom<String> for Permission {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Permission::parse(&name).ok_or_else(|| format!("{name:?} is not a permission"))
    }
}

impl From<Permission> for &'static str {
    fn from(permission: Permission) -> Self {
        permission.name()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the permissions are about, as the picker groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionGroup {
    Account,
    Checks,
    Members,
    OwnKeys,
    AccountKeys,
    Audit,
    ServiceAccounts,
    Login,
}

impl PermissionGroup {
    /// The groups a key can be granted, in the picker's order (sign-in is for browsers only).
    pub const GRANTABLE: [PermissionGroup; 7] = [
        PermissionGroup::Checks,
        PermissionGroup::Members,
        PermissionGroup::ServiceAccounts,
        PermissionGroup::OwnKeys,
        PermissionGroup::AccountKeys,
        PermissionGroup::Audit,
        PermissionGroup::Account,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PermissionGroup::Account => "Account settings",
            PermissionGroup::Checks => "Checks",
            PermissionGroup::Members => "Members",
            PermissionGroup::OwnKeys => "Own keys",
            PermissionGroup::AccountKeys => "Everyone's keys",
            PermissionGroup::Audit => "Audit trail",
            PermissionGroup::ServiceAccounts => "Service accounts",
            PermissionGroup::Login => "Sign-in",
        }
    }

    /// Its read and write permissions (the audit trail has no write).
    pub fn permissions(self) -> (Option<Permission>, Option<Permission>) {
        let mut read = None;
        let mut write = None;
        for permission in Permission::ALL {
            if permission.group() == self {
                if permission.reads() {
                    read = Some(permission);
                } else {
                    write = Some(permission);
                }
            }
        }
        (read, write)
    }
}

/// A set of permissions, held as bits: checking one costs an `and`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u16);

impl PermissionSet {
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    pub fn remove(&mut self, permission: Permission) {
        self.0 &= !permission.bit();
    }

    pub fn intersection(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    /// The permissions in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |permission| self.contains(*permission))
    }

    /// The first permission of `self` that `other` lacks.
    pub fn first_outside(self, other: PermissionSet) -> Option<Permission> {
        self.iter().find(|permission| !other.contains(*permission))
    }

    /// The stored spelling: names separated by spaces.
    pub fn to_stored(self) -> String {
        self.iter()
            .map(Permission::name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored spelling; a name this version does not know grants nothing.
    pub fn from_stored(text: &str) -> PermissionSet {
        text.split_whitespace()
            .filter_map(Permission::parse)
            .collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(permissions: I) -> Self {
        let mut set = PermissionSet::default();
        for permission in permissions {
            set.insert(permission);
        }
        set
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::name))
            .finish()
    }
}

/// What a key was granted: its permissions (`None`: everything its role allows) and the checks
/// it may touch (`None`: every check of the account).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    pub permissions: Option<PermissionSet>,
    pub check_ids: Option<Vec<CheckId>>,
}

impl Grant {
    /// Whether the grant holds `permission` (the role is checked apart).
    pub fn allows(&self, permission: Permission) -> bool {
        permission.always_granted()
            || self
                .permissions
                .is_none_or(|granted| granted.contains(permission))
    }

    /// Whether the grant lists `permission` by name (rather than holding it as part of
    /// "everything the role allows").
    pub fn names(&self, permission: Permission) -> bool {
        self.permissions
            .is_some_and(|granted| granted.contains(permission))
    }

    /// Whether the grant lets a key touch this check.
    pub fn sees_check(&self, check_id: &CheckId) -> bool {
        self.check_ids
            .as_ref()
            .is_none_or(|check_ids| check_ids.contains(check_id))
    }

    /// The stored spelling of its permissions and checks (space-separated; `None` for all).
    pub fn to_stored(&self) -> (Option<String>, Option<String>) {
        (
            self.permissions.map(PermissionSet::to_stored),
            self.check_ids.as_ref().map(|check_ids| {
                check_ids
                    .iter()
                    .map(CheckId::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        )
    }

    /// Reads the stored spelling back (see [`Grant::to_stored`]).
    pub fn from_stored(permissions: Option<&str>, check_ids: Option<&str>) -> Grant {
        Grant {
            permissions: permissions.map(PermissionSet::from_stored),
            check_ids: check_ids.map(|text| {
                text.split_whitespace()
                    .filter_map(|id| CheckId::parse("check_ids", id).ok())
                    .collect()
            }),
        }
    }

    /// The permissions as the wire lists them (`None`: everything the role allows).
    pub fn permission_list(&self) -> Option<Vec<Permission>> {
        self.permissions.map(|set| set.iter().collect())
    }

    /// What both grants allow: a key is held to its own grant and to every one above it.
    pub fn within(&self, other: &Grant) -> Grant {
        let permissions = match (self.permissions, other.permissions) {
            (Some(mine), Some(theirs)) => Some(mine.intersection(theirs)),
            (mine, theirs) => mine.or(theirs),
        };
        let check_ids = match (&self.check_ids, &other.check_ids) {
            (Some(mine), Some(theirs)) => Some(
                mine.iter()
                    .filter(|check_id| theirs.contains(check_id))
                    .cloned()
                    .collect(),
            ),
            (mine, theirs) => mine.clone().or_else(|| theirs.clone()),
        };
        Grant {
            permissions,
            check_ids,
        }
    }

    /// What `self` holds that `limit` does not, as the refusal names it: a permission, or the
    /// checks (`Excess::Checks`). `None` when `self` lies within `limit`.
    pub fn excess_over(&self, limit: &Grant) -> Option<Excess> {
        if let Some(limit_permissions) = limit.permissions {
            let mine = self
                .permissions
                .unwrap_or_else(|| Permission::ALL.into_iter().collect());
            let mut beyond = mine;
            for permission in Permission::ALL.into_iter().filter(|p| p.always_granted()) {
                beyond.remove(permission);
            }
            if let Some(permission) = beyond.first_outside(limit_permissions) {
                return Some(Excess::Permission(permission));
            }
        }
        if let Some(limit_checks) = &limit.check_ids {
            let within = self
                .check_ids
                .as_ref()
                .is_some_and(|mine| mine.iter().all(|check_id| limit_checks.contains(check_id)));
            if !within {
                return Some(Excess::Checks);
            }
        }
        None
    }
}

/// What a grant holds beyond another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Excess {
    Permission(Permission),
    Checks,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_wire_spelling() {
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.name()), Some(permission));
            assert_eq!(
                serde_json::to_value(permission).unwrap(),
                serde_json::Value::from(permission.name())
            );
            let name = permission.name();
            let (resource, access) = name.split_once(':').unwrap();
            assert!(
                !resource.is_empty() && matches!(access, "read" | "write"),
                "{name}"
            );
        }
        assert_eq!(Permission::parse("checks:admin"), None);
        assert!(serde_json::from_str::<Permission>("\"checks:admin\"").is_err());
        assert_eq!(
            serde_json::from_str::<Permission>("\"checks:write\"").unwrap(),
            Permission::ChecksWrite
        );
    }

    #[test]
    fn every_grantable_resource_has_its_permissions_once() {
        let mut seen = PermissionSet::default();
        for resource in PermissionGroup::GRANTABLE {
            let (read, write) = resource.permissions();
            for permission in [read, write].into_iter().flatten() {
                assert!(!seen.contains(permission), "{permission} twice");
                seen.insert(permission);
            }
        }
        let ungrouped: Vec<_> = Permission::ALL
            .into_iter()
            .filter(|permission| !seen.contains(*permission))
            .collect();
        assert_eq!(ungrouped, vec![Permission::LoginWrite]);
    }

    #[test]
    fn the_stored_spelling_round_trips_and_drops_unknown_names() {
        let set: PermissionSet = [Permission::ChecksWrite, Permission::AuditRead]
            .into_iter()
            .collect();
        assert_eq!(set.to_stored(), "checks:write audit:read");
        assert_eq!(PermissionSet::from_stored(&set.to_stored()), set);
        assert_eq!(
            PermissionSet::from_stored("checks:write made:up"),
            [Permission::ChecksWrite].into_iter().collect()
        );
    }

    fn check(id: &str) -> CheckId {
        CheckId::parse("check_id", id).unwrap()
    }

    fn grant(permissions: Option<&[Permission]>, checks: Option<&[&str]>) -> Grant {
        Grant {
            permissions: permissions.map(|list| list.iter().copied().collect()),
            check_ids: checks.map(|ids| ids.iter().map(|id| check(id)).collect()),
        }
    }

    #[test]
    fn a_grant_allows_what_it_holds_and_who_am_i() {
        use Permission::*;
        let everything = Grant::default();
        assert!(Permission::ALL.into_iter().all(|p| everything.allows(p)));
        let narrow = grant(Some(&[ChecksRead]), None);
        assert!(narrow.allows(ChecksRead));
        assert!(narrow.allows(AccountRead), "every key may say who it is");
        assert!(!narrow.allows(ChecksWrite));
        assert!(!grant(Some(&[]), None).allows(ChecksRead));
    }

    #[test]
    fn grants_narrow_each_other_and_say_what_exceeds() {
        use Permission::*;
        let a = "chk_aaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "chk_bbbbbbbbbbbbbbbbbbbbbbbbbb";
        let parent = grant(Some(&[ChecksRead, ChecksWrite]), Some(&[a, b]));
        let child = grant(Some(&[ChecksRead, MembersRead]), Some(&[a]));
        let both = child.within(&parent);
        assert_eq!(both, grant(Some(&[ChecksRead]), Some(&[a])));
        assert_eq!(Grant::default().within(&parent), parent);
        assert_eq!(
            child.excess_over(&parent),
            Some(Excess::Permission(MembersRead))
        );
        assert_eq!(
            Grant::default().excess_over(&parent),
            Some(Excess::Permission(AccountWrite))
        );
        assert_eq!(
            grant(Some(&[ChecksRead]), None).excess_over(&parent),
            Some(Excess::Checks)
        );
        assert_eq!(
            grant(Some(&[ChecksRead, AccountRead]), Some(&[b])).excess_over(&parent),
            None,
            "account:read is every key's and never exceeds"
        );
        assert_eq!(parent.excess_over(&Grant::default()), None);
    }

    #[test]
    fn a_grant_is_stored_and_read_back() {
        use Permission::*;
        let a = "chk_aaaaaaaaaaaaaaaaaaaaaaaaaa";
        for original in [
            Grant::default(),
            grant(Some(&[ChecksRead, KeysWrite]), Some(&[a])),
            grant(Some(&[]), Some(&[])),
        ] {
            let (permissions, check_ids) = original.to_stored();
            assert_eq!(
                Grant::from_stored(permissions.as_deref(), check_ids.as_deref()),
                original
            );
        }
    }
}
