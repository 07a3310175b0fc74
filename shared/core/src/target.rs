//! Where CJaaS may call tenants' webhook and enrichment URLs: public `http(s)` hosts
//! only, so a rule can never make CJaaS reach into its own network (server-side
//! request forgery).
//!
//! - **Refused always:** link-local addresses (`169.254.0.0/16`, where the cloud
//!   metadata service answers, and `fe80::/10`), `0.0.0.0/8`, broadcast, multicast,
//!   documentation, benchmarking and reserved ranges, and the operator's denied hosts
//!   (the Lambda runtime API).
//! - **Refused unless the operator allows private targets** (a development switch,
//!   off by default): loopback, `localhost` names, the private ranges (`10/8`,
//!   `172.16/12`, `192.168/16`), shared CGNAT space (`100.64/10`) and unique-local
//!   IPv6 (`fc00::/7`).
//! - IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 forms are judged by the IPv4
//!   address they carry. Any other IPv6 address outside global unicast `2000::/3` is
//!   reserved.
//!
//! A URL is checked once when a rule is stored ([`TargetPolicy::check_url`]: its
//! scheme, and a literal address or `localhost` name), and again at delivery, where
//! every address a host name resolves to passes [`TargetPolicy::check_ip`] before
//! anything connects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

pub const MAX_URL_BYTES: usize = 2048;

/// A special address range: its name, and whether the private-targets switch opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    pub name: &'static str,
    pub private: bool,
}

const fn range(name: &'static str, private: bool) -> SpecialRange {
    SpecialRange { name, private }
}

/// (network, prefix length, range), most specific first where they overlap.
const V4: &[([u8; 4], u32, SpecialRange)] = &[
    ([255, 255, 255, 255], 32, range("broadcast", false)),
    ([0, 0, 0, 0], 8, range("this-network", false)),
    ([10, 0, 0, 0], 8, range("private", true)),
    ([100, 64, 0, 0], 10, range("shared (CGNAT)", true)),
    ([127, 0, 0, 0], 8, range("loopback", true)),
    (
        [169, 254, 0, 0],
        16,
        range("link-local (cloud metadata)", false),
    ),
    ([172, 16, 0, 0], 12, range("private", true)),
    (
        [192, 0, 0, 0],
        24,
        range("IETF protocol assignments", false),
    ),
    ([192, 0, 2, 0], 24, range("documentation", false)),
    ([192, 88, 99, 0], 24, range("6to4 relay anycast", false)),
    ([192, 168, 0, 0], 16, range("private", true)),
    ([198, 18, 0, 0], 15, range("benchmarking", false)),
    ([198, 51, 100, 0], 24, range("documentation", false)),
    ([203, 0, 113, 0], 24, range("documentation", false)),
    ([224, 0, 0, 0], 4, range("multicast", false)),
    ([240, 0, 0, 0], 4, range("reserved", false)),
];

/// IPv6 ranges that are not judged by an embedded IPv4 address.
const V6: &[(u128, u32, SpecialRange)] = &[
    (0, 128, range("unspecified", false)),
    (1, 128, range("loopback", true)),
    (0x0064_ff9b_0001 << 80, 48, range("local-use NAT64", false)),
    (0x0100 << 112, 64, range("discard-only", false)),
    (0x2001 << 112, 23, range("IETF protocol assignments", false)),
    (0x2001_0db8 << 96, 32, range("documentation", false)),
    (0x3fff << 112, 20, range("documentation", false)),
    (0x5f00 << 112, 16, range("segment routing", false)),
    (0xfc00 << 112, 7, range("unique-local", true)),
    (0xfe80 << 112, 10, range("link-local", false)),
    (0xfec0 << 112, 10, range("site-local", false)),
    (0xff00 << 112, 8, range("multicast", false)),
];

fn in_v4(ip: u32, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    ip & mask == u32::from_be_bytes(net) & mask
}

fn in_v6(ip: u128, net: u128, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    ip & mask == net & mask
}

/// The IPv4 address an IPv6 address stands for: mapped (`::ffff:a.b.c.d`),
/// translated (`::ffff:0:a.b.c.d`), compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    if in_v6(bits, 0xffff << 32, 96)
        || in_v6(bits, 0xffff << 48, 96)
        || in_v6(bits, 0x0064_ff9b << 96, 96)
    {
        return Some(low);
    }
    if in_v6(bits, 0, 96) && bits > 1 {
        return Some(low);
    }
    if in_v6(bits, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

/// The special range `ip` falls in, or `None` for a public address.
pub fn special_range(ip: IpAddr) -> Option<SpecialRange> {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            V4.iter()
                .find(|(net, len, _)| in_v4(bits, *net, *len))
                .map(|(_, _, r)| *r)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return special_range(IpAddr::V4(v4));
            }
            let bits = u128::from(v6);
            V6.iter()
                .find(|(net, len, _)| in_v6(bits, *net, *len))
                .map(|(_, _, r)| *r)
                .or_else(|| (!in_v6(bits, 0x2000 << 112, 3)).then_some(range("reserved", false)))
        }
    }
}

/// Why a target URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not an absolute `http(s)` URL with a host, of at most [`MAX_URL_BYTES`].
    #[error("an http(s) URL with a host, of at most {MAX_URL_BYTES} characters")]
    InvalidUrl,
    /// A host or address CJaaS does not call.
    #[error("{0}")]
    Forbidden(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidUrl => "invalid_url",
            Refusal::Forbidden(_) => "forbidden_target",
        }
    }
}

/// Parses a target URL: absolute `http` or `https`, with a host, no whitespace.
pub fn parse(raw: &str) -> Result<Url, Refusal> {
    if raw.len() > MAX_URL_BYTES || raw.chars().any(char::is_whitespace) {
        return Err(Refusal::InvalidUrl);
    }
    let url = Url::parse(raw).map_err(|_| Refusal::InvalidUrl)?;
    match (url.scheme(), url.host_str()) {
        ("http" | "https", Some(host)) if !host.is_empty() => Ok(url),
        _ => Err(Refusal::InvalidUrl),
    }
}

/// `localhost` and every name under it (RFC 6761), with or without a final dot.
fn is_localhost(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Denied {
    Name(String),
    Ip(IpAddr),
}

/// What CJaaS may call. The default refuses every private and special target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    allow_private: bool,
    denied: Vec<Denied>,
}

impl TargetPolicy {
    /// Public targets only: the default.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Also loopback, `localhost` and private networks: for development receivers.
    pub fn allowing_private() -> Self {
        Self {
            allow_private: true,
            denied: Vec::new(),
        }
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Refuses `host_and_port` (e.g. `127.0.0.1:9001`, the Lambda runtime API) on any
    /// port, whatever the private-targets switch says.
    pub fn deny_host(mut self, host_and_port: &str) -> Self {
        let parsed = Url::parse(&format!("http://{host_and_port}/"));
        match parsed.as_ref().ok().and_then(Url::host) {
            Some(Host::Ipv4(ip)) => self.denied.push(Denied::Ip(ip.into())),
            Some(Host::Ipv6(ip)) => self.denied.push(Denied::Ip(ip.into())),
            Some(Host::Domain(name)) => self.denied.push(Denied::Name(
                name.trim_end_matches('.').to_ascii_lowercase(),
            )),
            None => {}
        }
        self
    }

    /// Checks a resolved (or literal) address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.denied.contains(&Denied::Ip(ip)) {
            return Err(Refusal::Forbidden(format!(
                "{ip} is a host CJaaS never calls"
            )));
        }
        match special_range(ip) {
            Some(range) if !(range.private && self.allow_private) => {
                Err(Refusal::Forbidden(format!(
                    "{ip} is a {} address; CJaaS calls public addresses only",
                    range.name
                )))
            }
            _ => Ok(()),
        }
    }

    /// Checks a URL without resolving it: its form, a literal address, `localhost`
    /// names and denied hosts. A host name's addresses are checked at delivery.
    pub fn check_url(&self, raw: &str) -> Result<Url, Refusal> {
        let url = parse(raw)?;
        match url.host() {
            Some(Host::Ipv4(ip)) => self.check_ip(ip.into())?,
            Some(Host::Ipv6(ip)) => self.check_ip(ip.into())?,
            Some(Host::Domain(name)) => self.check_name(name)?,
            None => return Err(Refusal::InvalidUrl),
        }
        Ok(url)
    }

    fn check_name(&self, name: &str) -> Result<(), Refusal> {
        let bare = name.trim_end_matches('.').to_ascii_lowercase();
        if self.denied.contains(&Denied::Name(bare)) {
            return Err(Refusal::Forbidden(format!(
                "{name} is a host CJaaS never calls"
            )));
        }
        if is_localhost(name) && !self.allow_private {
            return Err(Refusal::Forbidden(format!(
                "{name} is this machine; CJaaS calls public addresses only"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_judged_as_their_table_says() {
        // (address, refused with the switch off, refused with it on)
        let cases: &[(&str, bool, bool)] = &[
            ("8.8.8.8", false, false),
            ("1.1.1.1", false, false),
            ("172.15.255.255", false, false),
            ("172.32.0.0", false, false),
            ("100.63.255.255", false, false),
            ("100.128.0.0", false, false),
            ("169.253.255.255", false, false),
            ("127.0.0.1", true, false),
            ("127.255.255.254", true, false),
            ("10.1.2.3", true, false),
            ("172.16.0.1", true, false),
            ("172.31.255.255", true, false),
            ("192.168.1.1", true, false),
            ("100.64.0.1", true, false),
            ("100.127.255.255", true, false),
            ("169.254.169.254", true, true),
            ("169.254.170.2", true, true),
            ("0.0.0.0", true, true),
            ("0.1.2.3", true, true),
            ("255.255.255.255", true, true),
            ("224.0.0.1", true, true),
            ("239.255.255.250", true, true),
            ("240.0.0.1", true, true),
            ("192.0.0.8", true, true),
            ("192.0.2.10", true, true),
            ("198.18.0.1", true, true),
            ("198.19.255.255", true, true),
            ("198.51.100.7", true, true),
            ("203.0.113.9", true, true),
            ("2606:4700:4700::1111", false, false),
            ("2a00:1450:4001::200e", false, false),
            ("::1", true, false),
            ("::", true, true),
            ("fc00::1", true, false),
            ("fd00:ec2::254", true, false),
            ("fe80::1", true, true),
            ("fec0::1", true, true),
            ("ff02::1", true, true),
            ("2001:db8::1", true, true),
            ("2001::1", true, true),
            ("100::1", true, true),
            ("3fff::1", true, true),
            ("4000::1", true, true),
            ("::ffff:127.0.0.1", true, false),
            ("::ffff:169.254.169.254", true, true),
            ("::ffff:10.0.0.1", true, false),
            ("::ffff:8.8.8.8", false, false),
            ("::ffff:0:127.0.0.1", true, false),
            ("::127.0.0.1", true, false),
            ("::169.254.169.254", true, true),
            ("::8.8.8.8", false, false),
            ("64:ff9b::127.0.0.1", true, false),
            ("64:ff9b::a9fe:a9fe", true, true),
            ("64:ff9b::8.8.8.8", false, false),
            ("64:ff9b:1::1", true, true),
            ("2002:7f00:1::", true, false),
            ("2002:a9fe:a9fe::1", true, true),
            ("2002:0808:0808::1", false, false),
        ];
        let off = TargetPolicy::public_only();
        let on = TargetPolicy::allowing_private();
        for (raw, refused_off, refused_on) in cases {
            let ip: IpAddr = raw.parse().unwrap();
            assert_eq!(
                off.check_ip(ip).is_err(),
                *refused_off,
                "{raw} (switch off)"
            );
            assert_eq!(on.check_ip(ip).is_err(), *refused_on, "{raw} (switch on)");
        }
    }

    #[test]
    fn urls_are_judged_before_any_lookup() {
        // (URL, code with the switch off, code with it on)
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("https://hooks.example.com/a?b=c", None, None),
            ("http://93.184.216.34:8080/x", None, None),
            ("http://[2606:4700::1]/x", None, None),
            ("http://127.0.0.1:9000/hook", Some("forbidden_target"), None),
            ("http://2130706433/", Some("forbidden_target"), None),
            ("http://0x7f.1/", Some("forbidden_target"), None),
            ("http://017700000001/", Some("forbidden_target"), None),
            ("http://127.1/", Some("forbidden_target"), None),
            ("http://[::1]:8080/", Some("forbidden_target"), None),
            ("http://[::ffff:127.0.0.1]/", Some("forbidden_target"), None),
            ("http://[::ffff:7f00:1]/", Some("forbidden_target"), None),
            ("http://localhost:8080/", Some("forbidden_target"), None),
            ("http://LOCALHOST./", Some("forbidden_target"), None),
            ("http://api.localhost/", Some("forbidden_target"), None),
            ("http://evil.com@127.0.0.1/", Some("forbidden_target"), None),
            ("http://10.0.0.5/", Some("forbidden_target"), None),
            (
                "http://169.254.169.254/latest/meta-data/",
                Some("forbidden_target"),
                Some("forbidden_target"),
            ),
            ("http://[fd00:ec2::254]/", Some("forbidden_target"), None),
            (
                "http://0.0.0.0:80/",
                Some("forbidden_target"),
                Some("forbidden_target"),
            ),
            (
                "http://[fe80::1]/",
                Some("forbidden_target"),
                Some("forbidden_target"),
            ),
            (
                "ftp://example.com/",
                Some("invalid_url"),
                Some("invalid_url"),
            ),
            (
                "file:///etc/passwd",
                Some("invalid_url"),
                Some("invalid_url"),
            ),
            (
                "gopher://127.0.0.1/",
                Some("invalid_url"),
                Some("invalid_url"),
            ),
            ("https://", Some("invalid_url"), Some("invalid_url")),
            (
                "hooks.example.com/a",
                Some("invalid_url"),
                Some("invalid_url"),
            ),
            ("https://a b.com/", Some("invalid_url"), Some("invalid_url")),
        ];
        let off = TargetPolicy::public_only();
        let on = TargetPolicy::allowing_private();
        for (raw, code_off, code_on) in cases {
            let got_off = off.check_url(raw).err().map(|r| r.code());
            let got_on = on.check_url(raw).err().map(|r| r.code());
            assert_eq!((got_off, got_on), (*code_off, *code_on), "{raw}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(off.check_url(&long), Err(Refusal::InvalidUrl));
    }

    #[test]
    fn denied_hosts_are_refused_even_with_private_targets_allowed() {
        let policy = TargetPolicy::allowing_private()
            .deny_host("127.0.0.1:9001")
            .deny_host("runtime.internal:9001");
        for url in [
            "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            "http://127.0.0.1:80/",
            "http://[::ffff:127.0.0.1]:9001/",
            "http://Runtime.Internal./x",
        ] {
            assert_eq!(
                policy.check_url(url).map_err(|r| r.code()),
                Err("forbidden_target"),
                "{url}"
            );
        }
        assert!(policy.check_ip("127.0.0.1".parse().unwrap()).is_err());
        assert!(policy.check_ip("127.0.0.2".parse().unwrap()).is_ok());
        assert!(policy.check_url("http://127.0.0.2:9001/").is_ok());
    }
}
