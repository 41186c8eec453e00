//! A key's network guard: the CIDR networks it may be used from, as callers write them and as
//! they are stored (comma-separated, canonical), and the per-minute rate limit's bounds.

use crate::domain::ApiError;
use ipnet::IpNet;
use std::net::IpAddr;

pub const MAX_NETWORKS: usize = 50;
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 100_000;

/// Parses what a caller sent: CIDRs or bare addresses (one host), IPv4 or IPv6, each reduced to
/// its network (`10.1.2.3/8` → `10.0.0.0/8`), duplicates dropped.
pub fn parse(field: &str, entries: &[String]) -> Result<Vec<IpNet>, ApiError> {
    if entries.len() > MAX_NETWORKS {
        return Err(ApiError::invalid_input(
            field,
            &format!("may list at most {MAX_NETWORKS} networks"),
        ));
    }
    let mut networks: Vec<IpNet> = Vec::with_capacity(entries.len());
    for entry in entries {
        let text = entry.trim();
        let network = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                let shown: String = text.chars().filter(|c| !c.is_control()).take(60).collect();
                ApiError::invalid_input(
                    field,
                    &format!("“{shown}” is not an address or a CIDR network (such as 10.0.0.0/8 or 2001:db8::/32)"),
                )
            })?
            .trunc();
        if !networks.contains(&network) {
            networks.push(network);
        }
    }
    Ok(networks)
}

/// The stored form: canonical CIDRs joined by commas; empty for "anywhere".
pub fn to_stored(networks: &[IpNet]) -> String {
    networks
        .iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads the stored form back (it was written by [`to_stored`], so nothing is dropped).
pub fn from_stored(text: &str) -> Vec<IpNet> {
    text.split(',')
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| entry.parse().ok())
        .collect()
}

/// Whether `address` may use a key guarded by `networks` (empty: anywhere). IPv4 clients seen
/// through an IPv6 socket (`::ffff:10.1.2.3`) count as their IPv4 address.
pub fn allows(networks: &[IpNet], address: Option<IpAddr>) -> bool {
    if networks.is_empty() {
        return true;
    }
    let Some(address) = address else {
        return false;
    };
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    networks.iter().any(|network| network.contains(&address))
}

/// Whether every network of `inner` lies inside one of `outer` (a child key's guard inside its
/// parent's). An unguarded parent (`outer` empty) allows anything.
pub fn within(inner: &[IpNet], outer: &[IpNet]) -> bool {
    outer.is_empty()
        || (!inner.is_empty()
            && inner
                .iter()
                .all(|network| outer.iter().any(|parent| parent.contains(network))))
}

/// A per-minute limit from a caller.
pub fn parse_rate_limit(field: &str, value: i64) -> Result<u32, ApiError> {
    u32::try_from(value)
        .ok()
        .filter(|limit| (1..=MAX_RATE_LIMIT_PER_MINUTE).contains(limit))
        .ok_or_else(|| {
            ApiError::invalid_input(
                field,
                &format!("must be 1 to {MAX_RATE_LIMIT_PER_MINUTE} requests a minute"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        parse(
            "allowed_cidrs",
            &list.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn networks_are_parsed_canonically_and_checked_for_v4_and_v6() {
        assert_eq!(
            to_stored(&nets(&[
                "10.1.2.3/8",
                "192.0.2.7",
                "2001:db8::1/32",
                "10.0.0.0/8"
            ])),
            "10.0.0.0/8,192.0.2.7/32,2001:db8::/32"
        );
        let guard = nets(&["10.0.0.0/8", "2001:db8::/32"]);
        let ip = |text: &str| Some(text.parse().unwrap());
        assert!(allows(&guard, ip("10.200.0.1")));
        assert!(allows(&guard, ip("::ffff:10.0.0.9")), "IPv4-mapped IPv6");
        assert!(allows(&guard, ip("2001:db8:5::1")));
        assert!(!allows(&guard, ip("11.0.0.1")));
        assert!(!allows(&guard, ip("2001:db9::1")));
        assert!(!allows(&guard, None), "no known address, no entry");
        assert!(allows(&[], None), "unguarded");
        assert_eq!(from_stored(&to_stored(&guard)), guard);
        assert_eq!(from_stored(""), Vec::<IpNet>::new());
        let error = parse("allowed_cidrs", &["10.0.0.0/33".to_string()]).unwrap_err();
        assert!(
            error.message.starts_with("allowed_cidrs:"),
            "{}",
            error.message
        );
        assert!(parse("allowed_cidrs", &vec!["10.0.0.1".to_string(); 51]).is_err());
    }

    #[test]
    fn a_child_guard_must_lie_inside_its_parents() {
        let parent = nets(&["10.0.0.0/8"]);
        assert!(within(&nets(&["10.1.0.0/16"]), &parent));
        assert!(!within(&nets(&["10.1.0.0/16", "11.0.0.0/8"]), &parent));
        assert!(!within(&[], &parent), "anywhere is wider than the parent");
        assert!(within(&[], &[]));
        assert_eq!(
            parse_rate_limit("r", 0)
                .unwrap_err()
                .message
                .split(':')
                .next(),
            Some("r")
        );
        assert_eq!(parse_rate_limit("r", 60).unwrap(), 60);
    }
}
