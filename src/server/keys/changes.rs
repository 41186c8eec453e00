//! What the request running in this task changed about how keys check out: the use case that
//! revokes, rotates or re-guards a key (or changes a member, or the key policy) notes the account
//! after its commit, and the API boundary, which runs every request inside [`noting_changes`], has
//! the instance forget those accounts' kept keys and waits for the others before it answers.

use crate::domain::ids::AccountId;
use std::{cell::RefCell, collections::HashSet, future::Future};

/// What the request running in this task changed about key checks.
#[derive(Default)]
pub struct Changes {
    /// Accounts whose key checks it changed (committed: noted after the commit).
    pub accounts: HashSet<AccountId>,
    /// It must answer as late as a change would, whatever it changed (a leak report).
    pub wait_anyway: bool,
}

impl Changes {
    pub fn any(&self) -> bool {
        self.wait_anyway || !self.accounts.is_empty()
    }
}

tokio::task_local! {
    static CHANGED: RefCell<Changes>;
}

/// Marks the current request as one that changed how the keys of `account_id` check out (its
/// transaction moved the counter), so that its instance forgets them and it waits before
/// answering. Outside a request (the command line) there is nothing to mark: instances see the
/// change within a window.
pub fn note_change(account_id: &AccountId) {
    let noted = CHANGED.try_with(|changed| {
        changed.borrow_mut().accounts.insert(account_id.clone());
    });
    if noted.is_err() {
        tracing::debug!("a key-check change outside a request");
    }
}

/// Marks the current request as one that answers as late as a change would.
pub fn note_wait() {
    let _ = CHANGED.try_with(|changed| changed.borrow_mut().wait_anyway = true);
}

/// Runs a request, saying what it changed about key checks.
pub async fn noting_changes<F: Future>(request: F) -> (F::Output, Changes) {
    CHANGED
        .scope(RefCell::new(Changes::default()), async {
            let output = request.await;
            (
                output,
                CHANGED.with(|changed| std::mem::take(&mut *changed.borrow_mut())),
            )
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_that_notes_a_change_is_told_which_accounts() {
        let account = AccountId::generate();
        let (_, changed) = noting_changes(async { note_change(&account) }).await;
        assert!(changed.any());
        assert_eq!(changed.accounts, HashSet::from([account.clone()]));
        let (_, changed) = noting_changes(async {}).await;
        assert!(!changed.any());
        let (_, changed) = noting_changes(async { note_wait() }).await;
        assert!(changed.any() && changed.accounts.is_empty());
        // Outside a request, noting is harmless.
        note_change(&account);
    }
}
