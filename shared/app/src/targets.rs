//! The delivery side of the target policy (`cjaas_core::target`): webhook and
//! enrichment calls reach public addresses only, checked after DNS resolution.
//!
//! - **Literal hosts** (`http://127.0.0.1/`, `http://[::ffff:a9fe:a9fe]/`) are never
//!   resolved, so [`checked_url`] judges them (and `localhost` names) before sending.
//! - **Host names** resolve through [`GuardedResolver`]: forbidden addresses are
//!   dropped, and a name left with none is refused. The connection goes only to the
//!   addresses that passed, so a name that answers differently the second time (DNS
//!   rebinding) gains nothing.
//! - **Redirects are not followed** (a 3xx answer is a failed call), and no proxy
//!   is used, so nothing else decides where the request goes.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cjaas_core::target::{Refusal, TargetPolicy};

/// A target the policy refuses, found while resolving.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ForbiddenTarget(pub String);

/// Resolves with the system resolver and keeps only the addresses `policy` allows.
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<_>, Vec<_>) = found
                .into_iter()
                .partition(|addr| policy.check_ip(addr.ip()).is_ok());
            if allowed.is_empty() {
                if let Some(refused) = refused.first() {
                    let reason = policy.check_ip(refused.ip()).err().map(|r| r.to_string());
                    return Err(ForbiddenTarget(format!(
                        "{host} resolves to {}",
                        reason.unwrap_or_default()
                    ))
                    .into());
                }
            } else if !refused.is_empty() {
                tracing::warn!(%host, ?refused, "forbidden addresses of a target dropped");
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for tenants' URLs: guarded resolution, no redirects, no proxy.
pub fn guarded_client(policy: &TargetPolicy, timeout: Duration, agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(agent)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
        }))
        .build()
        .expect("an HTTP client")
}

/// The URL, if `policy` allows it before any lookup; else why not
/// (`forbidden_target: …`).
pub fn checked_url(policy: &TargetPolicy, url: &str) -> Result<reqwest::Url, String> {
    policy.check_url(url).map_err(|refusal| match refusal {
        Refusal::Forbidden(why) => format!("forbidden_target: {why}"),
        Refusal::InvalidUrl => format!("invalid_url: {refusal}"),
    })
}

/// Why a send failed, if the resolver refused its target (`forbidden_target: …`).
pub fn refused(error: &reqwest::Error) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(forbidden) = error.downcast_ref::<ForbiddenTarget>() {
            return Some(format!("forbidden_target: {forbidden}"));
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(policy: TargetPolicy, host: &str) -> Result<Vec<SocketAddr>, String> {
        let resolver = GuardedResolver { policy };
        let name: Name = host.parse().unwrap();
        match resolver.resolve(name).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn names_that_resolve_to_loopback_are_refused_unless_allowed() {
        let refused = resolve(TargetPolicy::public_only(), "localhost").await;
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("loopback")),
            "{refused:?}"
        );
        let allowed = resolve(TargetPolicy::allowing_private(), "localhost")
            .await
            .unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()) && !allowed.is_empty());
    }

    #[tokio::test]
    async fn a_refusal_is_found_inside_reqwest_errors() {
        let client = guarded_client(&TargetPolicy::public_only(), Duration::from_secs(5), "test");
        let error = client.get("http://localhost:9/").send().await.unwrap_err();
        let reason = refused(&error).expect("the resolver's refusal");
        assert!(
            reason.starts_with("forbidden_target: localhost resolves to"),
            "{reason}"
        );
    }
}
