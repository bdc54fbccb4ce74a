//! (temporary rules, replaced by the full implementation)
use chrono::NaiveDate;

use crate::calendar::WorkingHours;

#[derive(Debug, Clone)]
pub struct Rules;

impl Rules {
    pub fn bundled() -> Rules {
        Rules
    }
    pub fn working_hours(&self) -> WorkingHours {
        WorkingHours::default()
    }
    pub fn weight(&self, id: &str) -> f64 {
        match id {
            "r1_head_reception" => 0.7,
            "r2_head_share" => 0.3,
            "d1_acceptance_on_time" => 0.25,
            "d2_settlement_on_time" => 0.40,
            "d3_vssid_response" => 0.15,
            "d4_backlog_health" => 0.20,
            "e1_entry_coverage" | "e2_entry_timeliness" => 0.3,
            "e3_record_completeness" => 0.2,
            "e4_account_coverage" | "e5_account_hygiene" => 0.1,
            _ => 0.0,
        }
    }
    pub fn composite_min_areas(&self) -> usize {
        2
    }
    pub fn tier_thresholds(&self) -> [f64; 3] {
        [85.0, 70.0, 50.0]
    }
    pub fn bootstrap_settings(&self) -> (usize, u64, f64, f64) {
        (1000, 20250701, 5.0, 95.0)
    }
    pub fn coverage_from(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 1, 1).unwrap()
    }
    pub fn stale_account_window_days(&self) -> (i64, i64) {
        (30, 395)
    }
    pub fn sql_limits(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("acceptance_complaint_wd", 10),
            ("acceptance_denunciation_wd", 7),
            ("response_wd", 10),
            ("complaint1_days", 30),
            ("complaint1_complex_days", 45),
            ("complaint1_remote_days", 45),
            ("complaint1_remote_complex_days", 60),
            ("complaint2_days", 45),
            ("complaint2_complex_days", 60),
            ("complaint2_remote_days", 60),
            ("complaint2_remote_complex_days", 70),
            ("denunciation_days", 30),
            ("denunciation_extension_days", 30),
            ("denunciation_max_ext_normal", 0),
            ("denunciation_max_ext_complex", 1),
            ("denunciation_max_ext_especially_complex", 2),
            ("vssid_response_seconds", 3600),
            ("entry_max_working_days", 1),
            ("repeat_window_micros", 365 * 86_400 * 1_000_000),
        ]
    }
}
