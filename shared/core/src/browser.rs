//! Publishable keys: `events:write` credentials that a web page may carry, bound to the
//! origins it may be used from and, optionally, to a rate limit.
//!
//! A publishable key (`cjp_…`) is public by design: anyone can read it from the page.
//! The origin binding stops other sites' pages from using it in their visitors'
//! browsers; the rate limit bounds what a scripted client (which can fake `Origin`)
//! can do with it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;

/// Most origins one key may name.
pub const MAX_ORIGINS: usize = 20;
/// Highest rate limit, in requests per minute.
pub const MAX_RATE_LIMIT: u32 = 1_000_000;

/// What a publishable key is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserBinding {
    /// Serialized origins (`https://shop.example.com`, `http://localhost:3000`), or a
    /// wildcard for subdomains (`https://*.example.com`, which excludes the apex).
    pub allowed_origins: Vec<String>,
    /// Requests per minute, counted per key across every instance of the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
}

impl BrowserBinding {
    /// Validates and normalizes the origins and the limit.
    pub fn new(origins: &[String], rate_limit_per_minute: Option<u32>) -> Result<Self, String> {
        if origins.is_empty() || origins.len() > MAX_ORIGINS {
            return Err(format!(
                "a publishable key needs 1 to {MAX_ORIGINS} allowed_origins"
            ));
        }
        if rate_limit_per_minute.is_some_and(|r| r == 0 || r > MAX_RATE_LIMIT) {
            return Err(format!(
                "rate_limit_per_minute must be 1 to {MAX_RATE_LIMIT}"
            ));
        }
        let mut allowed_origins = origins
            .iter()
            .map(|o| normalize_origin(o))
            .collect::<Result<Vec<_>, _>>()?;
        allowed_origins.sort();
        allowed_origins.dedup();
        Ok(Self {
            allowed_origins,
            rate_limit_per_minute,
        })
    }

    /// Whether a request with this `Origin` header may use the key. A request without
    /// one did not come from a web page, and a publishable key is for web pages only.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin.and_then(|o| normalize_origin(o).ok()) else {
            return false;
        };
        self.allowed_origins.iter().any(|allowed| {
            if allowed == &origin {
                return true;
            }
            let Some((scheme, rest)) = allowed.split_once("://*.") else {
                return false;
            };
            let Some(host) = origin
                .strip_prefix(scheme)
                .and_then(|o| o.strip_prefix("://"))
            else {
                return false;
            };
            host.ends_with(&format!(".{rest}"))
        })
    }
}

/// `scheme://host[:port]`, lowercased, without a default port, path or slash.
pub fn normalize_origin(raw: &str) -> Result<String, String> {
    let bad = || format!("{raw:?} is not an origin like https://shop.example.com");
    let lower = raw.trim().to_ascii_lowercase();
    let (scheme, authority) = lower.split_once("://").ok_or_else(bad)?;
    if scheme != "https" && scheme != "http" {
        return Err(bad());
    }
    let (host, port) = match authority.find(']') {
        Some(end) if authority.starts_with('[') => {
            let (host, rest) = authority.split_at(end + 1);
            match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if rest.is_empty() => (host, None),
                None => return Err(bad()),
            }
        }
        _ => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    let label =
        |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host),
    };
    let ipv6 = name.starts_with('[')
        && name.ends_with(']')
        && name[1..name.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    let valid_name = ipv6 || name.split('.').all(label);
    if !valid_name || (wildcard && (ipv6 || !name.contains('.'))) {
        return Err(bad());
    }
    let default_port = matches!(
        (scheme, port),
        ("https", Some("443")) | ("http", Some("80"))
    );
    Ok(match port {
        Some(port) if !default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Where a tenant's rate-limit windows live, one document per key (its id).
pub fn rate_windows_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#RATE")
}

/// One key's current fixed one-minute window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateWindow {
    /// Unix minute.
    pub minute: i64,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Write this window (conditionally on the one read) and go ahead.
    Admit(RateWindow),
    /// The window is full until the next minute.
    Refuse { retry_after_secs: u64 },
}

/// Counts one more request against `limit` in the window of `now`.
pub fn count_request(current: Option<&RateWindow>, now: DateTime<Utc>, limit: u32) -> RateDecision {
    let minute = now.timestamp().div_euclid(60);
    match current {
        Some(window) if window.minute == minute && window.count >= limit => RateDecision::Refuse {
            retry_after_secs: (60 - now.timestamp().rem_euclid(60)) as u64,
        },
        Some(window) if window.minute == minute => RateDecision::Admit(RateWindow {
            minute,
            count: window.count + 1,
        }),
        _ => RateDecision::Admit(RateWindow { minute, count: 1 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(origins: &[&str]) -> BrowserBinding {
        let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
        BrowserBinding::new(&origins, None).unwrap()
    }

    #[test]
    fn origins_are_normalized_and_checked() {
        assert_eq!(
            normalize_origin("HTTPS://Shop.Example.com:443").unwrap(),
            "https://shop.example.com"
        );
        assert_eq!(
            normalize_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(
            normalize_origin("http://[::1]:8080").unwrap(),
            "http://[::1]:8080"
        );
        assert_eq!(normalize_origin("http://[::1]").unwrap(), "http://[::1]");
        for bad in [
            "shop.example.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://",
            "https://x.com:",
            "https://*.com",
            "null",
            "https://a b.com",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
        assert!(BrowserBinding::new(&[], None).is_err());
        assert!(BrowserBinding::new(&["https://a.com".into()], Some(0)).is_err());
    }

    #[test]
    fn only_the_allowed_origins_may_use_a_key() {
        let b = binding(&["https://shop.example.com", "https://*.example.org"]);
        assert!(b.allows(Some("https://shop.example.com")));
        assert!(b.allows(Some("https://shop.example.com:443")));
        assert!(b.allows(Some("https://eu.app.example.org")));
        assert!(
            !b.allows(Some("https://example.org")),
            "a wildcard excludes the apex"
        );
        assert!(!b.allows(Some("https://evilexample.org")));
        assert!(
            !b.allows(Some("http://shop.example.com")),
            "the scheme counts"
        );
        assert!(
            !b.allows(Some("https://shop.example.com:8443")),
            "the port counts"
        );
        assert!(!b.allows(Some("https://shop.example.com.evil.net")));
        assert!(!b.allows(Some("null")));
        assert!(!b.allows(None), "no Origin: not a web page");
    }

    #[test]
    fn the_rate_window_counts_to_its_limit_then_refuses_until_the_next_minute() {
        let t0: DateTime<Utc> = "2026-11-23T10:00:15Z".parse().unwrap();
        let RateDecision::Admit(first) = count_request(None, t0, 2) else {
            panic!("the first request is admitted")
        };
        let RateDecision::Admit(second) = count_request(Some(&first), t0, 2) else {
            panic!("the second request is admitted")
        };
        assert_eq!(second.count, 2);
        assert_eq!(
            count_request(Some(&second), t0, 2),
            RateDecision::Refuse {
                retry_after_secs: 45
            }
        );
        let next_minute = t0 + chrono::Duration::seconds(45);
        assert_eq!(
            count_request(Some(&second), next_minute, 2),
            RateDecision::Admit(RateWindow {
                minute: first.minute + 1,
                count: 1
            })
        );
    }
}
