//! The risk-based responsibility-inspection plan and the evidence packs
//! (METHODOLOGY section 9).
//!
//! The risk of each province comes from the scores of the quarter before
//! the planning quarter (P) and the one before that (P−1), the backlog
//! indicator d4 of P, and the time since its last responsibility
//! inspection. The counting behind the evidence is SQL in
//! `queries/evidence/`, written against the same views as the indicators
//! so that every list recounts an indicator's numerator or denominator.
//!
//! Readings chosen where section 9 is silent (also in docs/plan.md):
//! - "months since" the last inspection are whole calendar months from its
//!   start to the first day of Q (a month not yet complete does not count);
//!   "less than 12 months before Q" is fewer than 12 such months.
//! - Every responsibility inspection known at the as-of date counts, also
//!   one that started inside Q (0 months): a province inspected last week
//!   is not planned again unless its risk reaches the override.
//! - Ties on risk (to 1e-9): lower composite first, a province without a
//!   composite after those with one, then province code.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use crate::present::i18n::{self, Lang};
use crate::present::table::{Cell, Table};
use crate::score::scoring::{Engine, Period, PeriodKind, Scores};

/// One named query of `queries/plan/` or `queries/evidence/`.
macro_rules! sql {
    ($path:literal) => {
        include_str!(concat!("../../queries/", $path, ".sql"))
    };
}

const LAST_INSPECTION: &str = sql!("plan/last_inspection");
pub const INSPECTION_HISTORY: &str = sql!("plan/inspection_history");

/// The lists of an evidence pack: (id, query).
pub const EVIDENCE: [(&str, &str); 5] = [
    ("overdue_cases", sql!("evidence/overdue_cases")),
    ("head_reception_gaps", sql!("evidence/head_reception_gaps")),
    ("stale_accounts", sql!("evidence/stale_accounts")),
    ("entry_gaps", sql!("evidence/entry_gaps")),
    ("repeat_requesters", sql!("evidence/repeat_requesters")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In the plan.
    Chosen,
    /// Eligible, next in line after the cut.
    MissedCut,
    /// Eligible, further down.
    Eligible,
    /// Inspected less than 12 months before the quarter, risk below the
    /// override.
    Excluded,
}

/// One province's risk and what it is made of.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub province_code: String,
    pub province_name: String,
    pub status: Status,
    /// Position in the plan (1-based) for chosen provinces.
    pub order: Option<usize>,
    pub risk: f64,
    /// Weighted terms: low composite, decline, backlog, time since the last
    /// inspection (each already multiplied by its weight; a missing term is
    /// 0 and named in `missing_terms`).
    pub term_composite: f64,
    pub term_decline: f64,
    pub term_backlog: f64,
    pub term_recency: f64,
    pub missing_terms: Vec<&'static str>,
    pub composite: Option<f64>,
    pub tier: String,
    pub previous_composite: Option<f64>,
    pub d4: Option<f64>,
    /// d4's numerator and denominator (open settlements not overdue, open).
    pub d4_counts: (i64, i64),
    pub last_inspection: Option<String>,
    pub months_since_inspection: Option<i64>,
    /// Inspected less than 12 months before Q.
    pub recently_inspected: bool,
    /// Recently inspected but eligible because risk ≥ the override.
    pub override_applied: bool,
    pub reasons_vi: Vec<String>,
    pub reasons_en: Vec<String>,
}

impl Candidate {
    pub fn reasons(&self, lang: Lang) -> &[String] {
        match lang {
            Lang::Vi => &self.reasons_vi,
            Lang::En => &self.reasons_en,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quarter: String,
    pub as_of: String,
    /// The quarter whose scores drive the risk (P) and the one before.
    pub scored_period: String,
    pub previous_period: String,
    pub capacity: usize,
    /// Every province: chosen first in plan order, then the others by risk.
    pub provinces: Vec<Candidate>,
}

impl Plan {
    pub fn chosen(&self) -> impl Iterator<Item = &Candidate> {
        self.provinces.iter().filter(|c| c.status == Status::Chosen)
    }
    pub fn with_status(&self, s: Status) -> impl Iterator<Item = &Candidate> {
        self.provinces.iter().filter(move |c| c.status == s)
    }
}

/// Whole calendar months from `from` to `to` (a month begun but not
/// completed does not count).
pub fn whole_months(from: NaiveDate, to: NaiveDate) -> i64 {
    let mut m = (to.year() - from.year()) as i64 * 12 + to.month() as i64 - from.month() as i64;
    if to.day() < from.day() {
        m -= 1;
    }
    m
}

fn clip01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// The quarter to plan: `2026-Q4`.
pub fn parse_quarter(s: &str) -> Result<Period> {
    let p = Period::parse(s)?;
    if p.kind != PeriodKind::Quarter {
        bail!("'{s}' is not a quarter: plans are made per quarter, e.g. 2026-Q4");
    }
    Ok(p)
}

/// A province's composite, tier, and d4 with its numerator and denominator.
type PlanScore = (Option<f64>, String, Option<f64>, (i64, i64));

fn score_in(scores: &Option<Scores>, code: &str) -> Option<PlanScore> {
    let s = scores.as_ref()?;
    let row = s.league.iter().find(|r| r.province_code == code)?;
    let d4 = row
        .indicators
        .iter()
        .find(|v| v.indicator == "d4_backlog_health");
    Some((
        row.composite,
        row.tier.clone(),
        d4.and_then(|v| v.value),
        d4.map_or((0, 0), |v| (v.numerator, v.denominator)),
    ))
}

async fn run(ctx: &SessionContext, sql: &str, params: Vec<(&str, ScalarValue)>) -> Result<Table> {
    let df = ctx.sql(sql).await?;
    let df = if params.is_empty() {
        df
    } else {
        df.with_param_values(params)?
    };
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await?;
    Table::from_batches(&schema, &batches)
}

impl Engine {
    /// Scores P and P−1 in `ctx` (as of `as_of`); P−1 may be missing.
    async fn plan_scores(
        &self,
        ctx: &SessionContext,
        p: &Period,
        as_of: NaiveDate,
    ) -> Result<(Scores, Option<Scores>)> {
        let score = |period: Period| async move {
            let (pe, indicators) = self.indicators(ctx, &period, as_of).await?;
            let league = self.league(&period, &indicators);
            Ok::<_, anyhow::Error>(Scores {
                period,
                as_of,
                effective_end: pe,
                indicators,
                league,
            })
        };
        let prev = score(p.previous()).await.ok();
        let current = score(p.clone())
            .await
            .with_context(|| format!("scoring {}, the quarter before the plan", p.label))?;
        Ok((current, prev))
    }

    /// The plan for a quarter as of a date (default: every extract).
    pub async fn plan(
        &self,
        quarter: &str,
        capacity: Option<usize>,
        as_of: Option<NaiveDate>,
    ) -> Result<Plan> {
        let q = parse_quarter(quarter)?;
        let capacity = capacity.unwrap_or(self.rules.plan.capacity);
        let (ctx, as_of) = self.context(as_of).await?;
        let p = q.previous();
        if p.start > as_of {
            bail!(
                "cannot plan {}: its scored quarter {} starts after the as-of date {as_of}",
                q.label,
                p.label
            );
        }
        let (current, prev) = self.plan_scores(&ctx, &p, as_of).await?;
        let prev = prev.filter(|s| s.league.iter().any(|r| r.composite.is_some()));
        let current = Some(current);
        let last = run(&ctx, LAST_INSPECTION, Vec::new()).await?;
        let mut last_by: BTreeMap<String, NaiveDate> = BTreeMap::new();
        for r in &last.rows {
            if let (Cell::Text(code), Cell::Date(d)) = (&r[0], &r[1]) {
                last_by.insert(code.clone(), *d);
            }
        }
        let rules = &self.rules.plan;
        let mut out = Vec::new();
        for prov in &self.reference.provinces {
            let code = prov.code.as_str();
            let (composite, tier, d4, d4_counts) =
                score_in(&current, code).unwrap_or((None, "insufficient".into(), None, (0, 0)));
            let previous_composite = score_in(&prev, code).and_then(|s| s.0);
            let mut missing = Vec::new();
            let term_composite = match composite {
                Some(c) => rules.weight_composite * (1.0 - c / 100.0),
                None => {
                    missing.push("composite");
                    0.0
                }
            };
            let term_decline = match (composite, previous_composite) {
                (Some(c), Some(pc)) => {
                    rules.weight_decline * clip01((pc - c) / rules.decline_points)
                }
                _ => {
                    missing.push("decline");
                    0.0
                }
            };
            let term_backlog = match d4 {
                Some(d) => rules.weight_backlog * (1.0 - d),
                None => {
                    missing.push("backlog");
                    0.0
                }
            };
            let last_inspection = last_by.get(code).copied();
            let months = last_inspection.map(|d| whole_months(d, q.start).max(0));
            let term_recency = rules.weight_recency
                * match months {
                    Some(m) => clip01(m as f64 / rules.recency_months),
                    None => 1.0,
                };
            let risk = term_composite + term_decline + term_backlog + term_recency;
            let recently = months.is_some_and(|m| m < rules.eligibility_months as i64);
            let override_applied = recently && risk >= rules.override_risk - 1e-12;
            out.push(Candidate {
                province_code: code.to_string(),
                province_name: prov.name_vi.clone(),
                status: if recently && !override_applied {
                    Status::Excluded
                } else {
                    Status::Eligible
                },
                order: None,
                risk,
                term_composite,
                term_decline,
                term_backlog,
                term_recency,
                missing_terms: missing,
                composite,
                tier,
                previous_composite,
                d4,
                d4_counts,
                last_inspection: last_inspection.map(|d| d.to_string()),
                months_since_inspection: months,
                recently_inspected: recently,
                override_applied,
                reasons_vi: Vec::new(),
                reasons_en: Vec::new(),
            });
        }
        // Highest risk first; ties: lower composite first (none last), then code.
        out.sort_by(|a, b| {
            let by_risk = if (a.risk - b.risk).abs() < 1e-9 {
                std::cmp::Ordering::Equal
            } else {
                b.risk.total_cmp(&a.risk)
            };
            by_risk
                .then_with(|| match (a.composite, b.composite) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                })
                .then_with(|| a.province_code.cmp(&b.province_code))
        });
        let mut n = 0;
        let mut missed = 0;
        for c in out.iter_mut().filter(|c| c.status == Status::Eligible) {
            if n < capacity {
                n += 1;
                c.status = Status::Chosen;
                c.order = Some(n);
            } else if missed < 3 {
                missed += 1;
                c.status = Status::MissedCut;
            }
        }
        let cut = out
            .iter()
            .filter(|c| c.status == Status::Chosen)
            .map(|c| c.risk)
            .fold(f64::NAN, |_, r| r);
        for c in out.iter_mut() {
            let limits = (cut, rules.override_risk, self.rules.presentation.few_cases);
            c.reasons_vi = reasons(Lang::Vi, c, &p, limits);
            c.reasons_en = reasons(Lang::En, c, &p, limits);
        }
        // Chosen first (plan order), then the rest by risk.
        out.sort_by_key(|c| (c.status != Status::Chosen, c.order));
        Ok(Plan {
            quarter: q.label.clone(),
            as_of: as_of.to_string(),
            scored_period: p.label.clone(),
            previous_period: p.previous().label,
            capacity,
            provinces: out,
        })
    }

    /// The evidence lists of one province for the plan of a quarter: each
    /// list's id and rows, counted in the scored quarter P as of a date.
    pub async fn evidence(
        &self,
        quarter: &str,
        province: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<Evidence> {
        let q = parse_quarter(quarter)?;
        if !self.reference.is_current(province) {
            bail!("no province with code '{province}'");
        }
        let (ctx, as_of) = self.context(as_of).await?;
        let p = q.previous();
        let pe = self.effective_end(&p, as_of)?;
        self.set_params_for(&ctx, &p, pe, as_of).await?;
        let mut lists = Vec::new();
        for (id, sql) in EVIDENCE {
            let t = run(
                &ctx,
                sql,
                vec![("province", ScalarValue::Utf8(Some(province.to_string())))],
            )
            .await
            .with_context(|| format!("queries/evidence/{id}.sql"))?;
            lists.push((id.to_string(), Arc::new(t)));
        }
        let history = run(
            &ctx,
            INSPECTION_HISTORY,
            vec![("province", ScalarValue::Utf8(Some(province.to_string())))],
        )
        .await?;
        Ok(Evidence {
            quarter: q.label,
            scored_period: p.label,
            counted_to: pe.to_string(),
            as_of: as_of.to_string(),
            province_code: province.to_string(),
            lists,
            inspections: Arc::new(history),
        })
    }
}

/// An evidence pack.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub quarter: String,
    pub scored_period: String,
    pub counted_to: String,
    pub as_of: String,
    pub province_code: String,
    pub lists: Vec<(String, Arc<Table>)>,
    pub inspections: Arc<Table>,
}

impl Evidence {
    pub fn list(&self, id: &str) -> Option<&Table> {
        self.lists
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, t)| t.as_ref())
    }
}

fn term_name(lang: Lang, t: &str) -> String {
    i18n::t(lang, &format!("risk_{t}"))
}

/// The reasons in words, largest term first.
fn reasons(
    lang: Lang,
    c: &Candidate,
    p: &Period,
    (cut, override_risk, few): (f64, f64, i64),
) -> Vec<String> {
    use i18n::{number, percent, tf};
    let mut terms: Vec<(f64, String)> = Vec::new();
    if let Some(comp) = c.composite {
        terms.push((
            c.term_composite,
            tf(
                lang,
                "plan_reason_composite",
                &[
                    ("period", i18n::period(lang, &p.label)),
                    ("composite", number(lang, comp, 2)),
                    ("tier", i18n::t(lang, &format!("tier_{}", c.tier))),
                ],
            ),
        ));
    }
    if let (Some(now), Some(before)) = (c.composite, c.previous_composite)
        && before > now
    {
        terms.push((
            c.term_decline,
            tf(
                lang,
                "plan_reason_decline",
                &[
                    ("points", number(lang, before - now, 2)),
                    ("period", i18n::period(lang, &p.previous().label)),
                ],
            ),
        ));
    }
    if let Some(d4) = c.d4 {
        terms.push((
            c.term_backlog,
            tf(
                lang,
                "plan_reason_backlog",
                &[
                    ("share", percent(lang, 1.0 - d4)),
                    ("period", i18n::period(lang, &p.label)),
                ],
                // The interval of the share said: overdue, not d4's not-overdue.
            ) + &crate::score::scoring::few_cases_note(
                lang,
                few,
                c.d4_counts.1 - c.d4_counts.0,
                c.d4_counts.1,
            ),
        ));
    }
    terms.push((
        c.term_recency,
        match (&c.last_inspection, c.months_since_inspection) {
            (Some(d), Some(m)) => tf(
                lang,
                "plan_reason_last_inspection",
                &[
                    (
                        "date",
                        i18n::date(lang, d.parse().unwrap_or(NaiveDate::MIN)),
                    ),
                    ("months", m.to_string()),
                ],
            ),
            _ => i18n::t(lang, "plan_reason_never_inspected"),
        },
    ));
    // Only what raised the risk, largest first.
    terms.retain(|t| t.0 > 1e-12);
    terms.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out: Vec<String> = terms.into_iter().take(3).map(|t| t.1).collect();
    for m in &c.missing_terms {
        out.push(tf(
            lang,
            "plan_reason_missing",
            &[("term", term_name(lang, m))],
        ));
    }
    match c.status {
        Status::Excluded => out.push(tf(
            lang,
            "plan_reason_excluded",
            &[
                ("risk", number(lang, c.risk, 3)),
                ("override", number(lang, override_risk, 2)),
            ],
        )),
        Status::Chosen | Status::Eligible | Status::MissedCut if c.override_applied => {
            out.push(tf(
                lang,
                "plan_reason_override",
                &[("override", number(lang, override_risk, 2))],
            ))
        }
        _ => {}
    }
    if c.status == Status::MissedCut && cut.is_finite() {
        out.push(tf(
            lang,
            "plan_reason_missed",
            &[
                ("risk", number(lang, c.risk, 3)),
                ("cut", number(lang, cut, 3)),
            ],
        ));
    }
    out
}

/// The plan as a table (CSV, XLSX, the CLI's table form).
pub fn plan_table(plan: &Plan) -> Table {
    let columns = [
        "quarter",
        "as_of",
        "status",
        "order",
        "province_code",
        "province_name",
        "risk",
        "term_composite",
        "term_decline",
        "term_backlog",
        "term_recency",
        "missing_terms",
        "composite",
        "previous_composite",
        "d4_backlog_health",
        "last_inspection",
        "months_since_inspection",
        "override_applied",
        "reasons_vi",
        "reasons_en",
    ];
    let opt = |v: Option<f64>| v.map(Cell::Float).unwrap_or(Cell::Null);
    let rows = plan
        .provinces
        .iter()
        .map(|c| {
            vec![
                Cell::Text(plan.quarter.clone()),
                Cell::Text(plan.as_of.clone()),
                Cell::Text(
                    serde_json::to_value(c.status)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                ),
                c.order.map(|o| Cell::Int(o as i64)).unwrap_or(Cell::Null),
                Cell::Text(c.province_code.clone()),
                Cell::Text(c.province_name.clone()),
                Cell::Float(c.risk),
                Cell::Float(c.term_composite),
                Cell::Float(c.term_decline),
                Cell::Float(c.term_backlog),
                Cell::Float(c.term_recency),
                Cell::Text(c.missing_terms.join(" ")),
                opt(c.composite),
                opt(c.previous_composite),
                opt(c.d4),
                c.last_inspection
                    .clone()
                    .map(Cell::Text)
                    .unwrap_or(Cell::Null),
                c.months_since_inspection
                    .map(Cell::Int)
                    .unwrap_or(Cell::Null),
                Cell::Bool(c.override_applied),
                Cell::Text(c.reasons_vi.join(" ")),
                Cell::Text(c.reasons_en.join(" ")),
            ]
        })
        .collect();
    Table {
        columns: columns.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}

/// The plan as a terminal reads it.
pub fn plan_text(plan: &Plan, lang: Lang) -> String {
    let mut out = format!(
        "{} {} (as of {}, risk from {} and {}; capacity {})\n",
        i18n::t(lang, "plan_title"),
        plan.quarter,
        plan.as_of,
        plan.scored_period,
        plan.previous_period,
        plan.capacity
    );
    let head = format!(
        "{:>3}  {:<5} {:<24} {:>6} {:>6} {:>6} {:>6} {:>6}  {}\n",
        "#", "code", "province", "risk", "low", "fall", "backlog", "time", "reasons"
    );
    let row = |c: &Candidate| {
        let name: String = c.province_name.chars().take(24).collect();
        format!(
            "{:>3}  {:<5} {:<24} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3}  {}\n",
            c.order.map(|o| o.to_string()).unwrap_or_default(),
            c.province_code,
            name,
            c.risk,
            c.term_composite,
            c.term_decline,
            c.term_backlog,
            c.term_recency,
            c.reasons(lang).join(" ")
        )
    };
    for (status, key) in [
        (Status::Chosen, "plan_chosen"),
        (Status::MissedCut, "plan_missed"),
        (Status::Excluded, "plan_excluded"),
    ] {
        out.push_str(&format!("\n{}\n", i18n::t(lang, key)));
        out.push_str(&head);
        for c in plan.with_status(status) {
            out.push_str(&row(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_months_count_completed_months_only() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(whole_months(d("2025-10-01"), d("2026-10-01")), 12);
        assert_eq!(whole_months(d("2025-10-02"), d("2026-10-01")), 11);
        assert_eq!(whole_months(d("2024-01-15"), d("2026-01-01")), 23);
        assert_eq!(whole_months(d("2026-09-30"), d("2026-10-01")), 0);
    }

    #[test]
    fn plans_are_per_quarter() {
        assert!(parse_quarter("2026-Q4").is_ok());
        assert!(parse_quarter("2026-10").is_err());
        assert!(parse_quarter("2026").is_err());
    }
}
