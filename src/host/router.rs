//! Builds the whole server: state, router, layers and background work. `main` and the
//! integration tests both start keyward through here.

use crate::app::{shell, App};
use crate::domain::time::now_millis;
use crate::host::boundary;
use crate::host::openapi;
use crate::server::audit::repeats::Repeats;
use crate::server::config::Config;
use crate::server::keys::cache::KeyCache;
use crate::server::keys::secret::KeyHasher;
use crate::server::keys::usage::KeyUsage;
use crate::server::limits::shared::SharedLimits;
use crate::server::limits::throttle::Throttles;
use crate::server::signin::passwords::Passwords;
use crate::server::signin::sessions::{HashedSessionStore, SessionBackend};
use crate::server::state::Services;
use crate::server::{db, stores, AppState};
use anyhow::Result;
use axum::serve::ListenerExt;
use axum::{
    extract::State,
    http::StatusCode,
    response::IntoResponse,
    routing::{any, get},
    Router,
};
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tower_http::compression::{CompressionLayer, DefaultPredicate, Predicate};
use tower_http::trace::TraceLayer;

pub struct Server {
    pub state: AppState,
    pub router: Router,
}

/// Connects to the database, runs the migrations and assembles the router.
pub async fn build(config: Config, leptos_options: LeptosOptions) -> Result<Server> {
    config.check()?;
    let database = db::connect(&config).await?;
    let key_hasher = KeyHasher::new(&config.load_or_create_pepper()?);
    let sessions = HashedSessionStore::new(
        SessionBackend::new(&database.engine_pool).await?,
        key_hasher.clone(),
    );
    let shared_limits = match &config.redis_url {
        None => None,
        Some(url) => {
            let shared = SharedLimits::connect(url, &config.redis_prefix).await?;
            tracing::info!(redis = %url.server(), "rate limits are shared through Redis");
            Some(shared)
        }
    };
    // Several instances can share a PostgreSQL database; a SQLite file is served by one.
    let other_instances_possible = matches!(database.engine_pool, db::EnginePool::Postgres(_));
    let state = AppState::new(Services {
        leptos_options: leptos_options.clone(),
        pool: database.pool,
        key_hasher,
        key_cache: KeyCache::new(config.key_cache_window, other_instances_possible),
        peers: other_instances_possible
            .then(|| crate::server::keys::peers::Peers::new(&config.database_url)),
        passwords: Passwords::new()?,
        passkeys: crate::server::signin::passkeys::Passkeys::new(config.public_url.as_deref())?,
        key_usage: KeyUsage::default(),
        throttles: Throttles::new(
            config.signups_per_hour,
            config.ceilings.invites_per_account_per_hour,
            shared_limits,
        ),
        sessions: sessions.clone(),
        audit_repeats: Repeats::default(),
        mailer: match &config.smtp_url {
            None => None,
            Some(url) => {
                tracing::info!(server = %url.server(), from = %config.mail_from, "sending email");
                Some(Arc::new(crate::server::mail::Mailer::new(
                    url,
                    &config.mail_from,
                )?))
            }
        },
        oidc: match (&config.oidc, &config.public_url) {
            (Some(settings), Some(public_url)) => {
                tracing::info!(issuer = %settings.issuer, "single sign-on");
                Some(Arc::new(crate::server::sso::oidc::Oidc::new(
                    settings.clone(),
                    public_url,
                )?))
            }
            _ => None,
        },
        config: config.clone(),
    });

    let context_state = state.clone();
    let provide_state = move || provide_context(context_state.clone());
    let render_shell = move || shell(leptos_options.clone());
    // Pages, and what the fallback serves (the bundle's files, the not-found page), go out
    // compressed (see `is_a_page`). They have a router of their own so that nothing else, above
    // all the key-checked API, passes through the compression layer: when it wrapped every
    // response, a key-authenticated `auth/me` took 86,917 instructions instead of 79,846
    // (callgrind, as `make bench` counts them), though no API answer was compressed. Leptos
    // registers the server functions in this router too; the router below answers them first.
    let pages = Router::new()
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            provide_state.clone(),
            render_shell.clone(),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(is_a_page)))
        .with_state(state.clone());
    let router = Router::new()
        .route("/healthz", get(healthz))
        // No page routes: only the server functions (the API).
        .leptos_routes_with_context(&state, Vec::new(), provide_state, render_shell)
        .route("/api/openapi.json", get(openapi::serve_document))
        .route(
            "/api/v1/audit/export",
            get(crate::host::export::export_audit_trail),
        )
        .route(
            crate::host::forward_auth::PATH,
            any(crate::host::forward_auth::forward_auth),
        )
        .route(
            crate::server::sso::oidc::START_PATH,
            get(crate::host::oidc::start),
        )
        .route(
            crate::server::sso::oidc::CALLBACK_PATH,
            get(crate::host::oidc::callback),
        )
        .nest(
            crate::host::scim::PREFIX,
            crate::host::scim::routes(state.clone()),
        )
        .route("/api/{*operation}", any(boundary::unknown_operation))
        .fallback_service(pages)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            boundary::api_boundary,
        ))
        .layer(sessions.layer(config.secure_cookies))
        // Outside the session layer, so it also sees the cookie that layer sets.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            boundary::response_headers,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state.clone());
    Ok(Server { state, router })
}

/// Serves until Ctrl-C or SIGTERM, then writes the key usage still in memory.
pub async fn serve(listener: TcpListener, server: Server) -> Result<()> {
    let state = server.state.clone();
    spawn_background_work(state.clone());
    // Without TCP_NODELAY, an answer written in two parts (head, then body) waits for the
    // client's delayed ACK before its second part leaves: about 40 ms for each file a browser
    // fetches on a kept-alive connection.
    let listener = listener.tap_io(|connection| {
        if let Err(error) = connection.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        server
            .router
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    state.key_usage.flush(&state.pool).await?;
    state.audit_repeats.flush(&state, true).await;
    if let Some(peers) = &state.peers {
        // Writers stop asking this instance for acknowledgements at once.
        if let Err(error) = peers.leave(&state.pool).await {
            tracing::warn!(%error, "could not take this instance out of the live set");
        }
    }
    Ok(())
}

/// Only server-rendered pages are compressed as they go out. The keys page is 13 KB of HTML
/// with its data, and on a slow link every byte before the bundle delays it; compressed, about
/// a quarter of that. The bundle is not compressed here: the release build
/// writes `.br` and `.gz` copies, served as they are (this layer leaves a response that has an
/// encoding alone). API answers are not compressed either: they are small, each would cost
/// the key path time on every program's call, and some carry a secret once, which compression
/// beside attacker-chosen text could reveal by its length (BREACH). Pages carry no secret.
/// Pages still stream: the encoder is flushed whenever the page's stream waits for more.
fn is_a_page(
    _: StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"))
}

/// The span of one request names its route template (`/invite/{token}`), never the concrete
/// path, which can carry a one-time invite token.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", |path| path.as_str());
    tracing::debug_span!("request", method = %request.method(), route)
}

/// `GET /healthz`: 200 when the database answers, 503 when it does not.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if db::is_healthy(&state.pool).await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

/// Periodic chores: key usage and counted audit repeats to the database (so they are at most
/// 10 s behind), an audit checkpoint every minute, forgetting stale throttling state, every 10 minutes the `key.expiring` events and the expiry emails, webhook deliveries as they come, and —
/// hourly — deleting expired sessions and audit events past their retention.
pub fn spawn_background_work(state: AppState) {
    let reader = state.clone();
    tokio::spawn(async move {
        reader
            .key_cache
            .keep_reading(&reader.pool, reader.peers.as_ref())
            .await
    });
    if state.peers.is_some() {
        let listening = state.clone();
        tokio::spawn(async move {
            if let Some(peers) = &listening.peers {
                peers
                    .listen(&listening.pool, |accounts| {
                        listening.key_cache.forget_accounts(accounts)
                    })
                    .await;
            }
        });
    }
    // Webhook deliveries, as soon as their changes commit (see `server::webhooks`).
    tokio::spawn(crate::server::webhooks::worker::run(state.clone()));
    // The audit trail's anchor outside the database (see `checkpoints`), once a minute.
    let anchoring = state.clone();
    tokio::spawn(async move {
        let mut writer = crate::server::audit::checkpoints::Writer::new(&anchoring.config.data_dir);
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        loop {
            ticks.tick().await;
            if let Err(error) = writer.write(&anchoring.pool, &anchoring.key_hasher).await {
                tracing::warn!(%error, "could not write an audit checkpoint");
            }
        }
    });
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(10));
        let mut count: u64 = 0;
        loop {
            ticks.tick().await;
            count += 1;
            if let Err(error) = state.key_usage.flush(&state.pool).await {
                tracing::warn!(%error, waiting = state.key_usage.pending_count(), "could not record key usage; will retry");
            }
            state.audit_repeats.flush(&state, false).await;
            state.throttles.forget_idle();
            if count % 60 == 1 {
                match crate::server::webhooks::worker::record_expiring_keys(&state, now_millis())
                    .await
                {
                    Ok(0) => {}
                    Ok(written) => tracing::info!(written, "recorded key.expiring events"),
                    Err(error) => tracing::warn!(%error, "could not record key.expiring events"),
                }
                match crate::server::mail::send_expiry_notices(&state, now_millis()).await {
                    Ok(0) => {}
                    Ok(sent) => tracing::info!(sent, "emailed key owners about expiring keys"),
                    Err(error) => tracing::warn!(%error, "could not look for keys to warn about"),
                }
            }
            if count % 360 == 1 {
                if let Err(error) = state.sessions.backend().delete_expired().await {
                    tracing::warn!(%error, "could not delete expired sessions");
                }
                prune_audit_trail(&state).await;
            }
        }
    });
}

/// Deletes audit events older than `KEYWARD_AUDIT_RETENTION_DAYS`.
pub async fn prune_audit_trail(state: &AppState) {
    let retention = crate::domain::time::days(u64::from(state.config.audit_retention_days));
    let before = now_millis().before(retention);
    match stores::audit::prune(&state.pool, before).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "deleted audit events past their retention"),
        Err(error) => tracing::warn!(%error, "could not delete old audit events"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
