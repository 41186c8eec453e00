//! Small pieces used by several pages.

use crate::domain::{ApiError, Role};
use leptos::prelude::*;

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="muted" aria-live="polite">"Loading…"</p> }
}

/// The error of the last attempt, announced to screen readers.
#[component]
pub fn ErrorNote(#[prop(into)] error: Signal<Option<ApiError>>) -> impl IntoView {
    move || {
        error.get().map(|error| {
            view! {
                <p class="error" role="alert">
                    {error.message}
                </p>
            }
        })
    }
}

/// The error of a server action's last result, if it failed.
pub fn action_error<T: 'static>(
    value: impl Get<Value = Option<Result<T, ApiError>>> + Send + Sync + 'static,
) -> Signal<Option<ApiError>> {
    Signal::derive(move || value.get().and_then(Result::err))
}

#[component]
pub fn RoleBadge(role: Role) -> impl IntoView {
    let class = format!("badge role-{}", role.as_str());
    view! { <span class=class>{role.label()}</span> }
}

/// `2026-11-27T10:15:00Z` → `2026-11-27 10:15 UTC`: the same text on the server and in the
/// browser, so hydration never disagrees.
pub fn short_time(rfc3339: &str) -> String {
    let (date, time) = rfc3339.split_once('T').unwrap_or((rfc3339, ""));
    let hours_minutes: String = time.chars().take(5).collect();
    if hours_minutes.is_empty() {
        date.to_string()
    } else {
        format!("{date} {hours_minutes} UTC")
    }
}

/// A role `<select>` offering `roles`, bound to `value`.
#[component]
pub fn RoleSelect(
    #[prop(into)] id: String,
    roles: Vec<Role>,
    value: RwSignal<Role>,
    #[prop(optional)] disabled: bool,
) -> impl IntoView {
    view! {
        <select
            id=id
            disabled=disabled
            on:change=move |ev| {
                if let Some(role) = Role::parse(&event_target_value(&ev)) {
                    value.set(role);
                }
            }
        >
            {roles
                .into_iter()
                .map(|role| {
                    view! {
                        <option value=role.as_str() selected=move || value.get() == role>
                            {role.label()}
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: String, label: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if let Some(window) = web_sys::window() {
                let _ = window.navigator().clipboard().write_text(&text);
                copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="secondary" on:click=on_click>
            {move || if copied.get() { "Copied ✓" } else { label }}
        </button>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_time_is_readable() {
        assert_eq!(
            super::short_time("2026-11-27T10:15:42Z"),
            "2026-11-27 10:15 UTC"
        );
        assert_eq!(super::short_time("2026-11-27"), "2026-11-27");
    }
}
