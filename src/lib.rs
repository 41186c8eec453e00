//! keyward: user-scoped API keys. `domain` and `api` compile for both the server and the
//! browser; `server` only with the `ssr` feature; `ui` renders on both.

// Release builds keep Leptos' full view types (debug builds erase them), and the key table's type
// is deeper than rustc's default limit of 128 when the Wasm side is compiled for release.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod server;
pub mod ui;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A marker for the end-to-end tests (and anyone debugging): the page is now interactive.
    if let Some(body) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
