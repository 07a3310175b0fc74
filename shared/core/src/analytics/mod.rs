//! Journey analytics: where journeys break.
//!
//! A person's events in one window are folded, in Tape order, into a [`Tally`]:
//! counts by type, transitions, sessions with their entry and exit points, the first
//! steps of each session (paths) and funnel progress. Tallies add up, so a tenant's
//! figures are the sum of its persons' tallies, and a person's tally only changes when
//! their Tape changes or one of their events leaves a window ([`PersonDigest`]).
//! [`Tally::report`] turns a sum into what the API serves. The exact definitions are
//! in `docs/ANALYTICS.md`; the tests check them against SQL.
//!
//! The parts: `settings` (settings, funnels and their validation), `tallies` (the
//! additive figures), `fold` (one person's fold), `digest` (a person's digest and its
//! binary stored form), `sums` (a tenant's sums by id over a run) and `reports` (what
//! the API serves).

mod digest;
mod fold;
mod reports;
mod settings;
mod sums;
mod tallies;
#[cfg(test)]
mod tests;

pub use digest::{body_of, PersonDigest};
pub use fold::{windows_at, PersonFold, Step, StoredDigest, WindowBounds};
pub use reports::{
    lower_median, FunnelReport, FunnelStepReport, PathReport, PointReport, Transition, TypeReport,
    WindowReport,
};
pub use settings::*;
pub use sums::Sums;
pub use tallies::{FunnelTally, Tally, TypeTally};

use crate::ids::TenantId;

/// Where analytics keeps its documents (all under the tenant):
///
/// | document        | `pk`                     | `sk`                |
/// |-----------------|--------------------------|---------------------|
/// | settings        | `T#{tenant}#ANALYTICS`   | `SETTINGS`          |
/// | job state       | `T#{tenant}#ANALYTICS`   | `JOB`               |
/// | run request     | `T#{tenant}#ANALYTICS`   | `REQUEST`           |
/// | window report   | `T#{tenant}#ANALYTICS`   | `REPORT#{window}`   |
/// | funnel          | `T#{tenant}#FUNNELS`     | `{funnel id}`       |
/// | person digest   | `T#{tenant}#ADIGEST`     | `{person}`          |
pub mod keys {
    use super::*;

    pub fn analytics(tenant: &TenantId) -> String {
        format!("T#{tenant}#ANALYTICS")
    }
    pub const SETTINGS: &str = "SETTINGS";
    pub const JOB: &str = "JOB";
    /// The tenant's type dictionary: the names digests of format 4 give by id.
    pub const TYPES: &str = "TYPES";
    pub const REQUEST: &str = "REQUEST";
    pub fn report(window: &str) -> String {
        format!("REPORT#{window}")
    }
    pub fn funnels(tenant: &TenantId) -> String {
        format!("T#{tenant}#FUNNELS")
    }
    pub fn digests(tenant: &TenantId) -> String {
        format!("T#{tenant}#ADIGEST")
    }
}
