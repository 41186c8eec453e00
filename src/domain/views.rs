//! What the server sends back: the views of `docs/api.md`. None of them can carry a secret
//! or a hash; the one response that carries a new key's secret is [`CreatedKey`].

use crate::domain::ids::{
    AccountId, CheckId, DeliveryId, InviteId, KeyId, ServiceAccountId, UserId, WebhookId,
};
pub use crate::domain::policy::Via;
use crate::domain::{Grant, Granted, PermissionName, Role};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub email: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Account {
    pub id: AccountId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: String,
    /// The second factors the person has: `"totp"` (an authenticator app); empty for none.
    #[serde(default)]
    pub second_factors: Vec<String>,
    /// Switched off by the identity provider (SCIM `active: false`): no session of theirs acts
    /// in this account and none of their keys of it works, until they are reactivated.
    #[serde(default)]
    pub suspended: bool,
    /// The name the identity provider gives them (SCIM `displayName`), if it gave one.
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    User,
    LegacyAccount,
    /// Owned by a service account (stored as a key without a person, see the migration).
    Service,
}

impl KeyKind {
    pub const ALL: [KeyKind; 3] = [KeyKind::User, KeyKind::LegacyAccount, KeyKind::Service];

    /// The stable wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::User => "user",
            KeyKind::LegacyAccount => "legacy_account",
            KeyKind::Service => "service",
        }
    }

    pub fn parse(text: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// What a check monitors: an HTTP API, or a page in a browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Api,
    Browser,
}

impl CheckKind {
    pub const ALL: [CheckKind; 2] = [CheckKind::Api, CheckKind::Browser];

    /// The stable wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Api => "api",
            CheckKind::Browser => "browser",
        }
    }

    pub fn parse(text: &str) -> Option<CheckKind> {
        CheckKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Key {
    pub id: KeyId,
    pub name: String,
    pub kind: KeyKind,
    /// The person it acts for (`null` for a service or legacy key).
    pub owner: Option<User>,
    /// The service account it acts for (`kind: "service"`).
    pub service_account: Option<ServiceAccountRef>,
    pub hint: String,
    pub role_cap: Option<Role>,
    pub effective_role: Role,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub status: KeyStatus,
    /// The key that created this one, when a program made it with a key: this key can never
    /// outlive it, nor act above it.
    pub created_by_key_id: Option<KeyId>,
    /// Requests made with the key on each of the last 7 UTC days, oldest first (today last;
    /// up to a few seconds behind).
    pub usage_7d: Vec<u64>,
    /// When someone reported the key as leaked (`keys/report-leak`), which revoked it.
    pub leak_reported_at: Option<String>,
    /// The key that replaced this one (`keys/rotate`); this one stops at its `expires_at`.
    pub rotated_to: Option<KeyId>,
    /// Who made the key (for a rotation's successor, who rotated); `null` when a key made it,
    /// or for an imported legacy key.
    pub created_by: Option<User>,
    /// Who rotated this key and when (its successor's maker and creation).
    pub rotated_by: Option<User>,
    pub rotated_at: Option<String>,
    /// Networks it may be used from; empty: anywhere.
    pub allowed_cidrs: Vec<String>,
    /// Requests a minute it may make; `null`: no limit.
    pub rate_limit_per_minute: Option<u32>,
    /// Days left (rounded up) when an active key expires within 30 days: the lists flag it at
    /// 30, 7 and 1 days.
    pub expires_in_days: Option<u32>,
    /// The permissions it was granted; `null`: everything its role allows. It acts with those
    /// its owner's current role allows too (and `account:read` always). Keyward's permissions
    /// and the account's own, in one list.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Vec<String>>))]
    pub permissions: Option<Granted>,
    /// The checks it may touch; `null`: every check of the account.
    pub check_ids: Option<Vec<CheckId>>,
    /// Each permission it used in the last 30 days, with when it last did (up to a few seconds
    /// behind): what "narrow this key to what it used" keeps.
    pub permissions_used: Vec<PermissionUse>,
}

impl Key {
    /// Its grant, as the policy reads it.
    pub fn grant(&self) -> Grant {
        Grant {
            permissions: self.permissions.clone(),
            check_ids: self.check_ids.clone(),
        }
    }
}

/// A service account as a key or an event names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceAccountRef {
    pub id: ServiceAccountId,
    pub name: String,
}

/// A member without a login: owned by the account, with a role like a person's, so that its
/// keys outlive whoever set them up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub name: String,
    pub description: String,
    pub role: Role,
    /// Members who may create, rotate and revoke its keys; Admins always may. Empty: only the
    /// Admins.
    pub custodians: Vec<User>,
    /// `null` once the person who made it has left keyward.
    pub created_by: Option<User>,
    pub created_at: String,
    /// Its keys that work now.
    pub active_keys: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceAccountList {
    pub service_accounts: Vec<ServiceAccount>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OneServiceAccount {
    pub service_account: ServiceAccount,
}

/// One permission a key used, and when it last did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PermissionUse {
    pub permission: PermissionName,
    pub last_used_at: String,
}

/// One entry of the permission catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PermissionInfo {
    pub name: PermissionName,
    pub description: String,
    /// The least role a key's owner needs for the key to use it.
    pub least_role: Role,
    /// Defined by the account for its own services (`permissions/define`) rather than built in.
    pub custom: bool,
    /// Every key holds it, whatever its grant (`account:read`: a key can say who it is).
    pub always_granted: bool,
    /// Only a person in a browser can use it; no key can be granted it usefully.
    pub browser_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PermissionList {
    pub permissions: Vec<PermissionInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Check {
    pub id: CheckId,
    pub name: String,
    pub kind: CheckKind,
    pub url: String,
    pub frequency_minutes: u32,
    pub activated: bool,
    pub created_at: String,
    pub updated_at: String,
}

// Response bodies, one per shape in the contract.

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignedIn {
    pub user: User,
    pub account: Account,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    pub user: Option<User>,
    pub account: Account,
    pub role: Role,
    pub via: Via,
    pub key_id: Option<KeyId>,
    /// The service account a service key acts for.
    #[serde(default)]
    pub service_account: Option<ServiceAccountRef>,
    /// A key's grant, narrowed by the keys above it (`null` for a session, or a key granted
    /// everything its role allows).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Vec<String>>))]
    pub permissions: Option<Granted>,
    /// The checks a key may touch (`null`: every check).
    #[serde(default)]
    pub check_ids: Option<Vec<CheckId>>,
    /// Every account the signed-in person belongs to (for the switcher; empty for keys).
    #[serde(default)]
    pub accounts: Vec<AccountMembership>,
    /// The account requires a second factor and the signed-in person has none: until they set
    /// one up (Settings), everything but their own sign-in answers 403
    /// `second_factor_required`.
    #[serde(default)]
    pub must_set_up_second_factor: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountMembership {
    pub account: Account,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SwitchedAccount {
    pub account: Account,
    pub role: Role,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Empty {}

/// What `auth/login` answers: signed in, or the password is right and a second factor must
/// follow (`auth/second-factor`) before there is a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum LoginOutcome {
    SignedIn(SignedIn),
    SecondFactorRequired(SecondFactorRequired),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecondFactorRequired {
    /// Always `true`.
    pub second_factor_required: bool,
    /// What the person can answer with: `totp` (an authenticator code), `passkey`; a recovery
    /// code works with either.
    pub methods: Vec<String>,
}

/// An authenticator being set up: shown once, until `auth/totp/confirm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TotpEnrollment {
    /// The secret in base32, for apps that cannot scan.
    pub secret: String,
    /// `otpauth://totp/keyward:<email>?secret=…&issuer=keyward`.
    pub otpauth_uri: String,
    /// The URI as a QR code: a `data:image/svg+xml` URL.
    pub qr_code: String,
}

/// Recovery codes, shown once: each signs in once in place of an authenticator code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// The signed-in person's second factors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecondFactors {
    /// When the authenticator was set up (RFC 3339); `null`: none.
    pub totp_enabled_at: Option<String>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// Until when sensitive actions need no new proof (RFC 3339); `null`: they need one now.
    pub step_up_until: Option<String>,
    /// The person's passkeys, oldest first.
    #[serde(default)]
    pub passkeys: Vec<PasskeyView>,
}

/// One of a person's passkeys (its credential stays on the server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// What the browser passes to `navigator.credentials.create` or `.get`: `{"publicKey": {...}}`
/// in WebAuthn's JSON form (`PublicKeyCredential.parseCreationOptionsFromJSON` reads it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PasskeyOptions {
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub options: serde_json::Value,
}

/// A passkey added; with ten recovery codes, shown this once, when it was the person's first
/// second factor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AddedPasskey {
    pub passkey: PasskeyView,
    pub recovery_codes: Option<Vec<String>>,
}

/// A fresh proof recorded: sensitive actions need none until `until` (RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SteppedUp {
    pub until: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberList {
    pub members: Vec<Member>,
    /// Send it back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OneMember {
    pub member: Member,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub invite_url: String,
    pub expires_at: String,
    /// Whether the link is also on its way by email (when keyward is configured to send it).
    pub emailed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    pub key: Key,
    /// The only time the secret leaves the server.
    pub secret: String,
}

/// A rotation: the successor with its secret (shown this once), and the key it replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RotatedKey {
    pub key: Key,
    pub secret: String,
    pub previous: Key,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyList {
    pub keys: Vec<Key>,
    /// Send it back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OneKey {
    pub key: Key,
}

/// What `keys/revoke` answers: every key it was asked to revoke, as it is now (`key` is the
/// first of them, the whole answer when one `key_id` was sent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevokedKeys {
    pub key: Key,
    pub keys: Vec<Key>,
}

/// The account's rules for keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyPolicy {
    /// No user key may live longer: longer expiries are refused at creation, and older keys
    /// are refused when used (not revoked: raising the maximum brings them back).
    pub max_key_lifetime_days: Option<u32>,
    /// Every new key must have an expiry.
    pub require_expiry: bool,
    /// Every new service-account key must have an expiry or a network allowlist.
    #[serde(default)]
    pub require_service_key_guard: bool,
    /// Members must have a second factor: signed in without one, a member may only set one
    /// up. Keys keep working (they are already the narrower credential).
    #[serde(default)]
    pub require_second_factor: bool,
    /// Members sign in to this account through the identity provider only (single sign-on):
    /// a session that came with a password or a passkey does not act in it. Keys keep
    /// working; SCIM switches people off.
    #[serde(default)]
    pub require_sso: bool,
}

/// The account's single sign-on and provisioning, as Settings shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SsoSettings {
    /// The identity provider people sign in through (`KEYWARD_OIDC_ISSUER`); `null` when this
    /// keyward has no single sign-on.
    pub issuer: Option<String>,
    /// Members sign in through the provider only (the account policy's `require_sso`).
    pub require_sso: bool,
    /// Where the provider sends SCIM requests: `<public URL>/scim/v2`.
    pub scim_endpoint: String,
    /// The account's SCIM token (never the token itself); `null` when it has none.
    pub scim_token: Option<ScimTokenView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ScimTokenView {
    /// `kwscim_…` and its last four characters.
    pub hint: String,
    /// The role of the members it creates.
    pub default_role: Role,
    pub created_by: Option<User>,
    pub created_at: String,
    /// At most a minute behind.
    pub last_used_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OneSsoSettings {
    pub sso: SsoSettings,
}

/// A new SCIM token: shown in this answer only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedScimToken {
    /// `kwscim_…`: give it to the identity provider as its bearer token.
    pub token: String,
    pub sso: SsoSettings,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OnePolicy {
    pub policy: KeyPolicy,
}

/// The answer to "whose key is this secret?": the key of this account it is, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FoundKey {
    pub key: Option<Key>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CheckList {
    pub checks: Vec<Check>,
    /// Send it back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OneCheck {
    pub check: Check,
}

/// A pending invitation (never its token, which only the link carries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Invite {
    pub id: InviteId,
    pub email: String,
    pub role: Role,
    /// The Admin who made it; `null` when it came from a legacy account key.
    pub invited_by: Option<User>,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InviteList {
    pub invites: Vec<Invite>,
}

/// One permission of the catalogue, as `permissions/define` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OnePermission {
    pub permission: PermissionInfo,
}

/// What `keys/verify` found of a key, as one word a service can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerifyCode {
    /// Good, and it holds the permission asked for.
    Valid,
    /// Not shaped like a keyward key (or its checksum is wrong): a typo, not a key.
    Malformed,
    /// No key of this account has this secret.
    Unknown,
    /// Revoked, reported leaked, or its owner left the account (or was deleted).
    Revoked,
    /// Past its expiry, or older than the account's maximum key lifetime.
    Expired,
    /// Good, but it does not hold the permission asked for.
    Forbidden,
    /// Good, but not from this address (its networks, or those of a key above it).
    Network,
    /// Good, but over its requests-a-minute (`ratelimit` says until when).
    RateLimited,
}

/// The key a verdict is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VerifiedKey {
    pub id: KeyId,
    pub name: String,
}

/// Whom a verified key speaks for: a person, or a service account (`null` for a legacy
/// account key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeyOwner {
    User { id: UserId, email: String },
    ServiceAccount { id: ServiceAccountId, name: String },
}

/// A key's requests-a-minute as it stands after this use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RateLimitStanding {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the whole allowance is back.
    pub reset_seconds: u64,
    /// When refused: seconds until the next request is allowed.
    pub retry_after_seconds: Option<u64>,
}

/// `keys/verify`'s answer: whether the key is good for the permission, and — for a key of the
/// account that was recognised — whose it is and what it holds now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyVerdict {
    pub valid: bool,
    pub code: VerifyCode,
    /// What exactly refused it, where `code` groups several (`owner_removed`, `owner_suspended`,
    /// `older_than_policy`, `outside_parent_networks`, …); `null` when valid.
    pub reason: Option<String>,
    /// `null` for a malformed or unknown secret (another account's keys are unknown).
    pub key: Option<VerifiedKey>,
    pub owner: Option<KeyOwner>,
    pub account_id: Option<AccountId>,
    /// The role it acts with now (its owner's, capped); `null` when it acts with none.
    pub role: Option<Role>,
    /// What it may do now: keyward's permissions and the account's own that its role and its
    /// grant (and every key above it) allow.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Vec<String>>))]
    pub permissions: Option<Granted>,
    pub expires_at: Option<String>,
    /// `null` for a key without a limit.
    pub ratelimit: Option<RateLimitStanding>,
}

/// Whether a webhook endpoint receives its deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// Its last delivery that ended, ended well (or none has ended yet).
    Active,
    /// A delivery ran out of retries; it becomes active again when one is received.
    Failing,
}

/// A webhook endpoint of the account (its signing secret is shown only when made or rotated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    /// The event patterns it receives (`key.*`, `member.removed`, `*`).
    pub events: Vec<String>,
    pub description: String,
    pub status: WebhookStatus,
    /// RFC 3339: since when it is failing.
    pub failing_since: Option<String>,
    /// RFC 3339: until when the secret before the last rotation still signs too.
    pub previous_secret_until: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`), shown this once: receivers verify deliveries with it.
    pub secret: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OneWebhook {
    pub webhook: Webhook,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RotatedWebhookSecret {
    /// The new signing secret, shown this once.
    pub secret: String,
    /// RFC 3339: until then deliveries carry a signature by the old secret too.
    pub previous_secret_until: String,
}

/// Where one delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or its next retry (`next_attempt_at`).
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Out of retries.
    Failed,
}

/// One delivery of one event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: DeliveryId,
    /// The receiver's `webhook-id`: the event's id, the same on every retry and redelivery.
    pub message_id: String,
    /// The audit event it carries (`null` for a test event).
    pub event_id: Option<String>,
    /// The event's action (`key.revoked`), or `webhook.test`.
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// RFC 3339, while pending.
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// The receiver's HTTP status at the last attempt.
    pub response_status: Option<i64>,
    /// The start of the receiver's answer at the last attempt (at most 1,000 characters).
    pub response_body: Option<String>,
    /// How long the last attempt took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Why the last attempt failed, when it did without an answer (refused address, timeout…).
    pub error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryList {
    pub deliveries: Vec<WebhookDelivery>,
    /// Send it back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}
