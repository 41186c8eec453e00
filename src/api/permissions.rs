//! The permission catalogue: keyward's own permissions and the ones the account defines for its
//! services behind keyward (`orders:read`), which keys are granted alike and `keys/verify` and
//! forward auth answer for.

use crate::domain::wire::Json;
use crate::domain::{
    requests::{DefinePermissionRequest, PermissionNameRequest},
    views::{Empty, OnePermission, PermissionList},
    ApiError,
};
use leptos::prelude::*;

/// Every permission a key can be granted, what it lets a key do and the least role its owner
/// needs: keyward's, then the account's own (`custom: true`). Any caller may read it (it needs
/// `account:read`, which every key holds).
#[server(prefix = "/api", endpoint = "v1/permissions/list", input = Json, output = Json)]
pub async fn list_permissions() -> Result<PermissionList, ApiError> {
    use crate::domain::{views::PermissionInfo, Permission, PermissionName};
    use crate::server::caller::authorize;
    use crate::server::stores::own_permissions;

    let (state, caller) = authorize(Permission::AccountRead).await?;
    let own = own_permissions::list(&state.pool, caller.account_id()).await?;
    let built_in = Permission::ALL
        .into_iter()
        .map(|permission| PermissionInfo {
            name: PermissionName::BuiltIn(permission),
            description: permission.description().to_string(),
            least_role: permission.least_role_of_a_key(),
            custom: false,
            always_granted: permission.always_granted(),
            browser_only: permission.browser_only(),
        });
    Ok(PermissionList {
        permissions: built_in
            .chain(
                own.into_iter()
                    .filter_map(own_permissions::OwnPermissionRow::info),
            )
            .collect(),
    })
}

/// Defines a permission for the account's own services (Admin): `orders:read`, say, for the
/// routes of an orders API behind keyward. Keys granted everything hold it from the next
/// request on (when their role reaches `least_role`); others get it by naming it in their
/// grant.
#[server(prefix = "/api", endpoint = "v1/permissions/define", input = Json, output = Json)]
pub async fn define_permission(
    #[server(flatten)] request: DefinePermissionRequest,
) -> Result<OnePermission, ApiError> {
    use crate::domain::inputs::parse_description;
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, OwnPermission, Permission};
    use crate::server::caller::authorize;
    use crate::server::respond::respond_created;
    use crate::server::stores::own_permissions::{self, DefineError, MAX_PER_ACCOUNT};

    let DefinePermissionRequest {
        name,
        description,
        least_role,
    } = request;
    let (state, caller) = authorize(Permission::AccountWrite).await?;
    let name = name.trim();
    let permission = OwnPermission::parse(name).ok_or_else(|| {
        ApiError::invalid_input("name", &OwnPermission::problem(name).unwrap_or_default())
    })?;
    let description = parse_description(description.as_deref().unwrap_or_default())?;
    let now = now_millis();
    let event = caller.audit(&state, AuditAction::PermissionDefined);
    match own_permissions::define(
        &state.pool,
        caller.account_id(),
        &permission,
        &description,
        least_role,
        now,
        event,
    )
    .await
    {
        Ok(()) => {}
        Err(DefineError::Taken) => {
            return Err(ApiError::conflict(format!(
                "name: this account already has the permission {permission}."
            )))
        }
        Err(DefineError::Full) => {
            return Err(ApiError::conflict(format!(
                "An account may define at most {MAX_PER_ACCOUNT} permissions; remove one first."
            )))
        }
        Err(DefineError::Database(error)) => return Err(error.into()),
    }
    crate::server::keys::changes::note_change(caller.account_id());
    respond_created();
    let row = own_permissions::OwnPermissionRow {
        name: permission.to_string(),
        description,
        least_role,
        created_at: now,
    };
    Ok(OnePermission {
        permission: row.info().ok_or_else(ApiError::internal)?,
    })
}

/// Removes one of the account's own permissions (Admin). No key holds it from the next request
/// on, and it is taken out of every grant that named it: defining it again later gives it back
/// only to keys granted everything.
#[server(prefix = "/api", endpoint = "v1/permissions/undefine", input = Json, output = Json)]
pub async fn undefine_permission(
    #[server(flatten)] request: PermissionNameRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::{audit::AuditAction, OwnPermission, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores::own_permissions;

    let (state, caller) = authorize(Permission::AccountWrite).await?;
    let name = request.name.trim();
    if Permission::parse(name).is_some() {
        return Err(ApiError::invalid_input(
            "name",
            &format!("{name} is one of keyward's own permissions, which cannot be removed"),
        ));
    }
    let permission = OwnPermission::parse(name).ok_or_else(|| ApiError::not_found("permission"))?;
    let event = caller.audit(&state, AuditAction::PermissionUndefined);
    let narrowed = own_permissions::undefine(&state.pool, caller.account_id(), &permission, event)
        .await?
        .ok_or_else(|| ApiError::not_found("permission"))?;
    crate::server::keys::changes::note_change(caller.account_id());
    tracing::info!(account_id = %caller.account_id(), %permission, narrowed, "removed a permission");
    Ok(Empty {})
}
