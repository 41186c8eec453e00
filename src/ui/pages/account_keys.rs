use crate::api::keys::{list_account_keys, RevokeKey};
use crate::domain::{
    views::{KeyKind, Me},
    Action,
};
use crate::ui::{
    components::{action_error, ErrorNote, Loading},
    layout::{use_session, RequireSignIn},
    pages::keys::KeyTable,
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AccountKeysPage() -> impl IntoView {
    view! {
        <Title text="All keys · keyward" />
        <RequireSignIn render=|me| view! { <AccountKeys me /> } />
    }
}

#[component]
fn AccountKeys(me: Me) -> impl IntoView {
    if !crate::domain::allows(me.role, me.via, Action::ManageAccountKeys) {
        return view! { <p class="notice">"Only Admins can see every key of the account."</p> }
            .into_any();
    }
    let session = use_session();
    let revoke = ServerAction::<RevokeKey>::new();
    let keys = Resource::new(
        move || (session.version.get(), revoke.version().get()),
        |_| list_account_keys(),
    );
    view! {
        <div class="page-head">
            <h1>"All keys"</h1>
            <p class="muted">{format!("Every key of {}: revoke any of them.", me.account.name)}</p>
        </div>
        <ErrorNote error=action_error(revoke.value()) />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) => {
                        let has_legacy = list.keys.iter().any(|key| key.kind == KeyKind::LegacyAccount && key.revoked_at.is_none());
                        view! {
                            {has_legacy.then(|| view! {
                                <p class="notice">
                                    <strong>"Legacy account keys are deprecated."</strong>
                                    " They act as Admin with no person behind them and cannot be created any more. "
                                    "Ask each integration's owner to create a user key, then revoke the legacy key."
                                </p>
                            })}
                            {if list.keys.is_empty() {
                                view! { <div class="empty"><p>"No keys in this account yet."</p></div> }.into_any()
                            } else {
                                view! { <KeyTable keys=list.keys revoke show_owner=true /> }.into_any()
                            }}
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
