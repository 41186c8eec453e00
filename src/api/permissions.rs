use crate::domain::{views::PermissionList, ApiError};
use leptos::prelude::*;
use server_fn::codec::Json;

/// The permission catalogue: every permission a key can be granted, what it lets a key do and
/// the least role its owner needs. Any caller may read it (it needs `account:read`, which every
/// key holds).
#[server(prefix = "/api", endpoint = "v1/permissions/list", input = Json, output = Json)]
pub async fn list_permissions() -> Result<PermissionList, ApiError> {
    use crate::domain::{views::PermissionInfo, Permission};
    use crate::server::caller::authorize;

    authorize(Permission::AccountRead).await?;
    Ok(PermissionList {
        permissions: Permission::ALL
            .into_iter()
            .map(|permission| PermissionInfo {
                name: permission,
                description: permission.description().to_string(),
                least_role: permission.least_role_of_a_key(),
                custom: false,
                always_granted: permission.always_granted(),
                browser_only: permission.browser_only(),
            })
            .collect(),
    })
}
