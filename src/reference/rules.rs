//! The rules file: every deadline, window, weight and threshold of the
//! methodology (sections 4–9), each limit with its legal source.
//!
//! The bundled `reference/rules.toml` is compiled in; `Rules::load` reads
//! an edited copy. Both are validated on load, so a broken file is refused
//! with the key at fault instead of producing wrong scores.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::reference::calendar::WorkingHours;

const BUNDLED: &str = include_str!("../../reference/rules.toml");

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the rules file is not valid TOML for vigil: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("rules file: {0}")]
    Invalid(String),
}

/// A number with the legal source it comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limit {
    pub value: i64,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkingHoursRule {
    pub morning: [String; 2],
    pub afternoon: [String; 2],
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deadlines {
    pub acceptance_complaint_working_days: Limit,
    pub acceptance_denunciation_working_days: Limit,
    pub response_working_days: Limit,
    pub complaint_round1_days: Limit,
    pub complaint_round1_complex_days: Limit,
    pub complaint_round1_remote_days: Limit,
    pub complaint_round1_remote_complex_days: Limit,
    pub complaint_round2_days: Limit,
    pub complaint_round2_complex_days: Limit,
    pub complaint_round2_remote_days: Limit,
    pub complaint_round2_remote_complex_days: Limit,
    pub denunciation_days: Limit,
    pub denunciation_extension_days: Limit,
    pub denunciation_max_extensions_normal: Limit,
    pub denunciation_max_extensions_complex: Limit,
    pub denunciation_max_extensions_especially_complex: Limit,
    pub vssid_response_working_minutes: Limit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataEntry {
    pub entry_max_working_days: Limit,
    pub stale_account_min_days: Limit,
    pub stale_account_max_days: Limit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Monitoring {
    pub repeat_window_days: Limit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Weights {
    #[serde(default)]
    pub source: String,
    pub reception: BTreeMap<String, f64>,
    pub deadlines: BTreeMap<String, f64>,
    pub data_entry: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Composite {
    pub min_areas: Limit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tiers {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    pub replicates: usize,
    pub seed: u64,
    pub lo_percentile: f64,
    pub hi_percentile: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Funnel {
    pub z_inner: f64,
    pub z_outer: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    #[serde(default)]
    pub source: String,
    pub weight_composite: f64,
    pub weight_decline: f64,
    pub weight_backlog: f64,
    pub weight_recency: f64,
    pub decline_points: f64,
    pub recency_months: f64,
    pub capacity: usize,
    pub eligibility_months: u32,
    pub override_risk: f64,
}

/// The whole rules file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rules {
    pub coverage_from: String,
    pub working_hours: WorkingHoursRule,
    pub deadlines: Deadlines,
    pub data_entry: DataEntry,
    pub monitoring: Monitoring,
    pub weights: Weights,
    pub composite: Composite,
    pub tiers: Tiers,
    pub bootstrap: Bootstrap,
    pub funnel: Funnel,
    pub plan: Plan,
    /// How results are shown (never how they are computed).
    #[serde(default)]
    pub presentation: Presentation,
}

/// Presentation only: the scores do not depend on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presentation {
    /// A rate resting on fewer records than this is marked "few cases",
    /// with its 95 % Wilson interval.
    pub few_cases: i64,
    #[serde(default)]
    pub source: String,
}

impl Default for Presentation {
    fn default() -> Presentation {
        Presentation {
            few_cases: 10,
            source: String::new(),
        }
    }
}

fn time(s: &str, key: &str) -> Result<NaiveTime, RulesError> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| RulesError::Invalid(format!("{key}: '{s}' is not a time HH:MM")))
}

impl Rules {
    /// The rules compiled into the binary.
    pub fn bundled() -> Rules {
        Rules::from_toml_str(BUNDLED).expect("the bundled rules file is valid")
    }

    pub fn from_toml_str(text: &str) -> Result<Rules, RulesError> {
        let rules: Rules = toml::from_str(text)?;
        rules.validate()?;
        Ok(rules)
    }

    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Rules::from_toml_str(&text)
    }

    fn validate(&self) -> Result<(), RulesError> {
        let bad = |m: String| Err(RulesError::Invalid(m));
        if crate::reference::dates::parse_date(&self.coverage_from).is_none() {
            return bad(format!(
                "coverage_from '{}' is not a date YYYY-MM-DD",
                self.coverage_from
            ));
        }
        let h = &self.working_hours;
        let times = [
            time(&h.morning[0], "working_hours.morning")?,
            time(&h.morning[1], "working_hours.morning")?,
            time(&h.afternoon[0], "working_hours.afternoon")?,
            time(&h.afternoon[1], "working_hours.afternoon")?,
        ];
        if !times.windows(2).all(|w| w[0] < w[1]) {
            return bad(
                "working_hours: morning and afternoon must be ordered and not overlap".into(),
            );
        }
        for (area, weights, expected) in [
            (
                "weights.reception",
                &self.weights.reception,
                &["r1_head_reception", "r2_head_share"][..],
            ),
            (
                "weights.deadlines",
                &self.weights.deadlines,
                &[
                    "d1_acceptance_on_time",
                    "d2_settlement_on_time",
                    "d3_vssid_response",
                    "d4_backlog_health",
                ][..],
            ),
            (
                "weights.data_entry",
                &self.weights.data_entry,
                &[
                    "e1_entry_coverage",
                    "e2_entry_timeliness",
                    "e3_record_completeness",
                    "e4_account_coverage",
                    "e5_account_hygiene",
                ][..],
            ),
        ] {
            let names: Vec<&str> = weights.keys().map(String::as_str).collect();
            let mut want = expected.to_vec();
            want.sort_unstable();
            if names != want {
                return bad(format!(
                    "{area} must give a weight to exactly {}",
                    expected.join(", ")
                ));
            }
            if weights.values().any(|w| w.is_nan() || *w < 0.0) {
                return bad(format!("{area}: weights must be non-negative numbers"));
            }
            let sum: f64 = weights.values().sum();
            if (sum - 1.0).abs() > 1e-9 {
                return bad(format!("{area}: weights sum to {sum}, not 1"));
            }
        }
        let t = &self.tiers;
        if !(t.a > t.b && t.b > t.c) {
            return bad("tiers: a > b > c is required".into());
        }
        let b = &self.bootstrap;
        if b.replicates == 0 {
            return bad("bootstrap.replicates must be positive".into());
        }
        if !(0.0..=100.0).contains(&b.lo_percentile)
            || !(0.0..=100.0).contains(&b.hi_percentile)
            || b.lo_percentile >= b.hi_percentile
        {
            return bad("bootstrap: 0 ≤ lo_percentile < hi_percentile ≤ 100 is required".into());
        }
        let d = &self.deadlines;
        for (key, l) in [
            (
                "deadlines.acceptance_complaint_working_days",
                &d.acceptance_complaint_working_days,
            ),
            (
                "deadlines.acceptance_denunciation_working_days",
                &d.acceptance_denunciation_working_days,
            ),
            ("deadlines.response_working_days", &d.response_working_days),
            ("deadlines.denunciation_days", &d.denunciation_days),
            (
                "deadlines.vssid_response_working_minutes",
                &d.vssid_response_working_minutes,
            ),
            (
                "data_entry.stale_account_min_days",
                &self.data_entry.stale_account_min_days,
            ),
            ("composite.min_areas", &self.composite.min_areas),
        ] {
            if l.value <= 0 {
                return bad(format!("{key} must be positive"));
            }
        }
        if self.data_entry.stale_account_min_days.value
            >= self.data_entry.stale_account_max_days.value
        {
            return bad(
                "data_entry: stale_account_min_days must be below stale_account_max_days".into(),
            );
        }
        if self.composite.min_areas.value > 3 {
            return bad("composite.min_areas cannot exceed the 3 areas".into());
        }
        Ok(())
    }

    /// The shipped calendar of working days with these rules' working
    /// hours: what scoring, the facts and every node of a cluster count in.
    pub fn shipped_calendar(&self) -> crate::reference::calendar::Calendar {
        crate::reference::calendar::Calendar::bundled().with_hours(self.working_hours())
    }

    pub fn working_hours(&self) -> WorkingHours {
        let h = &self.working_hours;
        let t = |s: &str| time(s, "working_hours").expect("validated");
        WorkingHours {
            morning: (t(&h.morning[0]), t(&h.morning[1])),
            afternoon: (t(&h.afternoon[0]), t(&h.afternoon[1])),
        }
    }

    pub fn coverage_from(&self) -> NaiveDate {
        crate::reference::dates::parse_date(&self.coverage_from).expect("validated")
    }

    /// The weight of an indicator in its area (0 for monitoring indicators).
    pub fn weight(&self, indicator: &str) -> f64 {
        let w = &self.weights;
        w.reception
            .get(indicator)
            .or_else(|| w.deadlines.get(indicator))
            .or_else(|| w.data_entry.get(indicator))
            .copied()
            .unwrap_or(0.0)
    }

    pub fn composite_min_areas(&self) -> usize {
        self.composite.min_areas.value as usize
    }

    pub fn tier_thresholds(&self) -> [f64; 3] {
        [self.tiers.a, self.tiers.b, self.tiers.c]
    }

    /// Replicates, seed, low and high percentiles.
    pub fn bootstrap_settings(&self) -> (usize, u64, f64, f64) {
        let b = &self.bootstrap;
        (b.replicates, b.seed, b.lo_percentile, b.hi_percentile)
    }

    /// The e5 window: (min, max) days before pe'.
    pub fn stale_account_window_days(&self) -> (i64, i64) {
        (
            self.data_entry.stale_account_min_days.value,
            self.data_entry.stale_account_max_days.value,
        )
    }

    /// The one-row table `rules`: every limit the SQL uses.
    pub fn sql_table(&self) -> anyhow::Result<datafusion::datasource::MemTable> {
        use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let values = self.sql_limits();
        let schema = std::sync::Arc::new(Schema::new(
            values
                .iter()
                .map(|(name, _)| Field::new(*name, DataType::Int64, false))
                .collect::<Vec<_>>(),
        ));
        let columns: Vec<ArrayRef> = values
            .iter()
            .map(|(_, v)| std::sync::Arc::new(Int64Array::from(vec![*v])) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(datafusion::datasource::MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)
    }

    /// The limits the SQL reads from the one-row table `rules`.
    pub fn sql_limits(&self) -> Vec<(&'static str, i64)> {
        let d = &self.deadlines;
        vec![
            (
                "acceptance_complaint_wd",
                d.acceptance_complaint_working_days.value,
            ),
            (
                "acceptance_denunciation_wd",
                d.acceptance_denunciation_working_days.value,
            ),
            ("response_wd", d.response_working_days.value),
            ("complaint1_days", d.complaint_round1_days.value),
            (
                "complaint1_complex_days",
                d.complaint_round1_complex_days.value,
            ),
            (
                "complaint1_remote_days",
                d.complaint_round1_remote_days.value,
            ),
            (
                "complaint1_remote_complex_days",
                d.complaint_round1_remote_complex_days.value,
            ),
            ("complaint2_days", d.complaint_round2_days.value),
            (
                "complaint2_complex_days",
                d.complaint_round2_complex_days.value,
            ),
            (
                "complaint2_remote_days",
                d.complaint_round2_remote_days.value,
            ),
            (
                "complaint2_remote_complex_days",
                d.complaint_round2_remote_complex_days.value,
            ),
            ("denunciation_days", d.denunciation_days.value),
            (
                "denunciation_extension_days",
                d.denunciation_extension_days.value,
            ),
            (
                "denunciation_max_ext_normal",
                d.denunciation_max_extensions_normal.value,
            ),
            (
                "denunciation_max_ext_complex",
                d.denunciation_max_extensions_complex.value,
            ),
            (
                "denunciation_max_ext_especially_complex",
                d.denunciation_max_extensions_especially_complex.value,
            ),
            (
                "vssid_response_seconds",
                d.vssid_response_working_minutes.value * 60,
            ),
            (
                "entry_max_working_days",
                self.data_entry.entry_max_working_days.value,
            ),
            (
                "repeat_window_micros",
                self.monitoring.repeat_window_days.value * 86_400 * 1_000_000,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_rules_load_and_carry_sources() {
        let r = Rules::bundled();
        assert_eq!(r.deadlines.complaint_round2_remote_complex_days.value, 70);
        assert!(
            r.deadlines
                .complaint_round2_remote_complex_days
                .source
                .contains("Art. 37")
        );
        assert_eq!(r.weight("d2_settlement_on_time"), 0.40);
        assert_eq!(r.weight("x1_repeat_requests"), 0.0);
        assert_eq!(r.coverage_from().to_string(), "2022-01-01");
        assert_eq!(r.plan.capacity, 6);
    }

    #[test]
    fn a_broken_weight_sum_is_refused_with_its_area() {
        let text = BUNDLED.replace("r2_head_share = 0.3", "r2_head_share = 0.4");
        let err = Rules::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("weights.reception"), "{err}");
        let text = BUNDLED.replace("a = 85.0", "a = 60.0");
        assert!(
            Rules::from_toml_str(&text)
                .unwrap_err()
                .to_string()
                .contains("tiers")
        );
        let text = BUNDLED.replace(
            "morning = [\"08:00\", \"12:00\"]",
            "morning = [\"08:00\", \"14:00\"]",
        );
        assert!(
            Rules::from_toml_str(&text)
                .unwrap_err()
                .to_string()
                .contains("working_hours")
        );
    }
}
