//! From facts to judgements: indicators, area scores, tiers, ranks and
//! their bootstrap intervals ([`scoring`]), the period and rules as
//! literals the optimizer sees ([`constants`]), the inspection plan and
//! evidence ([`plan`]), alerts ([`alerts`]), why a score moved
//! ([`explain`]), data-quality feedback to the provinces ([`feedback`]),
//! and the Ballista cluster these queries may run on ([`cluster`]).

pub mod alerts;
pub mod cluster;
pub mod constants;
pub mod explain;
pub mod feedback;
pub mod kept;
pub mod plan;
pub mod scoring;
