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
    /// Asking keyward whether someone else's key is good (`keys/verify`): what the key of a
    /// service behind keyward holds. Only when a grant names it.
    #[serde(rename = "keys:verify")]
    KeysVerify,
    /// Adding, changing and removing webhook endpoints, which receive the audit trail: in a
    /// browser only, since an endpoint keeps receiving after the key that made it is revoked.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// Creating and revoking the account's SCIM token, with which an identity provider adds,
    /// suspends and removes members: in a browser only, since the token outlives any key.
    #[serde(rename = "scim:write")]
    ScimWrite,
    /// One's own sign-in, in a browser: no key can use it, whatever it is granted.
    #[serde(rename = "login:write")]
    LoginWrite,
}

impl Permission {
    pub const ALL: [Permission; 17] = [
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
        Permission::KeysVerify,
        Permission::WebhooksWrite,
        Permission::ScimWrite,
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
            Permission::KeysVerify => "keys:verify",
            Permission::WebhooksWrite => "webhooks:write",
            Permission::ScimWrite => "scim:write",
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
            Permission::AccountWrite => "Change the account's key policy (maximum lifetime, required expiry) and define the account's own permissions.",
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
            Permission::KeysVerify => "Verify other keys of the account for a service behind keyward (keys/verify): whose a key is, and whether it holds a permission. Only when the grant names it.",
            Permission::WebhooksWrite => "Add, change and remove the webhook endpoints that receive the audit trail, rotate their secrets, send test events and redeliveries. In a browser only.",
            Permission::ScimWrite => "Create, replace and revoke the account's SCIM token, with which an identity provider adds, suspends and removes members. In a browser only.",
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
            Permission::AuditRead | Permission::WebhooksWrite => PermissionGroup::Audit,
            Permission::ServiceAccountsRead | Permission::ServiceAccountsWrite => {
                PermissionGroup::ServiceAccounts
            }
            Permission::KeysVerify => PermissionGroup::Verification,
            // No key is ever granted these: browser sessions only.
            Permission::LoginWrite | Permission::ScimWrite => PermissionGroup::Login,
        }
    }

    /// Whether it is the read half of its resource (the other half writes).
    pub fn reads(self) -> bool {
        self.name().ends_with(":read")
    }

    fn bit(self) -> u32 {
        1 << self as u32
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
    Verification,
    Login,
}

impl PermissionGroup {
    /// The groups a key can be granted, in the picker's order (sign-in is for browsers only).
    pub const GRANTABLE: [PermissionGroup; 8] = [
        PermissionGroup::Checks,
        PermissionGroup::Members,
        PermissionGroup::ServiceAccounts,
        PermissionGroup::OwnKeys,
        PermissionGroup::AccountKeys,
        PermissionGroup::Audit,
        PermissionGroup::Account,
        PermissionGroup::Verification,
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
            PermissionGroup::Verification => "Verify keys for your services",
            PermissionGroup::Login => "Sign-in",
        }
    }

    /// Its read and write permissions (the audit trail's write is its webhooks, in a browser only).
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
pub struct PermissionSet(u32);

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

/// A permission the account defined for its own services behind keyward (`orders:read`),
/// spelled like keyward's own but about none of keyward's resources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnPermission(String);

/// The resources keyward's own permissions are about: an account's own permission may not
/// name one (`checks:admin` would read as keyward's).
const KEYWARD_RESOURCES: [&str; 10] = [
    "account",
    "checks",
    "members",
    "keys",
    "account-keys",
    "audit",
    "service-accounts",
    "login",
    "keyward",
    "webhooks",
];

impl OwnPermission {
    /// Why `text` cannot name an account's own permission, if it cannot: one of keyward's own,
    /// or not the shape `^[a-z][a-z0-9-]*:[a-z][a-z0-9-]*$` of at most 64 characters, or about
    /// one of keyward's resources.
    pub fn problem(text: &str) -> Option<String> {
        if Permission::parse(text).is_some() {
            return Some(format!("{text} is one of keyward's own permissions"));
        }
        let word = |part: &str| {
            part.starts_with(|c: char| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        let shaped = text.len() <= 64
            && text
                .split_once(':')
                .is_some_and(|(resource, access)| word(resource) && word(access));
        if !shaped {
            return Some(format!(
                "{text:?} is not a permission name: two lowercase words joined by a colon, like \"orders:read\" (letters, digits and dashes, at most 64 characters)"
            ));
        }
        let resource = text.split_once(':').map_or(text, |(resource, _)| resource);
        KEYWARD_RESOURCES.contains(&resource).then(|| {
            format!("{text:?} is about keyward's own {resource:?}; name your service's resource instead, like \"orders:read\"")
        })
    }

    pub fn parse(text: &str) -> Option<OwnPermission> {
        OwnPermission::problem(text)
            .is_none()
            .then(|| OwnPermission(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OwnPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Any permission by name: one of keyward's, or one of the account's own.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PermissionName {
    BuiltIn(Permission),
    Own(OwnPermission),
}

impl PermissionName {
    pub fn parse(text: &str) -> Option<PermissionName> {
        Permission::parse(text)
            .map(PermissionName::BuiltIn)
            .or_else(|| OwnPermission::parse(text).map(PermissionName::Own))
    }

    pub fn as_str(&self) -> &str {
        match self {
            PermissionName::BuiltIn(permission) => permission.name(),
            PermissionName::Own(own) => own.as_str(),
        }
    }
}

// By hand: on the wire it is one string, whichever kind it is.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for PermissionName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .examples(["orders:read"])
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for PermissionName {}

impl TryFrom<String> for PermissionName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        PermissionName::parse(&name).ok_or_else(|| format!("{name:?} is not a permission"))
    }
}

impl From<PermissionName> for String {
    fn from(name: PermissionName) -> Self {
        name.as_str().to_string()
    }
}

impl fmt::Display for PermissionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The permissions a grant names: keyward's own, as bits, and the account's own, by name
/// (sorted, each once). On the wire one list of names.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<PermissionName>", into = "Vec<PermissionName>")]
pub struct Granted {
    pub built_in: PermissionSet,
    pub own: Vec<OwnPermission>,
}

impl Granted {
    pub fn holds(&self, name: &PermissionName) -> bool {
        match name {
            PermissionName::BuiltIn(permission) => self.built_in.contains(*permission),
            PermissionName::Own(own) => self.holds_own(own),
        }
    }

    pub fn holds_own(&self, permission: &OwnPermission) -> bool {
        self.own.binary_search(permission).is_ok()
    }

    pub fn insert_own(&mut self, permission: OwnPermission) {
        if let Err(at) = self.own.binary_search(&permission) {
            self.own.insert(at, permission);
        }
    }

    pub fn insert(&mut self, name: PermissionName) {
        match name {
            PermissionName::BuiltIn(permission) => self.built_in.insert(permission),
            PermissionName::Own(own) => self.insert_own(own),
        }
    }

    /// What both hold.
    pub fn intersection(&self, other: &Granted) -> Granted {
        Granted {
            built_in: self.built_in.intersection(other.built_in),
            own: self
                .own
                .iter()
                .filter(|own| other.holds_own(own))
                .cloned()
                .collect(),
        }
    }

    /// Every name, keyward's in catalogue order, then the account's own.
    pub fn names(&self) -> impl Iterator<Item = PermissionName> + '_ {
        self.built_in
            .iter()
            .map(PermissionName::BuiltIn)
            .chain(self.own.iter().cloned().map(PermissionName::Own))
    }
}

impl From<PermissionSet> for Granted {
    fn from(built_in: PermissionSet) -> Self {
        Granted {
            built_in,
            own: Vec::new(),
        }
    }
}

impl FromIterator<Permission> for Granted {
    fn from_iter<I: IntoIterator<Item = Permission>>(permissions: I) -> Self {
        Granted::from(permissions.into_iter().collect::<PermissionSet>())
    }
}

impl FromIterator<PermissionName> for Granted {
    fn from_iter<I: IntoIterator<Item = PermissionName>>(names: I) -> Self {
        let mut granted = Granted::default();
        for name in names {
            granted.insert(name);
        }
        granted
    }
}

impl From<Vec<PermissionName>> for Granted {
    fn from(names: Vec<PermissionName>) -> Self {
        names.into_iter().collect()
    }
}

impl From<Granted> for Vec<PermissionName> {
    fn from(granted: Granted) -> Self {
        granted.names().collect()
    }
}

impl fmt::Debug for Granted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.names().map(String::from))
            .finish()
    }
}

/// What a key was granted: its permissions (`None`: everything its role allows, the account's
/// own permissions included) and the checks it may touch (`None`: every check of the account).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    pub permissions: Option<Granted>,
    pub check_ids: Option<Vec<CheckId>>,
}

impl Grant {
    /// Whether the grant holds `permission` (the role is checked apart).
    pub fn allows(&self, permission: Permission) -> bool {
        permission.always_granted()
            || self
                .permissions
                .as_ref()
                .is_none_or(|granted| granted.built_in.contains(permission))
    }

    /// Whether the grant holds the account's own `permission` (the role is checked apart, and
    /// whether the account still defines it).
    pub fn allows_own(&self, permission: &OwnPermission) -> bool {
        self.permissions
            .as_ref()
            .is_none_or(|granted| granted.holds_own(permission))
    }

    /// Whether the grant lists `permission` by name (rather than holding it as part of
    /// "everything the role allows").
    pub fn names(&self, permission: Permission) -> bool {
        self.permissions
            .as_ref()
            .is_some_and(|granted| granted.built_in.contains(permission))
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
            self.permissions.as_ref().map(|granted| {
                granted
                    .names()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            self.check_ids.as_ref().map(|check_ids| {
                check_ids
                    .iter()
                    .map(CheckId::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        )
    }

    /// Reads the stored spelling back (see [`Grant::to_stored`]); a name this version cannot
    /// read grants nothing.
    pub fn from_stored(permissions: Option<&str>, check_ids: Option<&str>) -> Grant {
        Grant {
            permissions: permissions.map(|text| {
                text.split_whitespace()
                    .filter_map(PermissionName::parse)
                    .collect()
            }),
            check_ids: check_ids.map(|text| {
                text.split_whitespace()
                    .filter_map(|id| CheckId::parse("check_ids", id).ok())
                    .collect()
            }),
        }
    }

    /// What both grants allow: a key is held to its own grant and to every one above it.
    pub fn within(&self, other: &Grant) -> Grant {
        let permissions = match (&self.permissions, &other.permissions) {
            (Some(mine), Some(theirs)) => Some(mine.intersection(theirs)),
            (mine, theirs) => mine.clone().or_else(|| theirs.clone()),
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

    /// What `self` holds that `limit` does not, as the refusal names it: a permission, the
    /// account's own permissions, or the checks. `None` when `self` lies within `limit`.
    pub fn excess_over(&self, limit: &Grant) -> Option<Excess> {
        if let Some(limit_permissions) = &limit.permissions {
            let mine = self
                .permissions
                .as_ref()
                .map_or_else(|| Permission::ALL.into_iter().collect(), |g| g.built_in);
            let mut beyond = mine;
            for permission in Permission::ALL.into_iter().filter(|p| p.always_granted()) {
                beyond.remove(permission);
            }
            if let Some(permission) = beyond.first_outside(limit_permissions.built_in) {
                return Some(Excess::Permission(permission));
            }
            match &self.permissions {
                // "Everything" holds every permission the account defines, now and later.
                None => return Some(Excess::OwnPermissions(None)),
                Some(granted) => {
                    if let Some(own) = granted
                        .own
                        .iter()
                        .find(|own| !limit_permissions.holds_own(own))
                    {
                        return Some(Excess::OwnPermissions(Some(own.clone())));
                    }
                }
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Excess {
    Permission(Permission),
    /// One of the account's own permissions; `None`: all of them (a grant of everything).
    OwnPermissions(Option<OwnPermission>),
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
                !resource.is_empty() && matches!(access, "read" | "write" | "verify"),
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
        assert_eq!(
            ungrouped,
            vec![Permission::ScimWrite, Permission::LoginWrite]
        );
    }

    #[test]
    fn the_stored_spelling_round_trips_and_drops_unreadable_names() {
        let stored = "checks:write audit:read orders:read";
        let grant = Grant::from_stored(Some(stored), None);
        let granted = grant.permissions.clone().unwrap();
        assert!(granted.built_in.contains(Permission::ChecksWrite));
        assert!(granted.built_in.contains(Permission::AuditRead));
        assert_eq!(granted.own, vec![own("orders:read")]);
        assert_eq!(grant.to_stored().0.as_deref(), Some(stored));
        let dropped = Grant::from_stored(Some("checks:write Not:A:Name checks:admin"), None);
        assert_eq!(
            dropped.permissions,
            Some(Granted::from(
                [Permission::ChecksWrite]
                    .into_iter()
                    .collect::<PermissionSet>()
            )),
            "checks:admin is keyward's resource, never an own permission"
        );
    }

    fn own(name: &str) -> OwnPermission {
        OwnPermission::parse(name).unwrap()
    }

    #[test]
    fn own_permission_names_are_shaped_and_stay_off_keywards_resources() {
        for good in ["orders:read", "orders:write", "billing-v2:refund", "a:b"] {
            assert_eq!(OwnPermission::problem(good), None, "{good}");
        }
        for bad in [
            "orders",
            "Orders:read",
            "orders:Read",
            "orders:read:all",
            ":read",
            "orders:",
            "1orders:read",
            "orders:-read",
            "orders read:x",
            "checks:admin",
            "keys:verify",
            "account-keys:export",
            "keyward:anything",
        ] {
            assert!(OwnPermission::problem(bad).is_some(), "{bad}");
        }
        assert!(OwnPermission::problem(&format!("{}:read", "a".repeat(60))).is_some());
        assert_eq!(
            serde_json::from_str::<PermissionName>("\"orders:read\"").unwrap(),
            PermissionName::Own(own("orders:read"))
        );
        assert_eq!(
            serde_json::from_str::<PermissionName>("\"checks:read\"").unwrap(),
            PermissionName::BuiltIn(Permission::ChecksRead)
        );
        assert!(serde_json::from_str::<PermissionName>("\"checks:admin\"").is_err());
    }

    #[test]
    fn the_accounts_own_permissions_narrow_like_keywards() {
        let mut parent = Granted::from(
            [Permission::ChecksRead]
                .into_iter()
                .collect::<PermissionSet>(),
        );
        parent.insert_own(own("orders:read"));
        parent.insert_own(own("orders:write"));
        let parent = Grant {
            permissions: Some(parent),
            check_ids: None,
        };
        let mut child = Granted::default();
        child.insert_own(own("orders:read"));
        child.insert_own(own("refunds:write"));
        let child = Grant {
            permissions: Some(child),
            check_ids: None,
        };
        assert_eq!(
            child.excess_over(&parent),
            Some(Excess::OwnPermissions(Some(own("refunds:write"))))
        );
        let both = child.within(&parent);
        assert!(both.allows_own(&own("orders:read")));
        assert!(!both.allows_own(&own("orders:write")));
        assert!(!both.allows_own(&own("refunds:write")));
        assert!(Grant::default().allows_own(&own("anything:new")));
        // A grant of everything listing every one of keyward's permissions still holds more
        // than a limit that names only some of the account's own.
        let all_built_in = Grant {
            permissions: Some(Granted::from(
                Permission::ALL.into_iter().collect::<PermissionSet>(),
            )),
            check_ids: None,
        };
        assert_eq!(
            Grant::default().excess_over(&all_built_in),
            Some(Excess::OwnPermissions(None))
        );
        assert_eq!(
            serde_json::to_value(parent.permissions.unwrap()).unwrap(),
            serde_json::json!(["checks:read", "orders:read", "orders:write"])
        );
    }

    fn check(id: &str) -> CheckId {
        CheckId::parse("check_id", id).unwrap()
    }

    fn grant(permissions: Option<&[Permission]>, checks: Option<&[&str]>) -> Grant {
        Grant {
            permissions: permissions
                .map(|list| Granted::from(list.iter().copied().collect::<PermissionSet>())),
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
