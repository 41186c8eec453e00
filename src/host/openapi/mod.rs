//! The OpenAPI document of `/api/v1`, built from the same request and view types the server
//! functions use, and the request-shape check the API boundary runs against it: unknown fields,
//! missing fields and wrong types are refused with a 400 that names the field, before any
//! server function runs. One table, [`OPERATIONS`], lists every operation; a test fails when a
//! server function has no row.

pub mod shape;

use crate::api::{
    account, audit, auth, checks, invites, keys, members, passkeys, permissions, second_factor,
    service_accounts, sso, webhooks,
};
use crate::domain::requests::*;
use crate::domain::Permission;
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::{
    openapi::{
        path::{HttpMethod, OperationBuilder, PathItem},
        request_body::RequestBodyBuilder,
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
        ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
        RefOr, Required, ResponseBuilder, ResponsesBuilder, Schema,
    },
    ToSchema,
};

type Schemas = Vec<(String, RefOr<Schema>)>;

/// Adds `T` and the schemas it refers to, and returns its name.
fn schema<T: ToSchema>(schemas: &mut Schemas) -> String {
    let name = T::name().into_owned();
    schemas.push((name.clone(), T::schema()));
    T::schemas(schemas);
    name
}

/// Who may call an operation, for its security requirements and its `x-keyward-permission`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// No credentials needed (sign-up, sign-in, accepting an invite, reporting a leak): no
    /// permission either.
    Anyone,
    /// A session cookie or a bearer key whose role allows this permission and, for a key, whose
    /// grant holds it. An authenticated row cannot be written without one.
    Holding(Permission),
}

impl Callers {
    pub fn permission(self) -> Option<Permission> {
        match self {
            Callers::Anyone => None,
            Callers::Holding(permission) => Some(permission),
        }
    }
}

pub struct Operation {
    /// The whole path, `/api/v1/...`.
    pub path: &'static str,
    pub summary: &'static str,
    pub callers: Callers,
    pub request: fn(&mut Schemas) -> String,
    pub response: fn(&mut Schemas) -> String,
    pub success: u16,
    /// Failures particular to this operation; every one can also answer 400, 403 (cross-site),
    /// 413 and 500.
    pub errors: &'static [u16],
}

const ANYONE: Callers = Callers::Anyone;
use Callers::Holding;
use Permission::*;

/// One row per server function. The path and the response type are the function's own
/// (`ServerFn::PATH`, `ServerFn::Output`), and the request type must be the function's argument
/// or the row does not compile, so a row cannot disagree with its function. What the code
/// cannot tell is written here: the summary, who may call, the success status and the
/// failures particular to the operation (schemathesis checks every answer against them).
macro_rules! operation {
    ($function:path: NoArguments, $summary:literal, $callers:expr, $success:literal, $errors:expr) => {{
        fn takes(_: NoArguments) -> $function {
            $function {}
        }
        operation!(@row takes, $function, NoArguments, $summary, $callers, $success, $errors)
    }};
    ($function:path: $request:ty, $summary:literal, $callers:expr, $success:literal, $errors:expr) => {{
        fn takes(request: $request) -> $function {
            $function { request }
        }
        operation!(@row takes, $function, $request, $summary, $callers, $success, $errors)
    }};
    (@row $takes:ident, $function:path, $request:ty, $summary:literal, $callers:expr, $success:literal, $errors:expr) => {{
        // Only compiles when `$request` is what `$function` takes.
        const _: fn($request) -> $function = $takes;
        Operation {
            path: <$function as server_fn::ServerFn>::PATH,
            summary: $summary,
            callers: $callers,
            request: schema::<$request>,
            response: schema::<<$function as server_fn::ServerFn>::Output>,
            success: $success,
            errors: $errors,
        }
    }};
}

#[rustfmt::skip]
pub static OPERATIONS: [Operation; 62] = [
    operation!(auth::Signup: SignupRequest, "Create a user and an account in which they are Admin; starts a session (throttled per client address; 403 when sign-up is closed)", ANYONE, 201, &[409, 429]),
    operation!(auth::Login: LoginRequest, "Sign in with email and password; starts a session", ANYONE, 200, &[401, 429]),
    operation!(auth::Logout: NoArguments, "End the browser session", Holding(LoginWrite), 200, &[401]),
    operation!(auth::Whoami: NoArguments, "Who is calling, in which account, with which role and how", Holding(AccountRead), 200, &[401]),
    operation!(auth::ChangePassword: ChangePasswordRequest, "Change the signed-in person's password; every other session of theirs ends (sessions only)", Holding(LoginWrite), 200, &[401, 429]),
    operation!(second_factor::CompleteSignIn: SecondFactorRequest, "Finish a sign-in that needs a second factor, after auth/login answered second_factor_required: an authenticator code or a recovery code; starts the session (throttled per person)", ANYONE, 200, &[401, 429]),
    operation!(second_factor::ListSecondFactors: NoArguments, "The signed-in person's second factors, and until when sensitive actions need no new proof (sessions only)", Holding(LoginWrite), 200, &[401]),
    operation!(second_factor::EnrollTotp: NoArguments, "Start setting up an authenticator app: its secret as text and as a QR code (sessions only; needs a recent proof). 409 when one is set up", Holding(LoginWrite), 200, &[401, 409]),
    operation!(second_factor::ConfirmTotp: ConfirmTotpRequest, "Finish setting up the authenticator app with a code it shows; answers ten recovery codes, shown this once (sessions only; needs a recent proof). 409 when none is being set up", Holding(LoginWrite), 200, &[401, 409]),
    operation!(second_factor::RemoveTotp: NoArguments, "Remove the authenticator app and the recovery codes (sessions only; needs a recent proof)", Holding(LoginWrite), 200, &[401, 404]),
    operation!(second_factor::RenewRecoveryCodes: NoArguments, "Ten new recovery codes, shown this once; the old ones stop working (sessions only; needs a recent proof)", Holding(LoginWrite), 200, &[401, 404]),
    operation!(second_factor::StepUp: StepUpRequest, "Prove the signed-in person again, with their password or an authenticator code, for the actions that need a recent proof (sessions only; throttled like a sign-in)", Holding(LoginWrite), 200, &[401, 429]),
    operation!(passkeys::StartPasskeyRegistration: NoArguments, "Start adding a passkey: the options for the browser's navigator.credentials.create, in WebAuthn's JSON form (sessions only; needs a recent proof). 409 at 20 passkeys", Holding(LoginWrite), 200, &[401, 409]),
    operation!(passkeys::FinishPasskeyRegistration: FinishPasskeyRequest, "Finish adding a passkey with the browser's answer (PublicKeyCredential.toJSON()) and a name; the first second factor also answers ten recovery codes, shown this once (sessions only; needs a recent proof). 409 when no passkey is being added, or this one is registered already", Holding(LoginWrite), 201, &[401, 409]),
    operation!(passkeys::RemovePasskey: PasskeyIdRequest, "Remove one of the signed-in person's passkeys; the recovery codes go with the last second factor (sessions only; needs a recent proof)", Holding(LoginWrite), 200, &[401, 404]),
    operation!(passkeys::PasskeyChallenge: NoArguments, "A passkey challenge for this browser: for the sign-in waiting for its second factor, for a step-up of the signed-in person (404 without passkeys), or else for a sign-in with a passkey alone (30 a minute per address)", ANYONE, 200, &[401, 404, 429]),
    operation!(passkeys::PasskeySignIn: PasskeySignInRequest, "Sign in with a passkey alone, answering auth/passkeys/challenge; starts the session", ANYONE, 200, &[401]),
    operation!(auth::SwitchAccount: SwitchAccountRequest, "Make another of the signed-in person's accounts the current one (sessions only)", Holding(LoginWrite), 200, &[401, 404]),
    operation!(members::ListMembers: ListMembersRequest, "Members of the account in the order they joined, a page at a time (any role)", Holding(MembersRead), 200, &[401]),
    operation!(members::InviteMember: InviteMemberRequest, "Invite someone by email with a role; returns a one-time link (Admin). 409 at the account's ceiling of pending invites, 429 past its invites an hour", Holding(MembersWrite), 201, &[401, 409, 429]),
    operation!(invites::AcceptInvite: AcceptInviteRequest, "Accept an invitation: create the user or attach an existing one; starts a session", ANYONE, 200, &[401, 404, 409, 429]),
    operation!(invites::ListInvites: NoArguments, "Pending invites of the account (Admin)", Holding(MembersWrite), 200, &[401]),
    operation!(invites::WithdrawInvite: WithdrawInviteRequest, "Withdraw a pending invite; its link answers 404 from then on (Admin)", Holding(MembersWrite), 200, &[401, 404]),
    operation!(members::SetMemberRole: SetMemberRoleRequest, "Change a member's role; the last Admin cannot be demoted (Admin)", Holding(MembersWrite), 200, &[401, 404, 409]),
    operation!(members::RemoveMember: RemoveMemberRequest, "Remove a member (Admin) or leave (the member); their keys stop working", Holding(MembersWrite), 200, &[401, 404, 409]),
    operation!(keys::CreateKey: CreateKeyRequest, "Create a key for the caller's own membership; the only response that carries its secret. 409 at the account's ceiling of active keys (or of a key's children)", Holding(KeysWrite), 201, &[401, 409]),
    operation!(keys::ListKeys: ListKeysRequest, "The caller's own keys in this account, newest first, searched and filtered, a page at a time", Holding(KeysRead), 200, &[401]),
    operation!(keys::RevokeKey: RevokeKeyRequest, "Revoke a key (key_id) or up to 100 in one transaction (key_ids), with every key each created: one's own, or any key of the account (Admin). All or none", Holding(KeysWrite), 200, &[401, 404]),
    operation!(keys::UpdateKey: UpdateKeyRequest, "Rename a key or change its guards (allowed networks, requests a minute); through a key only the name (owner; Admin: any key). 409 when its grant changed while the request ran", Holding(KeysWrite), 200, &[401, 404, 409]),
    operation!(keys::RotateKey: RotateKeyRequest, "Replace one's own key: the successor (shown once) copies its settings; the old key works for the grace period, then stops. Rotated through itself, the successor is revoked with it. 409 when already rotated", Holding(KeysWrite), 201, &[401, 404, 409]),
    operation!(keys::ReportLeak: ReportLeakRequest, "Report keys found where they should not be (for secret scanners; no credentials): valid ones are revoked at once. Always 202, whatever the secrets were", ANYONE, 202, &[429]),
    operation!(keys::ListAccountKeys: ListAccountKeysRequest, "Every key of the account, legacy account keys included, newest first, searched and filtered, a page at a time (Admin)", Holding(AccountKeysRead), 200, &[401]),
    operation!(keys::GetKey: GetKeyRequest, "One key with everything about it: one's own, or any key of the account (Admin)", Holding(KeysRead), 200, &[401, 404]),
    operation!(checks::ListChecks: ListChecksRequest, "Checks of the account by name, searched, a page at a time (any role)", Holding(ChecksRead), 200, &[401]),
    operation!(checks::GetCheck: CheckIdRequest, "One check (any role)", Holding(ChecksRead), 200, &[401, 404]),
    operation!(checks::CreateCheck: CreateCheckRequest, "Create a check (Read & write, Admin); 409 at the account's ceiling of checks", Holding(ChecksWrite), 201, &[401, 409]),
    operation!(checks::UpdateCheck: UpdateCheckRequest, "Change fields of a check (Read & write, Admin)", Holding(ChecksWrite), 200, &[401, 404]),
    operation!(checks::DeleteCheck: CheckIdRequest, "Delete a check (Read & write, Admin)", Holding(ChecksWrite), 200, &[401, 404]),
    operation!(account::KeyPolicy: NoArguments, "The account's policy: maximum key lifetime, whether keys must expire, whether members need a second factor (any role)", Holding(AccountRead), 200, &[401]),
    operation!(account::SetKeyPolicy: SetKeyPolicyRequest, "Change the account policy: key lifetimes and expiry apply at creation and, for the maximum lifetime, at every use; require_second_factor limits members without one to setting one up; require_sso admits only sessions that came through the identity provider (Admin). 409 when the person turning require_second_factor on has no second factor, or require_sso on is not signed in with single sign-on (or this keyward has none)", Holding(AccountWrite), 200, &[401, 409]),
    operation!(sso::SsoSettings: NoArguments, "Single sign-on and provisioning as the account has them: the identity provider (null without one), whether the account requires it, the SCIM endpoint and the account's SCIM token (never the token itself) (any role)", Holding(AccountRead), 200, &[401]),
    operation!(sso::CreateScimToken: CreateScimTokenRequest, "A new SCIM token for the account, shown in this answer only (the old one stops at once); the identity provider creates members with default_role (Admin, in a browser)", Holding(ScimWrite), 201, &[401]),
    operation!(sso::RevokeScimToken: NoArguments, "Revoke the account's SCIM token: the identity provider's next request is refused (Admin, in a browser). 404 when there is none", Holding(ScimWrite), 200, &[401, 404]),
    operation!(audit::ListAuditEvents: AuditListRequest, "The account's audit trail, newest first, filtered and a page at a time (Admin)", Holding(AuditRead), 200, &[401]),
    operation!(permissions::ListPermissions: NoArguments, "The permission catalogue: keyward's permissions and the account's own (custom), what each lets a key do and the least role it needs (any caller)", Holding(AccountRead), 200, &[401]),
    operation!(permissions::DefinePermission: DefinePermissionRequest, "Define a permission for the account's own services behind keyward, like orders:read (Admin). 409 when the account has it, or has 200", Holding(AccountWrite), 201, &[401, 409]),
    operation!(permissions::UndefinePermission: PermissionNameRequest, "Remove one of the account's own permissions: no key holds it from the next request on, and it leaves every grant that named it (Admin)", Holding(AccountWrite), 200, &[401, 404]),
    operation!(keys::VerifyKey: VerifyKeyRequest, "For a service behind keyward: whether a key its client sent is good, whose it is and whether it holds a permission (a key granted keys:verify). Always 200: code says what was found; another account's keys are unknown", Holding(KeysVerify), 200, &[401]),
    operation!(service_accounts::CreateServiceAccount: CreateServiceAccountRequest, "Create a service account: a member without a login whose keys outlive any one person (Admin, in a browser). 409 when the name is taken", Holding(ServiceAccountsWrite), 201, &[401, 409]),
    operation!(service_accounts::ListServiceAccounts: NoArguments, "The account's service accounts with their roles and custodians (any role)", Holding(ServiceAccountsRead), 200, &[401]),
    operation!(service_accounts::UpdateServiceAccount: UpdateServiceAccountRequest, "Change a service account's name, description, role (its keys follow on the next request) or custodians (Admin, in a browser)", Holding(ServiceAccountsWrite), 200, &[401, 404, 409]),
    operation!(service_accounts::DeleteServiceAccount: ServiceAccountIdRequest, "Delete a service account; its keys are revoked and stop on the next request (Admin, in a browser)", Holding(ServiceAccountsWrite), 200, &[401, 404]),
    operation!(service_accounts::AdoptAccountKey: AdoptKeyRequest, "Move a legacy account key under a service account: the same secret keeps working with the service account's role (Admin, in a browser). 409 when the key is not a live legacy key", Holding(ServiceAccountsWrite), 200, &[401, 404, 409]),
    operation!(webhooks::CreateWebhook: CreateWebhookRequest, "Add a webhook endpoint that receives the account's audit events matching its patterns, signed in the Standard Webhooks format; the signing secret is in this answer only (Admin, in a browser). 400 names a bad url or event pattern, or an internal address; 409 at 20 endpoints", Holding(WebhooksWrite), 201, &[401, 409]),
    operation!(webhooks::ListWebhooks: NoArguments, "The account's webhook endpoints and whether each is failing (Admin)", Holding(AuditRead), 200, &[401]),
    operation!(webhooks::UpdateWebhook: UpdateWebhookRequest, "Change a webhook endpoint's URL, event patterns or description (Admin, in a browser)", Holding(WebhooksWrite), 200, &[401, 404]),
    operation!(webhooks::DeleteWebhook: WebhookIdRequest, "Remove a webhook endpoint and its deliveries, pending ones included (Admin, in a browser)", Holding(WebhooksWrite), 200, &[401, 404]),
    operation!(webhooks::RotateWebhookSecret: WebhookIdRequest, "A new signing secret for a webhook endpoint; for a day deliveries are signed by the old one too (Admin, in a browser)", Holding(WebhooksWrite), 200, &[401, 404]),
    operation!(webhooks::ListWebhookDeliveries: WebhookDeliveriesRequest, "One webhook endpoint's deliveries, newest first, with each one's status, attempts and last answer (Admin)", Holding(AuditRead), 200, &[401, 404]),
    operation!(webhooks::RedeliverWebhook: DeliveryIdRequest, "Send one delivery again now, with the same webhook-id (Admin, in a browser)", Holding(WebhooksWrite), 202, &[401, 404]),
    operation!(webhooks::TestWebhook: WebhookIdRequest, "Send a webhook.test event to one endpoint, whatever its patterns (Admin, in a browser)", Holding(WebhooksWrite), 202, &[401, 404]),
    operation!(audit::FindKey: FindKeyRequest, "Which key of this account a (leaked) secret is; the secret is never stored or logged (Admin)", Holding(AuditRead), 200, &[401]),
];

/// The operations a browser session may call only with a proof of its person from the last
/// `KEYWARD_STEP_UP_SECONDS` (`server::signin::step_up`; keys never step up), and when. The
/// server functions check it themselves; `tests/integration/step_up.rs` calls every operation
/// with a stale proof and fails when this table and the code disagree.
pub static NEEDS_RECENT_PROOF: [(&str, &str); 21] = [
    ("/api/v1/auth/totp/enroll", "always"),
    ("/api/v1/auth/totp/confirm", "always"),
    ("/api/v1/auth/totp/remove", "always"),
    ("/api/v1/auth/recovery-codes/renew", "always"),
    ("/api/v1/auth/passkeys/register/start", "always"),
    ("/api/v1/auth/passkeys/register/finish", "always"),
    ("/api/v1/auth/passkeys/remove", "always"),
    ("/api/v1/keys/create", "always"),
    ("/api/v1/keys/rotate", "always"),
    ("/api/v1/keys/update", "when it changes allowed_cidrs, rate_limit_per_minute, permissions or check_ids (not for a new name)"),
    ("/api/v1/members/invite", "always"),
    ("/api/v1/members/set-role", "always"),
    ("/api/v1/members/remove", "when removing someone else (not when leaving)"),
    ("/api/v1/service-accounts/create", "always"),
    ("/api/v1/service-accounts/update", "when it changes role or custodian_user_ids"),
    ("/api/v1/account-keys/adopt", "always"),
    ("/api/v1/account/set-policy", "always"),
    ("/api/v1/account/scim-token", "always"),
    ("/api/v1/webhooks/create", "always"),
    ("/api/v1/webhooks/update", "when it changes url or events"),
    (EXPORT_PATH, "always"),
];

/// What an operation's description says when it needs a recent proof.
fn step_up_description(path: &str) -> Option<String> {
    recent_proof_needed(path).map(|when| {
        format!(
            "In a browser session this needs a proof of the person from the last \
             KEYWARD_STEP_UP_SECONDS (auth/step-up), {when}; otherwise 403 step_up_required. \
             Keys never need one."
        )
    })
}

/// When `path` needs a recent proof in a browser session, if it ever does.
pub fn recent_proof_needed(path: &str) -> Option<&'static str> {
    NEEDS_RECENT_PROOF
        .iter()
        .find(|(needing, _)| *needing == path)
        .map(|(_, when)| *when)
}

/// The one operation that is a `GET` (it streams; see `host::export`).
pub const EXPORT_PATH: &str = "/api/v1/audit/export";

const COMMON_ERRORS: [u16; 4] = [400, 403, 413, 500];

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "invalid_input: malformed JSON or a missing, unknown or ill-formed field (the message names it)",
        401 => "unauthenticated: no credentials, wrong password, or an unknown, revoked, expired or malformed key",
        403 => "forbidden: the role does not allow this, a cross-site request, or X-Account-Id naming another account; step_up_required: a browser session must prove its person again (auth/step-up) first; second_factor_required: the account requires a second factor and the signed-in person must set one up first",
        404 => "not_found: no such object in this account",
        409 => "conflict: last Admin, duplicate email, invite already used or expired, or an account ceiling reached (the message says which)",
        413 => "payload_too_large: body over 64 KiB",
        429 => "rate_limited: too many attempts (sign-ins, sign-ups, failed keys from one address); see Retry-After",
        _ => "internal: something unexpected; details are in the server log only",
    }
}

fn json_content(schema_name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema_name)))
        .build()
}

/// Builds the document. Cheap enough, but [`document_json`] caches it.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::new();
    let error_schema = schema::<crate::domain::error::ErrorBody>(&mut schemas);
    let mut paths = PathsBuilder::new();
    for operation in &OPERATIONS {
        let request = (operation.request)(&mut schemas);
        let response = (operation.response)(&mut schemas);
        let mut responses = ResponsesBuilder::new().response(
            operation.success.to_string(),
            ResponseBuilder::new()
                .description("Success")
                .content("application/json", json_content(&response)),
        );
        // Failed bearer attempts are throttled per client address, so any operation that
        // takes credentials can answer 429.
        let throttled = (operation.callers != Callers::Anyone).then_some(429);
        let mut errors: Vec<u16> = COMMON_ERRORS
            .iter()
            .chain(operation.errors)
            .copied()
            .chain(throttled)
            .collect();
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            responses = responses.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(error_description(status))
                    .content("application/json", json_content(&error_schema)),
            );
        }
        let security = match operation.callers {
            Callers::Holding(_) => vec![
                SecurityRequirement::new("bearer", Vec::<String>::new()),
                SecurityRequirement::new("session", Vec::<String>::new()),
            ],
            Callers::Anyone => vec![SecurityRequirement::default()],
        };
        let tag = operation
            .path
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let built = OperationBuilder::new()
            .operation_id(Some(
                operation
                    .path
                    .trim_start_matches("/api/v1/")
                    .replace(['/', '-'], "_"),
            ))
            .summary(Some(operation.summary))
            .description(step_up_description(operation.path))
            .tag(tag)
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_content(&request))
                    .required(Some(Required::True))
                    .build(),
            ))
            .responses(responses.build())
            .securities(Some(security))
            .extensions(Some(permission_extension(operation.callers.permission())))
            .build();
        paths = paths.path(operation.path, PathItem::new(HttpMethod::Post, built));
    }
    paths = paths.path(
        EXPORT_PATH,
        PathItem::new(HttpMethod::Get, export_operation()),
    );
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    schemas.dedup_by(|a, b| a.0 == b.0);
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kw_ + 38 base62 characters")
                    .description(Some("A user key (acts with its owner's current role, capped) or a legacy account key (acts as Admin)."))
                    .build(),
            ),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "keyward_session",
                "Set by auth/signup, auth/login and invites/accept (named __Host-keyward_session over https). Cookie calls must come from keyward's own origin.",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("keyward API")
                .version("1")
                .description(Some(
                    "Every operation is a POST with a JSON object body. Failures answer \
                     {\"error\": {\"code\", \"message\"}} with the status of the code.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// `x-keyward-permission`: the permission an operation needs (`null` for those that take no
/// credentials).
fn permission_extension(permission: Option<Permission>) -> utoipa::openapi::extensions::Extensions {
    utoipa::openapi::extensions::ExtensionsBuilder::new()
        .add("x-keyward-permission", permission.map(Permission::name))
        .build()
}

/// `GET /api/v1/audit/export`: its query parameters are the filters of `audit/list`.
fn export_operation() -> utoipa::openapi::path::Operation {
    use utoipa::openapi::{
        path::{ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Type},
    };
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .build()
    };
    let parameters = [
        ("format", "jsonl (default) or csv"),
        ("action", "an audit action, e.g. key.revoked"),
        ("actor_user_id", "events done by this person"),
        ("key_id", "events done with this key, or about it"),
        ("since", "RFC 3339: at or after"),
        ("until", "RFC 3339: before"),
    ]
    .map(|(name, description)| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .schema(Some(text(description)))
            .build()
    });
    let mut responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new()
            .description(
                "The events, newest first: one JSON object per line, or CSV rows under a header",
            )
            .content("application/x-ndjson", ContentBuilder::new().build())
            .content("text/csv; charset=utf-8", ContentBuilder::new().build()),
    );
    for status in [400, 401, 403, 429, 500] {
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(error_description(status))
                .content("application/json", json_content("ErrorBody")),
        );
    }
    OperationBuilder::new()
        .operation_id(Some("audit_export"))
        .summary(Some(
            "The audit trail as a download, streamed (Admin, by session or key)",
        ))
        .description(step_up_description(EXPORT_PATH))
        .tag("audit")
        .parameters(Some(parameters))
        .extensions(Some(permission_extension(Some(Permission::AuditRead))))
        .responses(responses.build())
        .securities(Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("session", Vec::<String>::new()),
        ]))
        .build()
}

pub fn document_json() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| serde_json::to_value(document()).expect("the OpenAPI document serialises"))
}

/// `GET /api/openapi.json`.
pub async fn serve_document() -> axum::Json<&'static Value> {
    axum::Json(document_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shape::request_schema;

    #[test]
    fn every_operation_is_documented_with_its_body() {
        let document = document_json();
        for operation in &OPERATIONS {
            assert!(
                request_schema(operation.path).is_some(),
                "{}",
                operation.path
            );
        }
        assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    }

    /// Every operation names its permission; every one that takes credentials names one, and
    /// every permission is needed by some operation — by its row, or (`account-keys:write`)
    /// by the key operations when the key is someone else's (`domain::key_access`).
    #[test]
    fn every_operation_names_its_permission() {
        let document = document_json();
        let mut named = std::collections::BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let permission = operation
                    .get("x-keyward-permission")
                    .unwrap_or_else(|| panic!("{method} {path} has no x-keyward-permission"));
                let open = operation["security"] == serde_json::json!([{}]);
                match permission.as_str() {
                    Some(name) => {
                        assert!(!open, "{path} takes no credentials but names {name}");
                        assert!(Permission::parse(name).is_some(), "{path}: {name}");
                        named.insert(name.to_string());
                    }
                    None => assert!(open, "{path} takes credentials but names no permission"),
                }
            }
        }
        for change in [
            crate::domain::KeyChange::Read,
            crate::domain::KeyChange::Revoke,
        ] {
            let others = crate::domain::key_access(
                change,
                crate::domain::KeyHolder::OtherPersons,
                crate::domain::Via::Session,
            );
            if let Ok(Some(permission)) = others {
                named.insert(permission.name().to_string());
            }
        }
        let catalogue: std::collections::BTreeSet<String> = Permission::ALL
            .into_iter()
            .map(|permission| permission.name().to_string())
            .collect();
        assert_eq!(
            named, catalogue,
            "a permission no operation needs, or the reverse"
        );
    }
}
