use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn HomePage() -> impl IntoView {
    let explained = RwSignal::new(false);
    view! {
        <Title text="keyward — API keys that belong to people" />
        <section class="hero">
            <h1>"API keys that belong to people"</h1>
            <p class="lead">
                "Every member of your team creates their own keys. Each key acts with its owner's "
                <em>"current"</em>
                " role, so changing someone's role or removing them takes effect on the very next request."
            </p>
            <p class="actions">
                <a class="button" href="/signup">"Create an account"</a>
                <a class="button secondary" href="/keys">"Go to my keys"</a>
            </p>
            <button
                type="button"
                class="link-button"
                aria-expanded=move || explained.get().to_string()
                aria-controls="how-it-works"
                on:click=move |_| explained.update(|open| *open = !*open)
            >
                {move || if explained.get() { "Hide how keyward works" } else { "How does keyward work?" }}
            </button>
            <Show when=move || explained.get()>
                <ol id="how-it-works" class="steps">
                    <li>"Sign up: you become Admin of a new account and invite your teammates."</li>
                    <li>"Anyone can create keys for themselves, capped at or below their role."</li>
                    <li>"The secret is shown once; keyward stores only a keyed hash of it."</li>
                    <li>"Revoke one key — the one a leaked CI job used — without touching the others."</li>
                </ol>
            </Show>
        </section>
    }
}
