//! One id scheme for every resource a tenant names in a path: views, rules, funnels
//! and erasure jobs. New ids are `{kind}-` and ten random characters that read
//! unambiguously; ids a client chose (a view's) follow the same syntax.

use rand::Rng;

/// The kinds of resource, each with its id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    View,
    Rule,
    Funnel,
    Erasure,
    Backtest,
}

impl ResourceKind {
    pub fn prefix(self) -> &'static str {
        match self {
            ResourceKind::View => "view",
            ResourceKind::Rule => "rule",
            ResourceKind::Funnel => "funnel",
            ResourceKind::Erasure => "erasure",
            ResourceKind::Backtest => "backtest",
        }
    }

    /// A new id of this kind.
    pub fn new_id(self) -> String {
        new_id(self.prefix())
    }
}

/// 1 to 64 bytes of lowercase ASCII letters, digits, `-` and `_`: safe in a path and
/// inside a store key (never `#`).
pub fn valid(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `{prefix}-` and ten random characters that read unambiguously.
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_makes_valid_ids_with_its_prefix() {
        for kind in [
            ResourceKind::View,
            ResourceKind::Rule,
            ResourceKind::Funnel,
            ResourceKind::Erasure,
            ResourceKind::Backtest,
        ] {
            let id = kind.new_id();
            assert!(
                valid(&id) && id.starts_with(&format!("{}-", kind.prefix())),
                "{id}"
            );
        }
        for bad in ["", "A", "a#b", "a b", "é", &"a".repeat(65)] {
            assert!(!valid(bad), "{bad}");
        }
    }
}
