//! What a new key may do, chosen in the create dialog: a preset (everything my role allows, read
//! only, checks read & write) or a permission per resource — no access, read, or read & write,
//! as GitHub's fine-grained token form asks it — and the account's own permissions (for its
//! services behind keyward) one by one; and, when it touches checks, which ones.

use crate::api::checks::list_checks;
use crate::api::permissions::list_permissions;
use crate::domain::permissions::PermissionGroup;
use crate::domain::{
    allows, ids::CheckId, requests::ListChecksRequest, views::Via, Permission, PermissionSet, Role,
};
use leptos::prelude::*;

/// The access a new key starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// No grant: whatever the owner's role allows, now and later.
    Everything,
    /// Every read permission the role allows.
    ReadOnly,
    ChecksReadWrite,
    Custom,
}

impl Preset {
    const ALL: [Preset; 4] = [
        Preset::Everything,
        Preset::ReadOnly,
        Preset::ChecksReadWrite,
        Preset::Custom,
    ];

    fn value(self) -> &'static str {
        match self {
            Preset::Everything => "everything",
            Preset::ReadOnly => "read-only",
            Preset::ChecksReadWrite => "checks",
            Preset::Custom => "custom",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Preset::Everything => "Everything my role allows",
            Preset::ReadOnly => "Read only: every read my role allows",
            Preset::ChecksReadWrite => "Checks: read & write, nothing else",
            Preset::Custom => "Custom: choose per resource",
        }
    }
}

/// The choices of the picker, kept by the dialog that sends them.
#[derive(Clone, Copy)]
pub struct GrantChoice {
    pub preset: RwSignal<Preset>,
    /// The custom permissions: keyward's.
    pub custom: RwSignal<PermissionSet>,
    /// The custom permissions: the account's own, by name.
    pub own: RwSignal<Vec<String>>,
    /// `None`: every check; else only these.
    pub checks: RwSignal<Option<Vec<CheckId>>>,
    role: Role,
}

impl GrantChoice {
    pub fn new(role: Role) -> Self {
        GrantChoice {
            preset: RwSignal::new(Preset::Everything),
            custom: RwSignal::new(
                [Permission::ChecksRead, Permission::ChecksWrite]
                    .into_iter()
                    .collect(),
            ),
            own: RwSignal::new(Vec::new()),
            checks: RwSignal::new(None),
            role,
        }
    }

    /// The permissions to send: `None` for everything the role allows.
    pub fn permissions(&self) -> Option<PermissionSet> {
        let allowed = |permission: &Permission| allows(self.role, Via::UserKey, *permission);
        match self.preset.get() {
            Preset::Everything => None,
            Preset::ReadOnly => Some(
                Permission::ALL
                    .into_iter()
                    .filter(|permission| permission.reads() && allowed(permission))
                    .collect(),
            ),
            Preset::ChecksReadWrite => Some(
                [Permission::ChecksRead, Permission::ChecksWrite]
                    .into_iter()
                    .collect(),
            ),
            Preset::Custom => Some(self.custom.get()),
        }
    }

    /// The request's fields: permission names and check ids (`None`: no restriction).
    pub fn request(&self) -> (Option<Vec<String>>, Option<Vec<String>>) {
        let permissions = self.permissions().map(|set| {
            let mut names: Vec<String> = set.iter().map(|p| p.name().to_string()).collect();
            if self.preset.get() == Preset::Custom {
                names.extend(self.own.get());
            }
            names
        });
        let checks = self
            .checks
            .get()
            .map(|ids| ids.iter().map(|id| id.to_string()).collect());
        (permissions, checks)
    }

    /// Whether the key will touch checks at all (then it may be limited to some).
    fn touches_checks(&self) -> bool {
        self.permissions().is_none_or(|set| {
            set.contains(Permission::ChecksRead) || set.contains(Permission::ChecksWrite)
        })
    }
}

#[component]
pub fn GrantPicker(choice: GrantChoice) -> impl IntoView {
    view! {
        <label for="key-access">"Access"</label>
        <select id="key-access" on:change=move |ev| {
            let value = event_target_value(&ev);
            if let Some(preset) = Preset::ALL.into_iter().find(|preset| preset.value() == value) {
                choice.preset.set(preset);
            }
        }>
            {Preset::ALL
                .into_iter()
                .map(|preset| view! { <option value=preset.value() selected=preset == Preset::Everything>{preset.label()}</option> })
                .collect_view()}
        </select>
        <p class="hint">"Give a key only what its program needs: a refused call answers 403 naming the permission it lacks. It never does more than your role, even if you pick more."</p>
        {move || (choice.preset.get() == Preset::Custom).then(|| view! { <PermissionRows choice /> })}
        {move || choice.touches_checks().then(|| view! { <CheckScope choice /> })}
    }
}

/// A row per resource: no access, read, or read & write (only what the role allows).
#[component]
fn PermissionRows(choice: GrantChoice) -> impl IntoView {
    let rows = PermissionGroup::GRANTABLE
        .into_iter()
        .filter_map(|resource| {
            let (read, write) = resource.permissions();
            let usable = |permission: Option<Permission>| {
                permission.filter(|p| allows(choice.role, Via::UserKey, *p))
            };
            let (read, write) = (usable(read), usable(write));
            if read.is_none() && write.is_none() {
                return None;
            }
            let always_read = read.is_some_and(Permission::always_granted);
            let id = format!("access-{}", resource.label().to_lowercase().replace(' ', "-"));
            let current = move || {
                let set = choice.custom.get();
                let holds = |p: Option<Permission>| p.is_some_and(|p| set.contains(p));
                match (holds(read) || always_read, holds(write)) {
                    (_, true) => "write",
                    (true, false) => "read",
                    _ => "none",
                }
            };
            let description = write.or(read).map(Permission::description);
            Some(view! {
                <tr>
                    <th scope="row"><label for=id.clone()>{resource.label()}</label>
                        <span class="muted small block">{description}</span></th>
                    <td>
                        <select id=id prop:value=current on:change=move |ev| {
                            let value = event_target_value(&ev);
                            choice.custom.update(|set| {
                                for permission in [read, write].into_iter().flatten() {
                                    set.remove(permission);
                                }
                                if value != "none" {
                                    if let Some(read) = read { set.insert(read); }
                                }
                                if value == "write" {
                                    if let Some(write) = write { set.insert(write); }
                                }
                            });
                        }>
                            {(!always_read).then(|| view! { <option value="none">"No access"</option> })}
                            {read.map(|_| view! { <option value="read">{if always_read { "Read (always)" } else { "Read" }}</option> })}
                            {write.map(|write| view! { <option value="write">{match (read, write) {
                                (_, Permission::KeysVerify) => "Verify",
                                (Some(_), _) => "Read & write",
                                (None, _) => "Write",
                            }}</option> })}
                        </select>
                    </td>
                </tr>
            })
        })
        .collect_view();
    view! {
        <table class="table permission-picker" aria-label="Permissions">
            <tbody>{rows}</tbody>
        </table>
        <OwnPermissionBoxes choice />
    }
}

/// A box per permission of the account's own that the role reaches (none: nothing shown).
#[component]
fn OwnPermissionBoxes(choice: GrantChoice) -> impl IntoView {
    let defined = Resource::new(|| (), |_| list_permissions());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let boxes = defined
                    .await
                    .map(|list| list.permissions)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|permission| permission.custom && choice.role >= permission.least_role)
                    .map(|permission| {
                        let name = permission.name.to_string();
                        let ticked = {
                            let name = name.clone();
                            move || choice.own.get().contains(&name)
                        };
                        let label = format!(" {name}");
                        view! {
                            <label class="inline block"><input type="checkbox" prop:checked=ticked
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    choice.own.update(|names| {
                                        names.retain(|known| known != &name);
                                        if on { names.push(name.clone()); }
                                    });
                                } /><code>{label}</code>
                                <span class="muted small">{format!(" · {}", permission.description)}</span></label>
                        }
                    })
                    .collect::<Vec<_>>();
                (!boxes.is_empty()).then(|| view! {
                    <fieldset class="own-permission-picker">
                        <legend>"Your services"</legend>
                        {boxes}
                    </fieldset>
                })
            })}
        </Transition>
    }
}

/// Every check, or only some: the checks of the account to tick.
#[component]
fn CheckScope(choice: GrantChoice) -> impl IntoView {
    let only = move || choice.checks.get().is_some();
    let checks = Resource::new(only, |only| async move {
        if !only {
            return Ok(Vec::new());
        }
        list_checks(ListChecksRequest {
            cursor: None,
            limit: Some(200),
            search: None,
        })
        .await
        .map(|list| list.checks)
    });
    view! {
        <fieldset class="check-scope">
            <legend>"Checks it may touch"</legend>
            <label class="inline"><input type="radio" name="check-scope" checked=move || !only()
                on:change=move |_| choice.checks.set(None) />" All checks, including new ones"</label>
            <label class="inline"><input type="radio" name="check-scope" checked=only
                on:change=move |_| choice.checks.set(Some(Vec::new())) />" Only the checks I tick"</label>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = checks.await.unwrap_or_default();
                    let none_yet = (only() && list.is_empty())
                        .then(|| view! { <p class="hint">"This account has no checks yet."</p> });
                    let boxes = list.into_iter()
                        .map(|check| {
                            let id = check.id.clone();
                            let ticked = {
                                let id = id.clone();
                                move || choice.checks.get().is_some_and(|ids| ids.contains(&id))
                            };
                            view! {
                                <label class="inline block"><input type="checkbox" prop:checked=ticked
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        choice.checks.update(|ids| {
                                            let ids = ids.get_or_insert_with(Vec::new);
                                            ids.retain(|known| known != &id);
                                            if on { ids.push(id.clone()); }
                                        });
                                    } />{format!(" {}", check.name)}</label>
                            }
                        })
                        .collect_view();
                    view! { {none_yet} {boxes} }
                })}
            </Transition>
            <p class="hint">"A key limited to some checks cannot create new ones; the others answer 404, as if they did not exist."</p>
        </fieldset>
    }
}
