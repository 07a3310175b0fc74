//! The CJaaS domain, in plain Rust: no AWS crate and no I/O.
//!
//! - [`analytics`]: journey analytics: sessions, transitions, drop-off, funnels, paths.
//! - [`ids`]: tenant and person ids, validated once at the edge.
//! - [`event`]: CloudEvents ingest validation (structured, binary and batch mode).
//! - [`tape`]: the Tape's key design and the journey query.
//! - [`projection`]: the lean per-entry projection analytics reads.
//! - [`archive`]: the S3 archive's layout and format (gzip NDJSON).
//! - [`erasure`]: erasure jobs (GDPR) and their audit records.
//! - [`forwarding`]: copying archived events on to destinations a tenant owns.
//! - [`auth`]: scopes, API keys, signed short-lived tokens and record stamps.
//! - [`browser`]: publishable keys: allowed origins and rate-limit windows.
//! - [`envelope`]: what travels on the event stream between ingest and the Tape.
//! - [`view`]: view definitions, validated and compiled (CEL for computed attributes).
//! - [`fold`]: folding a Tape into a profile, in event time.
//! - [`profile`]: what profiles keep besides the Tape: views, aliases, snapshots.
//! - [`rules`]: orchestration rules: conditions, absence timers, actions.
//! - [`audience`]: audiences: a condition over events and profiles, held over time.
//! - [`target`]: which webhook and enrichment URLs CJaaS may call (no SSRF).
//! - [`deliveries`], [`dead_letters`]: the per-rule delivery log and what tenants see of
//!   dead letters.
//! - [`segment`]: the Segment HTTP Tracking API mapped onto CloudEvents.
//! - [`ports`]: the small traits the adapters implement.

pub mod analytics;
pub mod archive;
pub mod audience;
pub mod auth;
pub mod browser;
pub mod dead_letters;
pub mod deliveries;
pub mod envelope;
pub mod erasure;
pub mod event;
pub mod filter;
pub mod fold;
pub mod forwarding;
pub mod ids;
mod jwt;
pub mod ports;
pub mod problem;
pub mod profile;
pub mod projection;
pub mod resource_id;
pub mod rules;
pub mod segment;
pub mod tape;
pub mod target;
pub mod type_ids;
pub mod view;
pub mod window;
