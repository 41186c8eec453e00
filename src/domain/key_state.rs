//! What a key is at a given moment, from what is stored about it: its status, the role it acts
//! with (its cap under its owner's current role), and how many days it has left.

use crate::domain::time::{Millis, DAY};
use crate::domain::views::{KeyKind, KeyStatus};
use crate::domain::Role;

/// The role a key acts with now: legacy keys are Admin; a user key is its owner's current role,
/// lowered to its cap; `None` when the owner is no longer a member.
pub fn effective_role(
    kind: KeyKind,
    role_cap: Option<Role>,
    owner_role: Option<Role>,
) -> Option<Role> {
    if kind == KeyKind::LegacyAccount {
        return Some(Role::Admin);
    }
    let owner_role = owner_role?;
    Some(match role_cap {
        Some(cap) => cap.min(owner_role),
        None => owner_role,
    })
}

/// Days until `expires_at` (rounded up), when that is within 30 days.
pub fn expires_in_days(now: Millis, expires_at: Option<Millis>) -> Option<u32> {
    let left = expires_at?.since(now);
    let days = left.as_millis().div_ceil(DAY.as_millis());
    (days <= 30).then(|| u32::try_from(days.max(1)).unwrap_or(1))
}

pub fn status(now: Millis, expires_at: Option<Millis>, revoked_at: Option<Millis>) -> KeyStatus {
    if revoked_at.is_some() {
        KeyStatus::Revoked
    } else if expires_at.is_some_and(|expiry| expiry <= now) {
        KeyStatus::Expired
    } else {
        KeyStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_role_is_the_lower_of_cap_and_current_role() {
        use KeyKind::{LegacyAccount, User};
        use Role::{Admin, ReadOnly, ReadWrite};
        assert_eq!(effective_role(User, None, Some(Admin)), Some(Admin));
        assert_eq!(
            effective_role(User, Some(ReadOnly), Some(Admin)),
            Some(ReadOnly)
        );
        assert_eq!(
            effective_role(User, Some(Admin), Some(ReadWrite)),
            Some(ReadWrite)
        );
        assert_eq!(
            effective_role(User, Some(Admin), None),
            None,
            "owner removed"
        );
        assert_eq!(effective_role(LegacyAccount, None, None), Some(Admin));
    }

    #[test]
    fn keys_are_flagged_in_their_last_thirty_days() {
        let day = DAY.as_millis() as i64;
        let now = Millis::from_i64(1_000 * day);
        let at = |millis: i64| Some(Millis::from_i64(1_000 * day + millis));
        assert_eq!(expires_in_days(now, None), None);
        assert_eq!(expires_in_days(now, at(31 * day)), None);
        assert_eq!(expires_in_days(now, at(30 * day)), Some(30));
        assert_eq!(expires_in_days(now, at(6 * day + 1)), Some(7));
        assert_eq!(expires_in_days(now, at(3_600_000)), Some(1));
    }

    #[test]
    fn status_prefers_revoked_then_expired() {
        let at = Millis::from_i64;
        assert_eq!(status(at(10), None, None), KeyStatus::Active);
        assert_eq!(status(at(10), Some(at(10)), None), KeyStatus::Expired);
        assert_eq!(status(at(10), Some(at(11)), None), KeyStatus::Active);
        assert_eq!(status(at(10), Some(at(5)), Some(at(3))), KeyStatus::Revoked);
    }
}
