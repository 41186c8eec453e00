//! Everything that runs only on the server: configuration, the database, authentication,
//! key hashing, the stores and the HTTP boundary.

pub mod app;
pub mod audit;
pub mod boundary;
pub mod ceilings;
pub mod checkpoints;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod export;
pub mod guards;
pub mod ids;
pub mod joining;
pub mod key_cache;
pub mod key_rules;
pub mod keys;
pub mod mail;
pub mod networks;
pub mod openapi;
pub mod paging;
pub mod passwords;
pub mod peers;
pub mod principal;
pub mod sessions;
pub mod shared_limits;
pub mod state;
pub mod stores;
pub mod throttle;
pub mod usage;

pub use principal::Principal;
pub use state::AppState;

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
pub async fn run() -> anyhow::Result<()> {
    let leptos_options = leptos::config::get_configuration(None)?.leptos_options;
    let config = config::Config::from_env()?;
    let address = leptos_options.site_addr;
    tracing::info!(database = %config.database_label(), data_dir = %config.data_dir.display(), "starting keyward");
    let server = app::build(config, leptos_options).await?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!("keyward is listening on http://{}", listener.local_addr()?);
    app::serve(listener, server).await
}
