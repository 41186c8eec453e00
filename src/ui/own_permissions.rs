//! The Settings page's section on the account's own permissions: the names its services behind
//! keyward ask about (`orders:read`), defined and removed by Admins, and how to put a reverse
//! proxy in front of a service so that every request is checked.

use crate::api::permissions::{list_permissions, DefinePermission, UndefinePermission};
use crate::domain::{
    requests::{DefinePermissionRequest, PermissionNameRequest},
    views::PermissionInfo,
    Role,
};
use crate::ui::components::{
    action_error, input_value, select_value, Card, ConfirmButton, ErrorNote, Loading, RoleBadge,
};
use leptos::prelude::*;

#[component]
pub fn OwnPermissionsSection(can_define: bool) -> impl IntoView {
    let define = ServerAction::<DefinePermission>::new();
    let undefine = ServerAction::<UndefinePermission>::new();
    let permissions = Resource::new(
        move || (define.version().get(), undefine.version().get()),
        |_| async move {
            list_permissions().await.map(|list| {
                list.permissions
                    .into_iter()
                    .filter(|permission| permission.custom)
                    .collect::<Vec<_>>()
            })
        },
    );
    view! {
        <Card
            class="own-permissions"
            title_id="own-permissions-title"
            title="Your services' permissions"
            hint="Put your own API behind keyward: define the permissions its routes need, grant them to keys \
                  like keyward's own, and let your reverse proxy (or your code, with keys/verify) ask keyward about \
                  every request. A key granted everything holds each one its owner's role reaches."
        >
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match permissions.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted">"None yet. An Admin defines them here, like orders:read and orders:write."</p>
                        }.into_any(),
                        Ok(list) => view! { <PermissionTable list can_define undefine /> }.into_any(),
                        Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                    }
                })}
            </Transition>
            <ErrorNote error=action_error(undefine.value()) />
            {can_define.then(|| view! { <DefineForm define /> })}
            <ProxyRecipe />
        </Card>
    }
}

#[component]
fn PermissionTable(
    list: Vec<PermissionInfo>,
    can_define: bool,
    undefine: ServerAction<UndefinePermission>,
) -> impl IntoView {
    let rows = list
        .into_iter()
        .map(|permission| {
            let name = permission.name.to_string();
            let remove = can_define.then(|| {
                let name = name.clone();
                view! {
                    <ConfirmButton
                        label="Remove"
                        question=format!("Remove {name}? No key holds it from the next request on, and it leaves every key's grant.")
                        confirm_label="Remove it"
                        pending=undefine.pending()
                        on_confirm=move |()| {
                            undefine.dispatch(UndefinePermission { request: PermissionNameRequest { name: name.clone() } });
                        }
                    />
                }
            });
            view! {
                <tr>
                    <td><code>{name}</code></td>
                    <td><RoleBadge role=permission.least_role /> " and up"</td>
                    <td>{permission.description}</td>
                    <td>{remove}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table" aria-label="Your services' permissions">
            <thead><tr><th scope="col">"Permission"</th><th scope="col">"Least role"</th>
                <th scope="col">"What it lets a key do"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn DefineForm(define: ServerAction<DefinePermission>) -> impl IntoView {
    let name = NodeRef::new();
    let description = NodeRef::new();
    let least_role = NodeRef::new();
    let done = move || {
        define
            .value()
            .get()
            .and_then(Result::ok)
            .map(|made| format!("{} defined.", made.permission.name))
    };
    view! {
        <form method="post" class="define-permission" on:submit=move |ev| {
            ev.prevent_default();
            let role = Role::parse(&select_value(least_role)).unwrap_or(Role::ReadOnly);
            define.dispatch(DefinePermission { request: DefinePermissionRequest {
                name: input_value(name),
                description: Some(input_value(description)),
                least_role: role,
            } });
        }>
            <h3>"Define a permission"</h3>
            <div class="grid">
                <div>
                    <label for="permission-name">"Name"</label>
                    <input id="permission-name" required maxlength="64" placeholder="orders:read"
                        pattern="[a-z][a-z0-9-]*:[a-z][a-z0-9-]*" node_ref=name />
                </div>
                <div>
                    <label for="permission-role">"Least role"</label>
                    <select id="permission-role" node_ref=least_role>
                        {Role::ALL
                            .into_iter()
                            .map(|role| view! { <option value=role.as_str()>{role.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="wide">
                    <label for="permission-description">"What it lets a key do"</label>
                    <input id="permission-description" maxlength="500" placeholder="Read orders" node_ref=description />
                </div>
            </div>
            <p class="hint">"Two lowercase words joined by a colon: your resource, then the access. keyward's own resources (checks, keys, members…) are taken."</p>
            <ErrorNote error=action_error(define.value()) />
            {move || done().map(|text| view! { <p class="success" role="status">{text}</p> })}
            <button type="submit" disabled=move || define.pending().get()>"Define permission"</button>
        </form>
    }
}

/// How to wire nginx in front of a service: the same check as keyward's own API on every
/// request, with the key's owner handed to the service in headers.
#[component]
fn ProxyRecipe() -> impl IntoView {
    view! {
        <details class="proxy-recipe">
            <summary>"Wire nginx in front of your service"</summary>
            <p class="hint">"nginx asks keyward before each request (auth_request). 401, 403 and 429 go back to the client; \
                on 200 your service gets X-Keyward-Key-Id, X-Keyward-User-Id (or X-Keyward-Service-Account-Id), \
                X-Keyward-Account-Id and X-Keyward-Role. Tell keyward to believe nginx's X-Forwarded-For with \
                KEYWARD_TRUSTED_PROXIES, so a key's networks are checked against the client. nginx turns a 429 into 500 \
                unless told otherwise: the README's “Protect your own API” has the whole configuration, and Caddy's and Traefik's."</p>
            <pre><code>{NGINX_RECIPE}</code></pre>
        </details>
    }
}

/// The heart of the nginx configuration that `make test-forward-auth` runs (the README has it
/// whole, with Caddy's and Traefik's).
const NGINX_RECIPE: &str = r#"map $request_method $orders_permission {
    POST    orders:write;
    default orders:read;
}

location = /_keyward {
    internal;
    proxy_pass http://keyward:3000/api/v1/forward-auth;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-Method $request_method;
    proxy_set_header X-Original-URI $request_uri;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Keyward-Permission $keyward_permission;
}

location /orders {
    set $keyward_permission $orders_permission;
    auth_request /_keyward;
    auth_request_set $keyward_key $upstream_http_x_keyward_key_id;
    auth_request_set $keyward_user $upstream_http_x_keyward_user_id;
    proxy_set_header X-Keyward-Key-Id $keyward_key;
    proxy_set_header X-Keyward-User-Id $keyward_user;
    proxy_set_header Authorization "";
    proxy_pass http://orders-service;
}"#;
