//! Who is calling, once resolved: the person (if any), the account, the role this request acts
//! with, and the key it came with. `caller` resolves it; the policy (`domain::policy`) decides
//! what it may do.

use crate::domain::time::Millis;
use crate::domain::{
    allows,
    ids::{AccountId, KeyId, MembershipId},
    key_access,
    views::{Account, Key, KeyKind, User, Via},
    Action, ApiError, ErrorCode, KeyChange, KeyHolder, Role,
};
use ipnet::IpNet;

/// Names another account than the key's; refused rather than silently ignored.
pub const ACCOUNT_HEADER: &str = "x-account-id";

#[derive(Clone, Debug)]
pub struct Principal {
    /// The person acting; `None` for a legacy account key.
    pub user: Option<User>,
    pub account: Account,
    /// The role this request acts with (a key's is already capped).
    pub role: Role,
    pub via: Via,
    /// The key this request came with, if any.
    pub key: Option<CallingKey>,
    /// The membership the caller acts through (`None` for a legacy account key). Keys are
    /// bound to it, so they die with it.
    pub membership_id: Option<MembershipId>,
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
}

impl Principal {
    /// The policy check every server function makes before doing anything.
    pub fn authorize(&self, action: Action) -> Result<(), ApiError> {
        if allows(self.role, self.via, action) {
            return Ok(());
        }
        let message = match (action.least_role(self.via), self.via) {
            (None, Via::AccountKey) if matches!(action, Action::ListOwnKeys | Action::ChangeOwnKeys) => {
                "A legacy account key has no owner, so it cannot manage personal keys."
            }
            (None, Via::UserKey | Via::AccountKey) => {
                "Only a person signed in to keyward in a browser can do this; a key cannot."
            }
            (Some(_), Via::UserKey) if action == Action::ChangeOwnKeys => {
                "Through a key, creating, changing or revoking keys needs the Read & write or Admin role."
            }
            _ => return Err(ApiError::forbidden()),
        };
        Err(ApiError::new(ErrorCode::Forbidden, message))
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

    /// Whose `key` is, as this caller sees it.
    pub fn holder_of(&self, key: &Key) -> KeyHolder {
        if self.key_id() == Some(&key.id) {
            KeyHolder::CallingKey
        } else if key.kind == KeyKind::LegacyAccount {
            KeyHolder::Legacy
        } else if matches!((&key.owner, &self.user), (Some(owner), Some(me)) if owner.id == me.id) {
            KeyHolder::Own
        } else {
            KeyHolder::OtherPersons
        }
    }

    /// The policy check for doing `change` to one key of the account: the policy's answer for
    /// this caller and this key ([`key_access`]), and then the role check of that action.
    pub fn authorize_key(&self, key: &Key, change: KeyChange) -> Result<(), ApiError> {
        let action = key_access(change, self.holder_of(key), self.via)
            .map_err(|refusal| ApiError::new(ErrorCode::Forbidden, refusal.message()))?;
        self.authorize(action)
    }
}
