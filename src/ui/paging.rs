//! Lists in the UI show their first page and load the next ones on request ("Load more"), as
//! the API hands them out: a list of 10,000 keys never arrives in one piece.

use crate::domain::ApiError;
use crate::ui::components::ErrorNote;
use leptos::prelude::*;
use std::future::Future;

/// The rows after a list's first page that a person asked for, and where the next page starts.
/// Reset it whenever the first page is fetched again (a filter changed, a row was revoked).
pub struct MorePages<T: Send + Sync + 'static> {
    rows: RwSignal<Vec<T>>,
    /// `Some(cursor)` once a page beyond the first was loaded: the cursor after it.
    after: RwSignal<Option<Option<String>>>,
    pending: RwSignal<bool>,
    error: RwSignal<Option<ApiError>>,
}

impl<T: Send + Sync + 'static> Clone for MorePages<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for MorePages<T> {}

impl<T: Clone + Send + Sync + 'static> Default for MorePages<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + Sync + 'static> MorePages<T> {
    pub fn new() -> Self {
        MorePages {
            rows: RwSignal::new(Vec::new()),
            after: RwSignal::new(None),
            pending: RwSignal::new(false),
            error: RwSignal::new(None),
        }
    }

    pub fn reset(&self) {
        self.rows.set(Vec::new());
        self.after.set(None);
        self.error.set(None);
    }

    /// The first page followed by the pages loaded since (tracked).
    pub fn after_first(&self, first: &[T]) -> Vec<T> {
        let mut all = first.to_vec();
        all.extend(self.rows.get());
        all
    }

    /// Where the next page starts, if there is one (tracked).
    fn next_cursor(&self, first: Option<String>) -> Option<String> {
        self.after.get().unwrap_or(first)
    }

    fn load<Fut>(&self, cursor: String, fetch: impl FnOnce(String) -> Fut)
    where
        Fut: Future<Output = Result<(Vec<T>, Option<String>), ApiError>> + 'static,
    {
        let more = *self;
        more.pending.set(true);
        let page = fetch(cursor);
        leptos::task::spawn_local(async move {
            match page.await {
                Ok((rows, next)) => {
                    more.rows.update(|loaded| loaded.extend(rows));
                    more.after.set(Some(next));
                    more.error.set(None);
                }
                Err(error) => more.error.set(Some(error)),
            }
            more.pending.set(false);
        });
    }
}

/// "Load more" under a list while more rows follow, with what went wrong if loading failed.
#[component]
pub fn LoadMore<T, F, Fut>(
    more: MorePages<T>,
    /// `next_cursor` of the first page.
    first_cursor: Option<String>,
    /// Fetches the page at a cursor: its rows and the cursor after it.
    fetch: F,
    /// What the rows are, for the button: "keys", "checks".
    noun: &'static str,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    F: Fn(String) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ApiError>> + 'static,
{
    let first_cursor = StoredValue::new(first_cursor);
    view! {
        {move || {
            more.next_cursor(first_cursor.get_value()).map(|cursor| {
                let cursor = StoredValue::new(cursor);
                view! {
                    <p class="load-more">
                        <button type="button" class="secondary" disabled=move || more.pending.get()
                            on:click=move |_| more.load(cursor.get_value(), fetch)>
                            {move || if more.pending.get() { format!("Loading more {noun}…") } else { format!("Load more {noun}") }}
                        </button>
                    </p>
                }
            })
        }}
        <ErrorNote error=Signal::derive(move || more.error.get()) />
    }
}

/// The most members a picker offers (whom to filter the trail by, whom to make a custodian);
/// an account with more can still type an id where the API takes one.
pub const PICKER_MEMBERS: i64 = 200;

/// The account's first members, for a picker: fetched again when the session changes.
pub fn members_for_picker() -> Resource<Result<crate::domain::views::MemberList, ApiError>> {
    let session = crate::ui::layout::use_session();
    Resource::new(
        move || session.version.get(),
        |_| {
            crate::api::members::list_members(crate::domain::requests::ListMembersRequest {
                cursor: None,
                limit: Some(PICKER_MEMBERS),
            })
        },
    )
}
