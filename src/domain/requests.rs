//! The JSON bodies of the operations. Each server function takes one of these (flattened, so
//! the body is the plain object of `docs/api.md`), and the OpenAPI document describes the very
//! same types, so the published contract cannot drift from what the server accepts.

use crate::domain::Role;
use serde::{Deserialize, Deserializer, Serialize};

/// Tells a field sent as `null` (`Some(None)`: clear it) from one left out (`None`: keep it).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

macro_rules! request {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident : $type:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        pub struct $name {
            $($(#[$field_doc])* pub $field: $type),*
        }
    };
}

request!(
    /// An operation that takes no arguments: `{}`.
    NoArguments {}
);
request!(SignupRequest {
    /// At most 254 characters; stored lower-cased.
    email: String,
    /// 10 to 128 characters.
    password: String,
    /// 1 to 100 characters after trimming.
    account_name: String,
});
request!(LoginRequest {
    email: String,
    password: String
});
request!(SwitchAccountRequest { account_id: String });
request!(
    /// The second step of a sign-in: one of the two.
    SecondFactorRequest {
        /// The six digits the person's authenticator app shows now.
        code: Option<String>,
        /// One of the person's recovery codes (`abcde-fghjk`); each works once.
        recovery_code: Option<String>,
        /// A passkey's answer to `auth/passkeys/challenge` (`PublicKeyCredential.toJSON()`).
        #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
        passkey: Option<serde_json::Value>,
    }
);
request!(ConfirmTotpRequest {
    /// The six digits the authenticator app shows, proving it holds the secret.
    code: String,
});
request!(
    /// A fresh proof of the signed-in person: one of the two.
    StepUpRequest {
        password: Option<String>,
        /// The six digits of the person's authenticator (for people who have one).
        code: Option<String>,
        /// A passkey's answer to `auth/passkeys/challenge` (`PublicKeyCredential.toJSON()`).
        #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
        passkey: Option<serde_json::Value>,
    }
);
request!(
    /// A new passkey: the name the person gives it, and the browser's answer to
    /// `auth/passkeys/register/start` (`PublicKeyCredential.toJSON()`).
    FinishPasskeyRequest {
        /// 1 to 100 characters.
        name: String,
        #[cfg_attr(feature = "ssr", schema(value_type = Object))]
        credential: serde_json::Value,
    }
);
request!(PasskeyIdRequest { passkey_id: String });
request!(
    /// A passkey's answer to `auth/passkeys/challenge`, made without a pending sign-in.
    PasskeySignInRequest {
        #[cfg_attr(feature = "ssr", schema(value_type = Object))]
        credential: serde_json::Value,
    }
);
request!(InviteMemberRequest {
    email: String,
    role: Role
});
request!(AcceptInviteRequest {
    /// The last part of the invite link.
    token: String,
    /// Required for a new person (their new password) and for an existing login that is not
    /// signed in (its password).
    password: Option<String>,
});
request!(SetMemberRoleRequest {
    user_id: String,
    role: Role
});
request!(RemoveMemberRequest { user_id: String });
request!(CreateKeyRequest {
    /// 1 to 100 characters: what uses the key.
    name: String,
    /// At or below the caller's role; absent, the key follows its owner's role.
    role_cap: Option<Role>,
    /// RFC 3339, in the future; absent, the key does not expire.
    expires_at: Option<String>,
    /// Networks the key may be used from (CIDRs or addresses, IPv4 or IPv6; at most 50);
    /// absent or empty, anywhere.
    allowed_cidrs: Option<Vec<String>>,
    /// 1 to 100000 requests a minute; absent, no limit.
    rate_limit_per_minute: Option<i64>,
    /// Permission names (`permissions/list`); absent or `null`: everything the role allows.
    /// Made with a key, at most that key's.
    permissions: Option<Vec<String>>,
    /// Checks of the account the key may touch; absent or `null`: every check.
    check_ids: Option<Vec<String>>,
    /// Makes the key for this service account instead of the caller (its custodians and
    /// Admins, in a browser). Through a service key it may only name that key's own.
    service_account_id: Option<String>,
});
request!(
    /// Fields left out keep their value. Through a key only the name can change: a key must
    /// not loosen its own guards.
    UpdateKeyRequest {
        key_id: String,
        name: Option<String>,
        allowed_cidrs: Option<Vec<String>>,
        /// `null` removes the limit.
        #[serde(default, deserialize_with = "present")]
        rate_limit_per_minute: Option<Option<i64>>,
        /// A new grant; `null`: everything the role allows. Through a key, only narrower.
        #[serde(default, deserialize_with = "present")]
        permissions: Option<Option<Vec<String>>>,
        /// New checks; `null`: every check. Through a key, only fewer.
        #[serde(default, deserialize_with = "present")]
        check_ids: Option<Option<Vec<String>>>,
    }
);
request!(
    /// One key (`key_id`) or up to 100 (`key_ids`, revoked in one transaction: all or none).
    RevokeKeyRequest {
        key_id: Option<String>,
        key_ids: Option<Vec<String>>,
    }
);
request!(RotateKeyRequest {
    key_id: String,
    /// How long the old secret keeps working: 0 (it stops now) to 604800 (7 days).
    grace_seconds: i64,
    /// Hands a person's key over to this service account (Admin, in a browser): the successor,
    /// shown once to the Admin, speaks for the service account; so does the old secret for
    /// its grace period.
    to_service_account_id: Option<String>,
});
request!(WithdrawInviteRequest { invite_id: String });
request!(ChangePasswordRequest {
    /// The password in use now.
    current_password: String,
    /// 10 to 128 characters.
    new_password: String,
});
request!(CheckIdRequest { check_id: String });
request!(CreateCheckRequest {
    /// 1 to 100 characters.
    name: String,
    /// "api" or "browser".
    kind: String,
    /// http(s), at most 2048 characters.
    url: String,
    /// 1 to 1440.
    frequency_minutes: i64,
    activated: bool,
});
request!(
    /// Fields left out keep their value.
    UpdateCheckRequest {
        check_id: String,
        name: Option<String>,
        kind: Option<String>,
        url: Option<String>,
        frequency_minutes: Option<i64>,
        activated: Option<bool>,
    }
);
request!(
    /// Every field is optional; filters combine (AND).
    AuditListRequest {
        /// `next_cursor` of the previous page.
        cursor: Option<String>,
        /// 1 to 200; 50 when absent.
        limit: Option<i64>,
        /// An action such as `key.revoked`.
        action: Option<String>,
        /// Events done by this person (by session or with any of their keys).
        actor_user_id: Option<String>,
        /// Events done with this key, or about it.
        key_id: Option<String>,
        /// RFC 3339: events at or after this time.
        since: Option<String>,
        /// RFC 3339: events before this time.
        until: Option<String>,
    }
);
request!(
    /// Every field is optional; filters combine (AND). Newest keys first.
    ListKeysRequest {
        /// `next_cursor` of the previous page.
        cursor: Option<String>,
        /// 1 to 200; 50 when absent.
        limit: Option<i64>,
        /// Part of a key's name or hint (`kw_AbCd…wXyZ`), in any case.
        search: Option<String>,
        /// `active`, `revoked`, `expired`, or `expiring` (active, and expiring within 7 days).
        status: Option<String>,
        /// The keys of this service account instead of the caller's own (its custodians and
        /// Admins).
        service_account_id: Option<String>,
    }
);
request!(
    /// Every field is optional; filters combine (AND). Newest keys first.
    ListAccountKeysRequest {
        /// `next_cursor` of the previous page.
        cursor: Option<String>,
        /// 1 to 200; 50 when absent.
        limit: Option<i64>,
        /// Part of a key's name or hint (`kw_AbCd…wXyZ`), in any case.
        search: Option<String>,
        /// `active`, `revoked`, `expired`, or `expiring` (active, and expiring within 7 days).
        status: Option<String>,
        /// Only this person's keys.
        owner_user_id: Option<String>,
        /// Only this service account's keys.
        service_account_id: Option<String>,
    }
);
request!(
    /// Every field is optional. Checks come by name.
    ListChecksRequest {
        /// `next_cursor` of the previous page.
        cursor: Option<String>,
        /// 1 to 200; 50 when absent.
        limit: Option<i64>,
        /// Part of a check's name or URL, in any case.
        search: Option<String>,
    }
);
request!(
    /// Every field is optional. Members come in the order they joined.
    ListMembersRequest {
        /// `next_cursor` of the previous page.
        cursor: Option<String>,
        /// 1 to 200; 50 when absent.
        limit: Option<i64>,
    }
);
request!(GetKeyRequest { key_id: String });
request!(ReportLeakRequest {
    /// 1 to 100 strings that look like keyward keys, found somewhere public.
    secrets: Vec<String>,
});
request!(
    /// Fields left out keep their value.
    SetKeyPolicyRequest {
        /// 1 to 3650; `null` removes the maximum.
        #[serde(default, deserialize_with = "present")]
        max_key_lifetime_days: Option<Option<i64>>,
        require_expiry: Option<bool>,
        /// Every new service-account key must have an expiry or a network allowlist.
        require_service_key_guard: Option<bool>,
        /// Members must have a second factor to do anything but set one up. Turning it on
        /// needs the person turning it on to have one.
        require_second_factor: Option<bool>,
        /// Members sign in to this account through the identity provider only. Turning it on
        /// needs single sign-on set up, and the person turning it on signed in through it.
        require_sso: Option<bool>,
    }
);
request!(
    /// A new SCIM token for the account (it replaces the one it had).
    CreateScimTokenRequest {
        /// The role of the members the identity provider creates; default `read_only`.
        default_role: Option<Role>,
    }
);
request!(CreateServiceAccountRequest {
    /// 1 to 100 characters, unique among the account's service accounts.
    name: String,
    /// What its keys act with at most.
    role: Role,
    /// Up to 500 characters: what it is for.
    description: Option<String>,
});
request!(
    /// Fields left out keep their value.
    UpdateServiceAccountRequest {
        service_account_id: String,
        name: Option<String>,
        /// Its keys act with the new role from the next request.
        role: Option<Role>,
        description: Option<String>,
        /// The whole new list of custodians: members of the account (at most 50). Empty: only
        /// the Admins manage its keys.
        custodian_user_ids: Option<Vec<String>>,
    }
);
request!(ServiceAccountIdRequest {
    service_account_id: String
});
request!(AdoptKeyRequest {
    /// A legacy account key of this account.
    key_id: String,
    /// The service account that owns it from now on.
    service_account_id: String,
});
request!(FindKeyRequest {
    /// A key's secret, e.g. one found in a public repository. It is hashed in memory to find
    /// the key and never stored or logged.
    secret: String,
});
request!(DefinePermissionRequest {
    /// `resource:access` in lowercase, like "orders:read" (letters, digits and dashes, at most
    /// 64 characters), about one of your service's resources rather than keyward's.
    name: String,
    /// What it lets a key do in your service; at most 500 characters.
    description: Option<String>,
    /// The least role a key's owner needs for the key to use it.
    least_role: Role,
});
request!(PermissionNameRequest {
    /// One of the account's own permissions.
    name: String,
});
request!(
    /// What a service behind keyward asks about a key it was shown.
    VerifyKeyRequest {
        /// The key the service's client sent (its `Authorization: Bearer` value). Hashed in
        /// memory to find the key; never stored or logged.
        secret: String,
        /// The permission the client's request needs — one of keyward's or the account's own;
        /// absent: only whether the key is good.
        permission: Option<String>,
        /// The address the client called the service from, for the key's networks and the
        /// trail; believed because only a verifier can send it.
        client_address: Option<String>,
    }
);
request!(
    /// A new webhook endpoint of the account.
    CreateWebhookRequest {
        /// Where deliveries are POSTed: `https://…` (or `http://…`), at most 2,000 characters.
        url: String,
        /// Which events it receives: audit actions (`key.revoked`), a resource's actions
        /// (`key.*`) or every event (`*`). 1 to 50 patterns.
        events: Vec<String>,
        /// What receives them, for the people reading Settings; at most 500 characters.
        description: Option<String>,
    }
);
request!(
    /// A change to a webhook endpoint: the fields left out keep their value.
    UpdateWebhookRequest {
        webhook_id: String,
        url: Option<String>,
        events: Option<Vec<String>>,
        description: Option<String>,
    }
);
request!(WebhookIdRequest { webhook_id: String });
request!(
    /// A page of one endpoint's deliveries, newest first.
    WebhookDeliveriesRequest {
        webhook_id: String,
        /// `next_cursor` of the previous page.
        cursor: Option<String>,
        /// 1 to 100; 20 when absent.
        limit: Option<i64>,
    }
);
request!(DeliveryIdRequest {
    delivery_id: String
});
