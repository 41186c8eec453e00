//! The signed-in state shared by every page, and the top bar (account switcher, sign-out).

use crate::api::auth::{whoami, Logout, SwitchAccount};
use crate::domain::requests::SwitchAccountRequest;
use crate::domain::{views::Me, ApiError, ErrorCode};
use crate::ui::components::{ErrorNote, Loading};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Who is signed in, fetched once and again whenever `refresh` is called (sign-in, sign-out,
/// account switch). Pages key their own data on `version` so they follow an account switch.
#[derive(Clone, Copy)]
pub struct SessionContext {
    pub me: Resource<Result<Me, ApiError>>,
    pub version: RwSignal<u32>,
}

impl SessionContext {
    pub fn refresh(&self) {
        self.version.update(|version| *version += 1);
    }
}

pub fn provide_session() {
    let version = RwSignal::new(0u32);
    let me = Resource::new(move || version.get(), |_| whoami());
    provide_context(SessionContext { me, version });
}

pub fn use_session() -> SessionContext {
    expect_context::<SessionContext>()
}

#[component]
pub fn Nav() -> impl IntoView {
    let session = use_session();
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <img class="brand-mark" src="/favicon.svg" alt="" width="24" height="24" />
                "keyward"
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match session.me.await {
                        Ok(me) => view! { <SignedInNav me /> }.into_any(),
                        Err(_) => {
                            view! {
                                <nav class="links" aria-label="Account">
                                    <a href="/login">"Sign in"</a>
                                    <a class="button" href="/signup">"Create an account"</a>
                                </nav>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </header>
    }
}

#[component]
fn SignedInNav(me: Me) -> impl IntoView {
    let session = use_session();
    let logout = ServerAction::<Logout>::new();
    let switch = ServerAction::<SwitchAccount>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if logout.value().get().is_some() {
            session.refresh();
            navigate("/login", Default::default());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = switch.value().get() {
            session.refresh();
        }
    });
    let is_admin =
        crate::domain::allows(me.role, me.via, crate::domain::Permission::AccountKeysRead);
    let current = me.account.id.clone();
    let accounts = me.accounts.clone();
    let email = me
        .user
        .as_ref()
        .map(|user| user.email.clone())
        .unwrap_or_default();
    view! {
        <nav class="links" aria-label="Main">
            <a href="/checks">"Checks"</a>
            <a href="/members">"Members"</a>
            <a href="/keys">"API keys"</a>
            {is_admin.then(|| view! { <a href="/account-keys">"All keys"</a> <a href="/audit">"Audit log"</a> })}
        </nav>
        <div class="session">
            <label class="switcher">
                <span class="visually-hidden">"Current account"</span>
                <select
                    aria-label="Current account"
                    on:change=move |ev| {
                        switch.dispatch(SwitchAccount { request: SwitchAccountRequest { account_id: event_target_value(&ev) } });
                    }
                >
                    {accounts
                        .into_iter()
                        .map(|membership| {
                            let selected = membership.account.id == current;
                            view! {
                                <option value=membership.account.id.to_string() selected=selected>
                                    {format!("{} · {}", membership.account.name, membership.role.label())}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <a class="who" href="/settings" title="Your settings (password)">{email}</a>
            <button class="link-button" on:click=move |_| { logout.dispatch(Logout {}); }>
                "Sign out"
            </button>
        </div>
    }
}

/// A page for members: its title, and `render(me)` for a signed-in caller — or a request to sign
/// in.
#[component]
pub fn SignedInPage<F, IV>(
    /// The page's name in the browser's title bar and history ("Checks" shows "Checks · keyward").
    title: &'static str,
    render: F,
) -> impl IntoView
where
    F: Fn(Me) -> IV + Send + Sync + 'static,
    IV: IntoView + 'static,
{
    let session = use_session();
    let render = StoredValue::new(render);
    view! {
        <leptos_meta::Title text=format!("{title} · keyward") />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                let me = session.me.await;
                // The server renders a reactive view such as this one twice: once to start
                // the resources under it (`dry_resolve`, a single poll), then for the HTML.
                // Once the person was known, that single poll built the whole page, so every
                // resource of the page was made and fetched twice: the HTML came from the
                // second reads and the data the browser hydrates from from the first, and a key
                // used in between left a page that never became interactive. Pending on that
                // first poll (`yield_now`), the page is built once.
                #[cfg(feature = "ssr")]
                tokio::task::yield_now().await;
                match me {
                    Ok(me) => {
                        let is_admin = crate::domain::allows(
                            me.role,
                            me.via,
                            crate::domain::Permission::WebhooksWrite,
                        );
                        // Each part erased on its own: a page's view type nested in this
                        // pair is too deep for a release build's compiler.
                        let banner = is_admin.then(|| view! { <FailingWebhooksBanner /> }.into_any());
                        let must_set_up = me.must_set_up_second_factor.then(|| {
                            view! { <MustSetUpSecondFactor account=me.account.name.clone() /> }.into_any()
                        });
                        let page = render.with_value(|render| render(me)).into_any();
                        view! { {must_set_up} {banner} {page} }.into_any()
                    }
                    Err(error) if error.code == ErrorCode::Unauthenticated => {
                        view! {
                            <section class="card narrow">
                                <h1>"Please sign in"</h1>
                                <p>"This page is for members of an account."</p>
                                <p>
                                    <a class="button" href="/login">"Sign in"</a>
                                    " or "
                                    <a href="/signup">"create an account"</a>
                                </p>
                            </section>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The account requires two-step sign-in and the person has none yet: every page says so, and
/// where to set it up, since everything else answers `second_factor_required` until then.
#[component]
fn MustSetUpSecondFactor(account: String) -> impl IntoView {
    view! {
        <div class="notice banner" role="alert" data-testid="must-set-up-second-factor">
            <p>
                <strong>{format!("{account} requires two-step sign-in.")}</strong>
                " Until you turn it on, you can only manage your own sign-in: "
                <a href="/settings">"add a passkey or an authenticator app in Settings"</a>
                ". It takes a minute."
            </p>
        </div>
    }
}

/// Tells a signed-in person, on whatever page they land after signing in, which of their keys
/// stop within 7 days, so they rotate them before a program breaks. Dismissed until the next
/// full page load.
#[component]
pub fn ExpiryBanner() -> impl IntoView {
    let session = use_session();
    let dismissed = RwSignal::new(false);
    // Made here, not under the session's Suspend, so the server sends its value with the page
    // and hydration finds the same banner. Signed out, it asks nothing: the server preloads the
    // chunks of every lazy function a page calls, and a signed-out entry page (the start page,
    // sign-in, sign-up, an invite) would download the banner's twenty for nothing.
    let expiring = Resource::new(
        move || session.version.get(),
        move |_| async move {
            match session.me.await {
                Ok(_) => expiring_keys().await,
                Err(_) => Ok(Vec::new()),
            }
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let keys = match expiring.await {
                    Ok(keys) if !keys.is_empty() => keys,
                    _ => return ().into_any(),
                };
                let in_days = |days: u32| format!("in {days} day{}", if days == 1 { "" } else { "s" });
                let headline = match keys.as_slice() {
                    [key] => format!(
                        "Your key “{}” expires {}.",
                        key.name,
                        in_days(key.expires_in_days)
                    ),
                    _ => {
                        let names = keys
                            .iter()
                            .map(|key| format!("“{}” {}", key.name, in_days(key.expires_in_days)))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let more = if keys.len() as i64 == BANNER_KEYS { ", and maybe more" } else { "" };
                        format!("Your keys expire soon: {names}{more}.")
                    }
                };
                let advice = if keys.len() == 1 {
                    " Rotate it to get a new secret with the same settings; the old one can keep working for a while. "
                } else {
                    " Rotate them to get new secrets with the same settings; the old ones can keep working for a while. "
                };
                view! {
                    <Show when=move || !dismissed.get()>
                        <div class="notice banner" role="status" data-testid="expiry-banner">
                            <p>
                                <strong>{headline.clone()}</strong>
                                {advice}
                                <a href="/keys">"Go to API keys"</a>
                            </p>
                            <button type="button" class="secondary" on:click=move |_| dismissed.set(true)>"Dismiss"</button>
                        </div>
                    </Show>
                }
                    .into_any()
            })}
        </Transition>
    }
}

/// A key the banner names: its name and the days it has left.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExpiringKey {
    name: String,
    expires_in_days: u32,
}

/// The caller's keys that stop within 7 days, as the banner needs them. Lazy, and answered in
/// the banner's own small shape: the page carries only names and days, and reading whole key
/// views (their code is most of a key list's) stays out of every page's first download — it
/// loads only when the banner refetches, after an account switch.
#[lazy]
async fn expiring_keys() -> Result<Vec<ExpiringKey>, ApiError> {
    use crate::api::keys::list_keys;
    use crate::domain::{inputs::KeyStatusFilter, requests::ListKeysRequest};
    let list = list_keys(ListKeysRequest {
        cursor: None,
        limit: Some(BANNER_KEYS),
        search: None,
        status: Some(KeyStatusFilter::Expiring.as_str().to_string()),
        service_account_id: None,
    })
    .await?;
    Ok(list
        .keys
        .into_iter()
        .map(|key| ExpiringKey {
            name: key.name,
            expires_in_days: key.expires_in_days.unwrap_or(1),
        })
        .collect())
}

/// How many expiring keys the banner names; the keys page lists the rest.
const BANNER_KEYS: i64 = 5;

/// Tells an Admin, on every signed-in page, that a webhook endpoint is failing: its deliveries
/// ran out of retries, so the systems relying on it miss events until it answers again. Shown
/// by `SignedInPage`, so its code is in the pages' chunks rather than every first download
/// (the start page does without it).
///
/// Fetched by an effect, not a resource: effects run only in the browser, once the page is
/// live, so the server's page and the hydrated one agree (both without the banner) and the
/// server's stream never waits on it. (A `LocalResource` awaited under `Transition` never
/// resolves on the server, and the page's stream stayed open.)
#[component]
fn FailingWebhooksBanner() -> impl IntoView {
    let failing = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(urls) = failing_webhooks().await {
                // The page may be gone by the time the answer comes.
                let _ = failing.try_set(urls);
            }
        });
    });
    move || {
        let urls = failing.get();
        (!urls.is_empty()).then(|| {
            view! {
                <div class="notice banner" role="alert" data-testid="failing-webhooks-banner">
                    <p>
                        <strong>{format!("Webhook deliveries are failing: {}.", urls.join(", "))}</strong>
                        " New events are still sent to it, with retries; once it answers, redeliver the failed ones from "
                        <a href="/settings#webhooks-title">"Settings"</a>
                        "."
                    </p>
                </div>
            }
        })
    }
}

/// The URLs of the account's failing webhook endpoints. Lazy, like `expiring_keys`: the code
/// that reads webhook views is fetched when the banner asks.
#[lazy]
async fn failing_webhooks() -> Result<Vec<String>, ApiError> {
    use crate::domain::views::WebhookStatus;
    let list = crate::api::webhooks::list_webhooks().await?;
    Ok(list
        .webhooks
        .into_iter()
        .filter(|webhook| webhook.status == WebhookStatus::Failing)
        .map(|webhook| webhook.url)
        .collect())
}
