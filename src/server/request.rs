//! What a server function reads from the request it serves: the server state, the browser
//! session, whether a bearer key came with it, and the client's address (behind trusted proxies).

use crate::domain::ApiError;
use crate::server::principal::ACCOUNT_HEADER;
use crate::server::AppState;
use axum::{
    extract::ConnectInfo,
    http::{
        header::{AUTHORIZATION, USER_AGENT},
        request::Parts,
        HeaderMap, HeaderValue,
    },
};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

/// The server state, provided to every server function by the router.
pub fn app_state() -> Result<AppState, ApiError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState was not provided to a server function");
        ApiError::internal()
    })
}

/// The browser session of this request.
pub async fn session() -> Result<Session, ApiError> {
    leptos_axum::extract::<Session>().await.map_err(|error| {
        tracing::error!(?error, "no session layer");
        ApiError::internal()
    })
}

/// Reads this request's head in place. `leptos_axum::extract` would clone the whole head
/// (every header) on each call, and the key path asks it several questions.
pub(crate) fn with_request<R>(read: impl FnOnce(&Parts) -> R) -> Result<R, ApiError> {
    leptos::prelude::with_context::<Parts, _>(read).ok_or_else(|| {
        tracing::error!("the request was not provided to a server function");
        ApiError::internal()
    })
}

/// What a caller is resolved from, read from a request's head in one look: the bearer token (if
/// an `Authorization` header came), the account it names, the client's address and user agent,
/// and the browser session. A server function reads its request's ([`RequestHead::current`]);
/// the export route, which is not one, reads its own ([`RequestHead::read`]).
#[derive(Clone, Default)]
pub struct RequestHead {
    /// `Some` whenever an `Authorization` header came (empty when it was not `Bearer …`).
    pub bearer: Option<String>,
    pub named_account: Option<HeaderValue>,
    pub address: Option<IpAddr>,
    /// Kept as the header (a cheap clone): it is read only when an event records it.
    pub user_agent: Option<HeaderValue>,
    /// Only for a request without a bearer key: a key never acts through a session.
    pub session: Option<Session>,
}

impl RequestHead {
    pub fn read(parts: &Parts, trusted: &[IpNet]) -> RequestHead {
        let bearer = parts.headers.get(AUTHORIZATION).map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .unwrap_or_default()
                .to_string()
        });
        let session = match bearer {
            Some(_) => None,
            None => parts.extensions.get::<Session>().cloned(),
        };
        RequestHead {
            bearer,
            named_account: parts.headers.get(ACCOUNT_HEADER).cloned(),
            address: client_of(parts, trusted),
            user_agent: parts.headers.get(USER_AGENT).cloned(),
            session,
        }
    }

    /// The head of the request the current server function serves.
    pub fn current(state: &AppState) -> Result<RequestHead, ApiError> {
        with_request(|parts| RequestHead::read(parts, &state.config.trusted_proxies))
    }
}

/// The base of the links keyward hands out: `KEYWARD_PUBLIC_URL`, or else the scheme and host
/// this request came to (fine for a link shown to the one who asked; emails need the setting,
/// see `Config::check`).
pub fn public_base_url(config: &crate::server::config::Config, headers: &HeaderMap) -> String {
    if let Some(url) = &config.public_url {
        return url.clone();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if config.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// Whether a request with these headers authenticates with a bearer key (whatever the key is
/// worth): the one test of it. Such a request never signs anyone in, gets no cookie, and is not
/// a browser's, so no cross-site check applies.
pub fn carries_bearer_key(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION)
}

/// Whether this request authenticates with a bearer key ([`carries_bearer_key`]).
pub fn is_bearer_request() -> bool {
    with_request(|parts| carries_bearer_key(&parts.headers)).unwrap_or(false)
}

/// The client's address: the socket's peer, or — when that peer is one of the configured
/// trusted proxies — the address those proxies recorded in `X-Forwarded-For`.
pub fn client_address(state: &AppState) -> Option<IpAddr> {
    with_request(|parts| client_of(parts, &state.config.trusted_proxies))
        .ok()
        .flatten()
}

pub(crate) fn client_of(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    let peer = peer.ip();
    // Without a trusted proxy in front (the usual case), the header is not even read.
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    let forwarded_for = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(client_ip(peer, &forwarded_for, trusted))
}

/// Walks `X-Forwarded-For` from the right (the entry the nearest proxy appended) past trusted
/// proxies; the first address that is not one is the client. Anything that is not an address
/// stops the walk there, so a client cannot smuggle a value past a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.rsplit(',') {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::client_ip;

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted = ["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ip = |text: &str| text.parse().unwrap();
        #[rustfmt::skip]
        let cases = [
            // Not from a proxy: the header is whatever the client wrote, so it is ignored.
            ("203.0.113.9", "1.2.3.4", "203.0.113.9"),
            // From a trusted proxy: the nearest untrusted entry, not a forged one further left.
            ("10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
            ("10.0.0.2", "198.51.100.7, 10.0.0.9", "198.51.100.7"),
            ("::1", "2001:db8::5", "2001:db8::5"),
            // Garbage stops the walk; no header leaves the proxy's own address.
            ("10.0.0.2", "1.2.3.4, junk", "10.0.0.2"),
            ("10.0.0.2", "", "10.0.0.2"),
        ];
        for (peer, forwarded_for, client) in cases {
            assert_eq!(
                client_ip(ip(peer), forwarded_for, &trusted),
                ip(client),
                "{peer} {forwarded_for:?}"
            );
        }
        assert_eq!(client_ip(ip("10.0.0.2"), "1.2.3.4", &[]), ip("10.0.0.2"));
    }
}
