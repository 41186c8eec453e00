//! keyward: user-scoped API keys. `domain` and `api` compile for both the server and the
//! browser; `server` only with the `ssr` feature; `ui` renders on both.

// Release builds keep Leptos' full view types (debug builds erase them), and the key table's type
// is deeper than rustc's default limit of 128 when the Wasm side is compiled for release.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod host;
#[cfg(feature = "ssr")]
pub mod server;
pub mod ui;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Asynchronous hydration: the page being shown may be a lazy route (see `app`), whose Wasm
    // chunk is fetched before its part of the page can hydrate. (`leptos::mount::hydrate_lazy`
    // does the same but cannot say when it is done.)
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.body())
        else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        // A marker for the end-to-end tests (and anyone debugging): the page is now interactive.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
