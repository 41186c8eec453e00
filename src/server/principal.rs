//! Who is calling, once resolved: the person or service account (if any), the account, the
//! role this request acts with, and the key it came with. `caller` resolves it; the policy (`domain::policy`) decides
//! what it may do.

use crate::domain::time::Millis;
use crate::domain::{
    allows,
    ids::{AccountId, CheckId, KeyId, MembershipId},
    key_access,
    views::{Account, Key, KeyKind, ServiceAccountRef, User, Via},
    ApiError, ErrorCode, Grant, Granted, KeyChange, KeyHolder, OwnPermission, Permission,
    PermissionName, Role,
};
use crate::server::keys::usage::KeyUsage;
use ipnet::IpNet;
use std::sync::Arc;

/// Names another account than the key's; refused rather than silently ignored.
pub const ACCOUNT_HEADER: &str = "x-account-id";

#[derive(Clone, Debug)]
pub struct Principal {
    /// The person acting; `None` for a legacy account key or a service key.
    pub user: Option<User>,
    /// The service account a service key acts for.
    pub service_account: Option<ServiceAccountRef>,
    pub account: Account,
    /// The role this request acts with (a key's is already capped).
    pub role: Role,
    pub via: Via,
    /// The key this request came with, if any.
    pub key: Option<CallingKey>,
    /// The membership the caller acts through (`None` for a legacy account key). Keys are
    /// bound to it, so they die with it.
    pub membership_id: Option<MembershipId>,
    /// A session in an account that requires a second factor, of a person without one: it may
    /// only manage its own sign-in (set a factor up) until it has one.
    pub must_set_up_second_factor: bool,
    /// For a session: when its person last proved who they are (signing in, `auth/step-up`);
    /// the sensitive actions need it recent (`signin::step_up`).
    pub proved_at: Option<Millis>,
}

/// The key a request authenticated with: what a key it creates is bounded by.
#[derive(Clone, Debug)]
pub struct CallingKey {
    pub id: KeyId,
    /// Its name, as the audit trail records it.
    pub name: String,
    pub expires_at: Option<Millis>,
    /// Its guards, which a key it creates stays within.
    pub allowed_cidrs: Vec<IpNet>,
    pub rate_limit_per_minute: Option<u32>,
    /// What it may do within its role: its own grant narrowed by every key above it in its
    /// line, as they are now.
    pub grant: Grant,
    /// The account's own permissions with the least role each needs (as the key check read
    /// them with the key).
    pub own_permissions: Arc<[(OwnPermission, Role)]>,
    /// Where the permissions it uses are counted (`keys/get`'s `permissions_used`).
    pub usage: KeyUsage,
}

impl Principal {
    /// The policy check every server function makes before doing anything: the caller's role
    /// (a key's capped) allows `permission` through how they signed in, and a key's grant holds
    /// it. A refusal names the permission; a key's use of one is counted (off the request path).
    pub fn authorize(&self, permission: Permission) -> Result<(), ApiError> {
        if let Some(refusal) = self.refusal_of(permission) {
            return Err(refusal);
        }
        if let Some(key) = &self.key {
            key.usage.record_permission(&key.id, permission);
        }
        Ok(())
    }

    /// Why this caller may not use `permission`, if it may not: its role through how it signed
    /// in, then a key's grant (and, for a permission only a named grant holds, that name).
    fn refusal_of(&self, permission: Permission) -> Option<ApiError> {
        if let Some(refusal) = self.second_factor_refusal(Some(permission)) {
            return Some(refusal);
        }
        if !allows(self.role, self.via, permission) {
            return Some(self.refusal(permission));
        }
        let key = self.key.as_ref()?;
        if !key.grant.allows(permission) {
            return Some(ApiError::missing(
                permission,
                format!("This key was not granted the {permission} permission."),
            ));
        }
        if permission.needs_explicit_grant(self.via) && !key.grant.names(permission) {
            let remedy = match permission {
                Permission::KeysVerify => {
                    "make the service's key with keys:verify in its permissions"
                }
                _ => "set the key's permissions in the app to let it make keys",
            };
            return Some(ApiError::missing(
                permission,
                format!("This key holds {permission} only when its grant names it: {remedy}."),
            ));
        }
        None
    }

    /// The check a service behind keyward asks for (`keys/verify`, forward auth): a key holds
    /// one of keyward's permissions as for keyward's own API, and one of the account's own when
    /// the account defines it, the key's role reaches its least role and its grant holds it.
    /// The refusal's message says which.
    pub fn authorize_name(&self, permission: &PermissionName) -> Result<(), ApiError> {
        let own = match permission {
            PermissionName::BuiltIn(permission) => return self.authorize(*permission),
            PermissionName::Own(own) => own,
        };
        let refuse = |message: String| ApiError {
            missing_permission: Some(own.to_string()),
            ..ApiError::new(ErrorCode::Forbidden, message)
        };
        let Some(key) = &self.key else {
            return Err(refuse(format!(
                "{own} is for keys, checked by your services."
            )));
        };
        let Some(least_role) = key
            .own_permissions
            .iter()
            .find(|(defined, _)| defined == own)
            .map(|(_, role)| *role)
        else {
            return Err(refuse(format!(
                "{own} is not a permission of this account (permissions/define makes it)."
            )));
        };
        if self.role < least_role {
            return Err(refuse(format!(
                "{own} needs the {} role or above; this key acts with {}.",
                least_role.label(),
                self.role.label()
            )));
        }
        if !key.grant.allows_own(own) {
            return Err(refuse(format!(
                "This key was not granted the {own} permission."
            )));
        }
        key.usage.record_permission_name(&key.id, permission);
        Ok(())
    }

    /// Everything this caller may do now, by name: each of keyward's permissions it would be
    /// allowed, and each of the account's own (for a key; a session has none).
    pub fn effective_permissions(&self) -> Granted {
        let mut granted = Granted::default();
        for permission in Permission::ALL {
            if self.refusal_of(permission).is_none() {
                granted.built_in.insert(permission);
            }
        }
        if let Some(key) = &self.key {
            for (own, least_role) in key.own_permissions.iter() {
                if self.role >= *least_role && key.grant.allows_own(own) {
                    granted.insert_own(own.clone());
                }
            }
        }
        granted
    }

    /// A person who must set up a second factor first may use only their own sign-in
    /// (`login:write`: factors, password, sign-out, switching accounts) and read who they are
    /// (`account:read`); everything else — `None`: an operation on a key that needs no
    /// permission — is refused until they have one.
    fn second_factor_refusal(&self, permission: Option<Permission>) -> Option<ApiError> {
        let allowed = matches!(
            permission,
            Some(Permission::LoginWrite | Permission::AccountRead)
        );
        (self.must_set_up_second_factor && !allowed).then(|| {
            ApiError::new(
                ErrorCode::SecondFactorRequired,
                format!(
                    "{} requires two-step sign-in: add a passkey or an authenticator app in Settings first.",
                    self.account.name
                ),
            )
        })
    }

    /// Why the role (or the way of signing in) does not allow `permission`.
    fn refusal(&self, permission: Permission) -> ApiError {
        let message = match (permission.least_role(self.via), self.via) {
            (None, Via::AccountKey)
                if matches!(permission, Permission::KeysRead | Permission::KeysWrite) =>
            {
                "A legacy account key has no owner, so it cannot manage personal keys."
            }
            (None, Via::ServiceKey) if permission == Permission::MembersWrite => {
                "A service key cannot manage the account's members."
            }
            (None, Via::UserKey | Via::AccountKey | Via::ServiceKey) => {
                "Only a person signed in to keyward in a browser can do this; a key cannot."
            }
            (Some(_), Via::UserKey) if permission == Permission::KeysWrite => {
                "Through a key, creating, changing or revoking keys needs the Read & write or Admin role."
            }
            _ => "Your role does not allow this.",
        };
        ApiError::missing(permission, message)
    }

    /// The checks this caller may touch: `None` for all of the account's.
    pub fn check_scope(&self) -> Option<&[CheckId]> {
        self.key.as_ref()?.grant.check_ids.as_deref()
    }

    /// Whether this caller may touch the check (a key restricted to other checks may not: it
    /// is told there is no such check, as for another account's).
    pub fn sees_check(&self, check_id: &CheckId) -> bool {
        self.key
            .as_ref()
            .is_none_or(|key| key.grant.sees_check(check_id))
    }

    /// The grant a key made by this caller is held within: a key's own (narrowed by its line),
    /// or everything for a person in a browser.
    pub fn grant_limit(&self) -> Grant {
        self.key
            .as_ref()
            .map(|key| key.grant.clone())
            .unwrap_or_default()
    }

    /// The person acting in a browser (not through a key): who a key made or rotated now was
    /// made by, as its page shows.
    pub fn person_in_browser(&self) -> Option<&User> {
        self.user.as_ref().filter(|_| self.key.is_none())
    }

    /// The acting person, for actions that need one (checked by `authorize`).
    pub fn person(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(ApiError::forbidden)
    }

    pub fn account_id(&self) -> &AccountId {
        &self.account.id
    }

    pub fn key_id(&self) -> Option<&KeyId> {
        self.key.as_ref().map(|key| &key.id)
    }

    /// Whose `key` is, as this caller sees it; `custodian`: the caller is a custodian of the
    /// service account that owns it (see `stores::service_accounts::is_custodian`).
    pub fn holder_of(&self, key: &Key, custodian: bool) -> KeyHolder {
        let same_service_account = matches!(
            (&key.service_account, &self.service_account),
            (Some(owner), Some(me)) if owner.id == me.id
        );
        if self.key_id() == Some(&key.id) {
            KeyHolder::CallingKey
        } else if key.kind == KeyKind::LegacyAccount {
            KeyHolder::Legacy
        } else if same_service_account {
            // A service key's own keys are its service account's.
            KeyHolder::Own
        } else if key.kind == KeyKind::Service {
            if custodian {
                KeyHolder::CustodiedService
            } else {
                KeyHolder::OtherService
            }
        } else if matches!((&key.owner, &self.user), (Some(owner), Some(me)) if owner.id == me.id) {
            KeyHolder::Own
        } else {
            KeyHolder::OtherPersons
        }
    }

    /// The policy check for doing `change` to one key of the account: the policy's answer for
    /// this caller and this key ([`key_access`]), and then the check of that permission (none for
    /// a key revoking itself).
    pub fn authorize_key(
        &self,
        key: &Key,
        change: KeyChange,
        custodian: bool,
    ) -> Result<(), ApiError> {
        let permission = key_access(change, self.holder_of(key, custodian), self.via)
            .map_err(|refusal| ApiError::new(ErrorCode::Forbidden, refusal.message()))?;
        if let Some(refusal) = self.second_factor_refusal(permission) {
            return Err(refusal);
        }
        match permission {
            Some(permission) => self.authorize(permission),
            None => Ok(()),
        }
    }
}
