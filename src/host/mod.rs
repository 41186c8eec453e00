//! The composition root: what puts keyward together and runs it. The router and its middleware,
//! the OpenAPI document, the routes that are not server functions (the audit export, forward
//! auth, single sign-on's redirects, SCIM), the command line and logging live here, above
//! everything they assemble (`app` and `ui`, `api`, `server`, `domain`), so that no layer below
//! has to import the one that uses it.

pub mod boundary;
pub mod cli;
pub mod export;
pub mod forward_auth;
pub mod oidc;
pub mod openapi;
pub mod router;
pub mod scim;

/// Logs to stderr, `info` by default; `RUST_LOG` overrides.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Reads the configuration, builds the app and serves it at `LEPTOS_SITE_ADDR`.
pub async fn run(config: crate::server::config::Config) -> anyhow::Result<()> {
    let leptos_options = leptos::config::get_configuration(None)?.leptos_options;
    let address = leptos_options.site_addr;
    tracing::info!(database = %config.database_label(), data_dir = %config.data_dir.display(), "starting keyward");
    let server = router::build(config, leptos_options).await?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!("keyward is listening on http://{}", listener.local_addr()?);
    router::serve(listener, server).await
}
