//! The deployment-wide key-check counter: every change to how a key checks out moves it, in the
//! transaction of the change, and records the account it changed; each instance reads it to know
//! when to forget what it kept (see `keys::cache`).

use crate::domain::audit::AuditAction;
use crate::domain::ids::AccountId;
use crate::server::audit::Event;
use crate::server::db::Pool;
use sqlx::{Any, Transaction};

/// Whether an event's change can alter how a key checks out. Every action has an answer here:
/// a new action does not compile until someone has decided. `key.updated` moves it only when
/// the key's guards changed (`guards_changed`): a rename alters no key check.
pub fn changes_key_checks(action: AuditAction, guards_changed: bool) -> bool {
    use AuditAction::*;
    match action {
        // What a key check reads: the key's revocation, expiry and guards (and its ancestors'),
        // its owner's role in the membership it was made in, the account's key policy.
        KeyRevoked | KeyRotated | KeyLeakReported | MemberRoleChanged | MemberRemoved
        | MemberLeft | PolicyChanged => true,
        // A suspended membership's keys stop, and come back with it.
        MemberSuspended | MemberReactivated => true,
        KeyUpdated => guards_changed,
        // A service account's role is its keys' owner role; its deletion stops them; an
        // adopted legacy key acts with its service account's role from then on.
        ServiceAccountDeleted | KeyAdopted => true,
        // A key check holds the account's own permissions with the key (`keys/verify`, forward
        // auth): a new one is held by every key granted everything, a removed one by none.
        PermissionDefined | PermissionUndefined => true,
        // For a service account, "guards" is its role: a new name or custodians change no
        // key check.
        ServiceAccountUpdated => guards_changed,
        // New rows (a key that is not cached yet, a membership no existing key is bound to)
        // and changes to nothing a key check reads.
        AccountCreated
        | MemberInvited
        | InviteWithdrawn
        | MemberJoined
        | KeyCreated
        | KeyRejected
        | LegacyKeysImported
        | SessionSignedIn
        | SessionSignInFailed
        | SessionSignedOut
        | PasswordChanged
        | CheckCreated
        | CheckUpdated
        | CheckDeleted
        | ServiceAccountCreated => false,
        // A warning about a key that still works, and webhooks, which no key check reads.
        KeyExpiring | WebhookCreated | WebhookUpdated | WebhookDeleted | WebhookSecretRotated
        | WebhookFailing => false,
        // A person's sign-in factors and proofs: keys do not sign in.
        TotpEnabled | TotpRemoved | RecoveryCodesRenewed | RecoveryCodeUsed | PasskeyAdded
        | PasskeyRemoved | SteppedUp => false,
        // Single sign-on and provisioning's own records: a member's names from the identity
        // provider, a linked identity, the SCIM token, a break-glass password sign-in.
        MemberUpdated | SsoLinked | ScimTokenCreated | ScimTokenRevoked | PasswordSignInAllowed => {
            false
        }
    }
}

/// The counter that every change to how a key checks out moves (see `keys::cache`).
pub async fn check_epoch(pool: &Pool) -> Result<u64, sqlx::Error> {
    let (epoch,): (i64,) = sqlx::query_as("SELECT epoch FROM key_check_epoch WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok(epoch.unsigned_abs())
}

/// Says, in the transaction of the change that `event` records, that the change alters how keys
/// of its account check out: moves the counter and records the account at the new value. Each
/// store whose change a key check reads calls it right after appending the event (so the
/// chain's lock, the counter's and the account's are taken in one order, last), and the use
/// case that called the store notes the change for the API boundary (`keys::changes`).
/// Which changes those are is [`changes_key_checks`], held to this in debug builds.
pub async fn changed(
    transaction: &mut Transaction<'static, Any>,
    event: &Event,
) -> Result<(), sqlx::Error> {
    debug_assert!(
        changes_key_checks(event.action, event.guards_changed),
        "{} does not change key checks",
        event.action.as_str()
    );
    let account_id = &event.account_id;
    let (epoch,): (i64,) =
        sqlx::query_as("UPDATE key_check_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")
            .fetch_one(&mut **transaction)
            .await?;
    sqlx::query(
        "INSERT INTO key_check_accounts (account_id, seq) VALUES ($1, $2) \
         ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(account_id)
    .bind(epoch)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// The accounts whose key checks changed after the counter stood at `after`.
pub async fn accounts_changed_after(
    pool: &Pool,
    after: u64,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let rows: Vec<(AccountId,)> =
        sqlx::query_as("SELECT account_id FROM key_check_accounts WHERE seq > $1")
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_changes_a_key_check_reads_move_the_counter() {
        let moving: Vec<_> = AuditAction::ALL
            .iter()
            .filter(|action| changes_key_checks(**action, false))
            .map(|action| action.as_str())
            .collect();
        assert_eq!(
            moving,
            [
                "member.role_changed",
                "member.removed",
                "member.left",
                "key.revoked",
                "key.rotated",
                "key.leak_reported",
                "policy.changed",
                "service_account.deleted",
                "key.adopted",
                "permission.defined",
                "permission.undefined",
                "member.suspended",
                "member.reactivated"
            ]
        );
        // A rename does not; a change of guards does.
        assert!(!changes_key_checks(AuditAction::KeyUpdated, false));
        assert!(changes_key_checks(AuditAction::KeyUpdated, true));
        // A service account's new name or custodians do not; its new role does.
        assert!(!changes_key_checks(
            AuditAction::ServiceAccountUpdated,
            false
        ));
        assert!(changes_key_checks(AuditAction::ServiceAccountUpdated, true));
    }
}
