//! Where a delivery may go. An endpoint is a URL an Admin typed, and keyward connects to it from
//! inside the operator's network: without a guard, a webhook to `http://169.254.169.254/…` or
//! `http://10.0.0.5:6379/` makes keyward a door into that network.
//!
//! The guard is applied to the *address connected to*, not to the name: [`GuardedResolver`]
//! resolves names for the HTTP client and hands it only public addresses, so a name that
//! resolves to a private address (or is changed to after it was checked, DNS rebinding) is
//! refused at every delivery. A URL whose host is an address literal is checked by
//! [`refusal_of_url`] (the client does not resolve literals). Redirects are never followed,
//! so an allowed host cannot bounce a delivery inward.
//!
//! `KEYWARD_WEBHOOKS_ALLOW_PRIVATE=1` lifts the guard, for tests and receivers inside.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest endpoint URL accepted.
pub const MAX_URL_LENGTH: usize = 2000;

/// Checks an endpoint URL's shape: `http` or `https`, a host, no user or password (a secret in
/// a URL is shown to every Admin), at most [`MAX_URL_LENGTH`] characters.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let text = text.trim();
    if text.len() > MAX_URL_LENGTH {
        return Err(format!("at most {MAX_URL_LENGTH} characters"));
    }
    let url = Url::parse(text).map_err(|error| format!("{text:?} is not a URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with https:// (or http://)".to_string());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("may not carry a user or password: deliveries are signed instead".to_string());
    }
    if url.fragment().is_some() {
        return Err("may not have a #fragment".to_string());
    }
    Ok(url)
}

/// Why a delivery to `url` is refused before any name is resolved: its host is an address
/// literal that is not public. Names are checked when they resolve ([`GuardedResolver`]).
pub fn refusal_of_url(url: &Url, allow_private: bool) -> Option<String> {
    if allow_private {
        return None;
    }
    let address = match url.host()? {
        url::Host::Ipv4(address) => IpAddr::V4(address),
        url::Host::Ipv6(address) => IpAddr::V6(address),
        url::Host::Domain(name) => {
            // "localhost" resolves to loopback everywhere; say so without asking.
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            return (name == "localhost" || name.ends_with(".localhost"))
                .then(|| refusal_text(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
    };
    is_forbidden(address).then(|| refusal_text(&address))
}

fn refusal_text(address: &IpAddr) -> String {
    format!(
        "{address} is a loopback, private, link-local or otherwise internal address; webhooks go only to public addresses (KEYWARD_WEBHOOKS_ALLOW_PRIVATE=1 allows others)"
    )
}

/// Whether a delivery may not connect to `address`: anything but a public unicast address.
pub fn is_forbidden(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(address) => is_forbidden_v4(address),
        IpAddr::V6(address) => is_forbidden_v6(address),
    }
}

fn is_forbidden_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    address.is_unspecified()
        || address.is_loopback()
        || address.is_private()
        || address.is_link_local() // 169.254/16, cloud metadata among them
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_forbidden_v6(address: Ipv6Addr) -> bool {
    // An IPv4 address inside an IPv6 one is judged as itself: mapped (::ffff:a.b.c.d),
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
    let segments = address.segments();
    if let Some(v4) = address.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let octets = address.octets();
        return is_forbidden_v4(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ));
    }
    if segments[0] == 0x2002 {
        let octets = address.octets();
        return is_forbidden_v4(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    address.is_unspecified()
        || address.is_loopback()
        || address.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 (metadata) among them
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || segments[..2] == [0x2001, 0xdb8] // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
}

/// The HTTP client's resolver: the system's answer, with every forbidden address taken out. A
/// name with no public address left fails to connect, with the reason as the error.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|address| allow_private || !is_forbidden(address.ip()))
                .collect();
            if allowed.is_empty() {
                let reason = match found.first() {
                    Some(address) => format!("{host} resolves to {}", refusal_text(&address.ip())),
                    None => format!("{host} does not resolve"),
                };
                return Err(reason.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_allowed() {
        let forbidden = [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
        ];
        for text in forbidden {
            assert!(
                is_forbidden(text.parse().unwrap()),
                "{text} must be refused"
            );
        }
        for text in [
            "93.184.215.14",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_forbidden(text.parse().unwrap()), "{text} is public");
        }
    }

    #[test]
    fn a_urls_literal_address_is_checked_before_any_connection() {
        let refused = |text: &str| refusal_of_url(&parse_url(text).unwrap(), false);
        assert!(refused("http://127.0.0.1:8080/hook").is_some());
        assert!(refused("http://[::1]/hook").is_some());
        assert!(refused("http://169.254.169.254/latest/meta-data").is_some());
        assert!(refused("http://localhost:9000/").is_some());
        assert!(refused("http://LOCALHOST./").is_some());
        // Decimal and hexadecimal spellings are parsed as the address they are.
        assert!(refused("http://2130706433/").is_some());
        assert!(refused("http://0x7f.1/").is_some());
        assert!(refused("https://hooks.example.com/keyward").is_none());
        let allowed = parse_url("http://127.0.0.1:8080/hook").unwrap();
        assert!(refusal_of_url(&allowed, true).is_none());
    }

    #[test]
    fn a_url_must_be_http_with_a_host_and_no_credentials() {
        for text in [
            "ftp://example.com/",
            "example.com/hook",
            "https://user:pass@example.com/",
            "https://example.com/#x",
            "mailto:a@example.com",
        ] {
            assert!(parse_url(text).is_err(), "{text}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert!(parse_url(&long).is_err());
        assert!(parse_url(" https://example.com/hook?x=1 ").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_hands_out_no_internal_address() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let error = match guarded.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved to something public"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("internal address"), "{error}");
        let open = GuardedResolver {
            allow_private: true,
        };
        let addresses: Vec<SocketAddr> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addresses.iter().all(|address| address.ip().is_loopback()));
    }
}
