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
                    {error.missing_permission.map(|permission| view! {
                        <span class="block small">"Missing permission: " <code>{permission}</code></span>
                    })}
                </p>
            }
        })
    }
}

/// The current text of an input.
///
/// keyward's forms come in two kinds, on purpose. A form that is part of the server-rendered
/// page (sign-in, sign-up, accepting an invite, settings, inviting a member) reads its fields
/// from the DOM when submitted, with these helpers: a person may type before the page has
/// hydrated, and a signal bound to the field would reset it or send what it held instead. A
/// form that loads values into its fields (the check editor) or only appears after a click
/// (dialogs) binds its fields to signals.
pub fn input_value(input: NodeRef<leptos::html::Input>) -> String {
    input
        .get()
        .map(|element| element.value())
        .unwrap_or_default()
}

/// The chosen option of a `<select>`, read from the DOM like [`input_value`].
pub fn select_value(select: NodeRef<leptos::html::Select>) -> String {
    select
        .get()
        .map(|element| element.value())
        .unwrap_or_default()
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

/// A time as "3 minutes ago" / "in 29 days", with the exact time as a tooltip. The server and
/// the first client render show the absolute time (so hydration agrees); once the page is live
/// the browser switches to the relative form by its own clock.
#[component]
pub fn RelativeTime(#[prop(into)] at: String) -> impl IntoView {
    let absolute = short_time(&at);
    let relative = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    {
        let at = at.clone();
        Effect::new(move |_| {
            let then = js_sys::Date::parse(&at);
            if !then.is_nan() {
                relative.set(Some(describe_age(js_sys::Date::now() - then)));
            }
        });
    }
    let shown = absolute.clone();
    view! {
        <time datetime=at title=absolute>
            {move || relative.get().unwrap_or_else(|| shown.clone())}
        </time>
    }
}

/// How long ago (positive) or ahead (negative) `millis` is, in words.
pub fn describe_age(millis: f64) -> String {
    let seconds = (millis.abs() / 1000.0).round() as u64;
    let (amount, unit) = match seconds {
        0..=44 => {
            return if millis >= 0.0 {
                "just now".into()
            } else {
                "in a few seconds".into()
            }
        }
        // Minutes round up, so the last minute of an hour reads "1 hour", never "60 minutes".
        45..=3_599 => match seconds.div_ceil(60) {
            60 => (1, "hour"),
            minutes => (minutes, "minute"),
        },
        3_600..=86_399 => (seconds / 3_600, "hour"),
        86_400..=2_591_999 => (seconds / 86_400, "day"),
        2_592_000..=31_535_999 => (seconds / 2_592_000, "month"),
        _ => (seconds / 31_536_000, "year"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    if millis >= 0.0 {
        format!("{amount} {unit}{plural} ago")
    } else {
        format!("in {amount} {unit}{plural}")
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

/// A titled card: its heading (which names the section for screen readers), a line saying what
/// it is for, and its contents.
#[component]
pub fn Card(
    /// Classes beside `card`.
    class: &'static str,
    /// The heading's id, unique on the page.
    title_id: &'static str,
    title: &'static str,
    hint: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <section class=format!("card {class}") aria-labelledby=title_id>
            <h2 id=title_id>{title}</h2>
            <p class="hint">{hint}</p>
            {children()}
        </section>
    }
}

/// A table's header row: one column heading each, and — when its rows have actions — a last
/// column named for screen readers only.
#[component]
pub fn ColumnHeads(columns: Vec<&'static str>, #[prop(optional)] actions: bool) -> impl IntoView {
    view! {
        <thead>
            <tr>
                {columns.into_iter().map(|column| view! { <th scope="col">{column}</th> }).collect_view()}
                {actions.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
            </tr>
        </thead>
    }
}

/// A destructive row action that asks first: `label` opens the question, `confirm_label`
/// does it, Cancel goes back. The question says what will happen, in the row's own words.
#[component]
pub fn ConfirmButton(
    #[prop(into)] label: String,
    #[prop(into)] question: String,
    #[prop(into)] confirm_label: String,
    #[prop(into)] on_confirm: Callback<()>,
    /// While the confirmed action runs, its button cannot be pressed again (revoking a key
    /// takes about half a second: every instance must have let go of it).
    #[prop(optional, into)]
    pending: Signal<bool>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let label = StoredValue::new(label);
    // The button that was pressed is gone: focus moves to the question's answer, so a keyboard
    // user is not dropped at the top of the page.
    let confirm = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = confirm.get() {
            let _ = button.focus();
        }
    });
    view! {
        <Show
            when=move || confirming.get()
            fallback=move || view! {
                <button type="button" class="danger-outline" on:click=move |_| confirming.set(true)>
                    {label.get_value()}
                </button>
            }
        >
            <span class="confirm">{question.clone()}</span>
            <button
                type="button"
                class="danger"
                node_ref=confirm
                disabled=move || pending.get()
                aria-busy=move || pending.get().to_string()
                on:click=move |_| on_confirm.run(())
            >
                {confirm_label.clone()}
            </button>
            <button type="button" class="secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
        </Show>
    }
}

/// Requests per day as seven small bars (oldest first), with the numbers for screen readers
/// and as a tooltip.
#[component]
pub fn UsageBars(counts: Vec<u64>) -> impl IntoView {
    let highest = counts.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return view! { <span class="muted">"None"</span> }.into_any();
    }
    let label = format!(
        "Requests on each of the last {} days, oldest first: {}",
        counts.len(),
        counts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bars = counts
        .iter()
        .enumerate()
        .map(|(day, count)| {
            // At least a hairline, so an idle day still shows as a day.
            let height = (*count as f64 / highest as f64 * 14.0).max(1.0);
            view! {
                <rect x=(day * 8).to_string() y=format!("{:.1}", 16.0 - height) width="6"
                    height=format!("{height:.1}") class:idle=*count == 0 />
            }
        })
        .collect_view();
    let tooltip = label.clone();
    view! {
        <span class="usage" title=tooltip>
            <svg class="usage-bars" viewBox="0 0 56 16" width="56" height="16" role="img" aria-label=label>
                {bars}
            </svg>
            <span class="small">{total}</span>
        </span>
    }
    .into_any()
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

/// A secret shown once, inline (a webhook's signing secret, a SCIM token), with what to do with
/// it and a button to copy it.
#[component]
pub fn SecretOnce(
    heading: &'static str,
    #[prop(into)] secret: String,
    #[prop(into)] note: String,
    /// The secret's `data-testid`.
    testid: &'static str,
) -> impl IntoView {
    view! {
        <div class="secret-box" role="status">
            <p><strong>{heading}</strong></p>
            <code class="secret" data-testid=testid>{secret.clone()}</code>
            <p class="hint">{note}</p>
            <CopyButton text=secret label="Copy secret" />
        </div>
    }
}

/// A modal dialog on the native `<dialog>`, opened with `showModal()` as soon as it is shown:
/// the browser then moves focus into it (to the first field), keeps Tab inside it, closes it
/// on Escape and gives focus back to what opened it. `on_close` runs however it closed, so the
/// page can stop showing it; close it from inside with [`close_dialog`].
#[component]
pub fn ModalDialog(
    /// The id of the element that names the dialog (its heading).
    labelled_by: &'static str,
    dialog: NodeRef<leptos::html::Dialog>,
    #[prop(into)] on_close: Callback<()>,
    /// Whether Escape may close it. A dialog showing a secret once must not vanish by accident.
    #[prop(default = true)]
    escape_closes: bool,
    children: Children,
) -> impl IntoView {
    Effect::new(move |_| {
        if let Some(element) = dialog.get() {
            if !element.open() {
                let _ = element.show_modal();
            }
        }
    });
    view! {
        <dialog class="dialog" node_ref=dialog aria-labelledby=labelled_by
            on:cancel=move |ev: leptos::ev::Event| if !escape_closes { ev.prevent_default() }
            on:close=move |_| on_close.run(())>
            {children()}
        </dialog>
    }
}

/// Closes a [`ModalDialog`]: focus goes back to what opened it, then its `on_close` runs.
pub fn close_dialog(dialog: NodeRef<leptos::html::Dialog>) {
    if let Some(element) = dialog.get_untracked() {
        element.close();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_naturally_both_ways() {
        use super::describe_age;
        assert_eq!(describe_age(10_000.0), "just now");
        assert_eq!(describe_age(60_000.0), "1 minute ago");
        assert_eq!(describe_age(-3_599_400.0), "in 1 hour");
        assert_eq!(describe_age(-3_539_000.0), "in 59 minutes");
        assert_eq!(describe_age(3_590_000.0), "1 hour ago");
        assert_eq!(describe_age(3.0 * 3_600_000.0), "3 hours ago");
        assert_eq!(describe_age(-29.5 * 86_400_000.0), "in 29 days");
        assert_eq!(describe_age(400.0 * 86_400_000.0), "1 year ago");
    }

    #[test]
    fn short_time_is_readable() {
        assert_eq!(
            super::short_time("2026-11-27T10:15:42Z"),
            "2026-11-27 10:15 UTC"
        );
        assert_eq!(super::short_time("2026-11-27"), "2026-11-27");
    }
}
