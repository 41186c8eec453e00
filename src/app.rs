//! The HTML shell and the client-side router.

use crate::ui::{
    layout::{provide_session, ExpiryBanner, Nav},
    pages::{
        account_keys::AccountKeysPage, audit::AuditPage, checks::ChecksPage, home::HomePage,
        invite::AcceptInvitePage, key::KeyPage, keys::KeysPage, login::LoginPage,
        members::MembersPage, settings::SettingsPage, signup::SignupPage,
    },
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    lazy_route, path, Lazy, LazyRoute,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's Content-Security-Policy names this response's nonce, which Leptos puts on the
    // inline scripts it writes (hydration, streamed resources): no 'unsafe-inline' needed.
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(policy) = http::HeaderValue::from_str(&page_content_security_policy(&nonce)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <SplitLoaderPreload />
                <MetaTags />
                {crate::ui::single_sign_on::sso_available().then(|| view! {
                    <meta name=crate::ui::single_sign_on::SSO_META content="on" />
                })}
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// On a page whose code comes in lazy chunks, the loader of those chunks (`__wasm_split.js`) is
/// asked for first: the server's preload of it comes after the chunks' own, and over HTTP/1.1's
/// six connections it waited behind all of them, though nothing can start without it. Not on the
/// start page. The sign-in, sign-up and invite forms need no chunk either but still get it: the
/// first download's script imports the loader on every page, so there it only comes earlier
/// (2.3 KB beside the main Wasm).
#[component]
fn SplitLoaderPreload() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        let lazy_page =
            use_context::<http::request::Parts>().is_some_and(|parts| parts.uri.path() != "/");
        let loader = use_context::<leptos::WasmSplitManifest>().and_then(|manifest| {
            manifest
                .0
                .try_with_value(|(pkg, _, loader)| format!("{pkg}/{loader}"))
        });
        loader
            .filter(|_| lazy_page)
            .map(|href| view! { <link rel="modulepreload" href=href /> })
    }
    #[cfg(not(feature = "ssr"))]
    {
        None::<()>
    }
}

#[cfg(feature = "ssr")]
/// The policy of an HTML page: scripts only from keyward itself or inline with this response's
/// nonce (Leptos' hydration and resource scripts carry it), Wasm compiled from our own bundle.
pub fn page_content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_session();
    view! {
        <Title text="keyward" />
        <Router>
            <Nav />
            <main class="page">
                <ExpiryBanner />
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/signup") view=SignupPage />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/invite/:token") view=AcceptInvitePage />
                    <Route path=path!("/keys") view={Lazy::<KeysRoute>::new()} />
                    <Route path=path!("/keys/:id") view={Lazy::<KeyRoute>::new()} />
                    <Route path=path!("/account-keys") view={Lazy::<AccountKeysRoute>::new()} />
                    <Route path=path!("/checks") view={Lazy::<TeamRoutes>::new()} />
                    <Route path=path!("/members") view={Lazy::<TeamRoutes>::new()} />
                    <Route path=path!("/settings") view={Lazy::<TeamRoutes>::new()} />
                    <Route path=path!("/audit") view={Lazy::<TeamRoutes>::new()} />
                </Routes>
            </main>
        </Router>
    }
}

/// The signed-in pages are lazy routes: their code comes in Wasm chunks, fetched when the page
/// is first shown (and preloaded by the server-rendered HTML when it is the page being loaded).
/// The start page and the three forms a newcomer arrives on (sign-in, sign-up, an invite) are in
/// the first download: as lazy routes, each cost a second set of downloads after the first and
/// was the slowest way in. The chunks exist only in builds made with `cargo leptos ... --split`,
/// which every build command of this repository passes.
///
/// Several pages may share one lazy route, which shows the page of the current path. The
/// splitter makes one chunk of a lazy function's own code and one more for every set of lazy
/// functions that share some code, however small: with a lazy route per page (twelve lazy
/// functions in all), the keys page fetched 94 files, most under a kilobyte, and over HTTP/1.1's
/// six connections the round trips, not the bytes, made most of its first visit. So the team
/// pages share a route. The keys page, the account's key list (an Admin's) and a key's own page
/// each have one: people open their keys first and most, and as one route with the account's
/// list the keys page downloaded that list's code too: 151 KB of chunks, 136 KB on its own
/// (in 30 files instead of 23; bytes, not files, make a slow link's wait).
macro_rules! lazy_routes {
    ($($route:ident { $($path:literal => $page:ident),* $(,)? })*) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            // Each page loads its own data once shown: nothing to start before its code arrives.
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                let path = leptos_router::hooks::use_location().pathname.get_untracked();
                $(if path.starts_with($path) {
                    return view! { <$page /> }.into_any();
                })*
                view! { <NotFound /> }.into_any()
            }
        }
    )*};
}

lazy_routes! {
    KeyRoute { "/keys/" => KeyPage }
    KeysRoute { "/keys" => KeysPage }
    AccountKeysRoute { "/account-keys" => AccountKeysPage }
    TeamRoutes {
        "/checks" => ChecksPage,
        "/members" => MembersPage,
        "/settings" => SettingsPage,
        "/audit" => AuditPage,
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="card narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Go to the start page"</a></p>
        </section>
    }
}
