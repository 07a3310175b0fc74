//! CJaaS application services and HTTP routes. Everything here is generic over the
//! ports in [`cjaas_core::ports`]: the Lambda binaries plug in AWS adapters, the local
//! server the embedded store.

pub mod actions;
pub mod admin;
pub mod analytics;
pub mod archive;
pub mod audiences;
pub mod auth;
pub mod browser;
pub mod dead_letters;
pub mod decode_only;
pub mod deliveries;
mod documents;
pub mod erasure;
pub mod failure;
pub mod forwarding;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod orchestration;
pub mod profiles;
pub mod tape_pages;
pub mod targets;
pub mod tombstones;
pub mod tracking;
pub mod wiring;
pub mod writer;
