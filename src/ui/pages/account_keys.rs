use crate::api::keys::{list_account_keys, RevokeKey};
use crate::api::service_accounts::AdoptAccountKey;
use crate::domain::{
    views::{Key, KeyKind, Me},
    Permission,
};
use crate::ui::{
    components::{action_error, ErrorNote, Loading},
    key_table::KeyTable,
    layout::{use_session, SignedInPage},
    pages::keys::{KeyFilterBar, KeyFilters},
    paging::{LoadMore, MorePages},
};
use leptos::prelude::*;

#[component]
pub fn AccountKeysPage() -> impl IntoView {
    view! {
        <SignedInPage title="All keys" render=|me| view! { <AccountKeys me /> } />
    }
}

#[component]
fn AccountKeys(me: Me) -> impl IntoView {
    if !crate::domain::allows(me.role, me.via, Permission::AccountKeysRead) {
        return view! { <p class="notice">"Only Admins can see every key of the account."</p> }
            .into_any();
    }
    let session = use_session();
    let revoke = ServerAction::<RevokeKey>::new();
    let adopt = ServerAction::<AdoptAccountKey>::new();
    let retry_adopt = crate::ui::step_up::retry_of(adopt);
    let filters = KeyFilters::new();
    let reloads = move || {
        (
            session.version.get(),
            revoke.version().get(),
            adopt.version().get(),
            filters.tracked(),
        )
    };
    let keys = Resource::new(reloads, move |_| {
        list_account_keys(filters.account_keys_request(None))
    });
    let more = MorePages::<Key>::new();
    Effect::watch(reloads, move |_, _, _| more.reset(), false);
    let next_page = move |cursor: String| {
        let request = filters.account_keys_request(Some(cursor));
        async move {
            list_account_keys(request)
                .await
                .map(|list| (list.keys, list.next_cursor))
        }
    };
    view! {
        <div class="page-head">
            <h1>"All keys"</h1>
            <p class="muted">{format!("Every key of {}: revoke any of them.", me.account.name)}</p>
        </div>
        <ErrorNote error=action_error(revoke.value()) />
        <KeyFilterBar filters />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) => {
                        let legacy: Vec<Key> = list.keys.iter().filter(|key| key.kind == KeyKind::LegacyAccount && key.revoked_at.is_none()).cloned().collect();
                        let first = list.keys;
                        view! {
                            {(!legacy.is_empty()).then(|| view! {
                                <p class="notice">
                                    <strong>"Legacy account keys are deprecated."</strong>
                                    " They act as Admin with no person behind them and cannot be created any more. "
                                    "Adopt each into a service account below, or ask its integration's owner to create a key of their own and revoke the legacy key."
                                </p>
                                <crate::ui::service_accounts::AdoptLegacyKeys legacy adopt retry_adopt />
                            })}
                            {if first.is_empty() && filters.active() {
                                view! { <div class="empty"><p>"No keys match these filters."</p></div> }.into_any()
                            } else if first.is_empty() {
                                view! { <div class="empty"><p>"No keys in this account yet."</p></div> }.into_any()
                            } else {
                                (move || view! { <KeyTable keys=more.after_first(&first) revoke show_owner=true /> }).into_any()
                            }}
                            <LoadMore more first_cursor=list.next_cursor fetch=next_page noun="keys" />
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                }
            })}
        </Transition>
    }
    .into_any()
}
