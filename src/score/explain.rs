//! Why a score moved: the change of a province's composite (and of each
//! area score) between two periods, split exactly into each indicator's
//! contribution, with the rounding residue as a line of its own.
//!
//! The split follows METHODOLOGY section 8 term by term. An area's raw
//! score is a sum of one term per present indicator, `100 · w_i · v_i / W`
//! with `W` the weights of the indicators present (renormalised), and the
//! composite the mean of the `n` present rounded area scores. So an
//! indicator's contribution to the composite is its term over `n` in the
//! later period minus the same in the earlier one (zero where absent):
//! renormalisation, when an indicator or an area appears or goes, shows in
//! the contributions of the others. What rounding adds (area scores and
//! composite are rounded to two decimals) is the residue. Everything is
//! counted in hundredths of a point, so the lines shown add up to the
//! change shown exactly.

use serde::Serialize;

use crate::present::i18n::{Lang, t};
use crate::reference::rules::Rules;
use crate::score::scoring::{Area, INDICATORS, LeagueRow, round2};

/// One indicator's part in the change.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    pub indicator: String,
    /// `reception`, `deadlines` or `data_entry`.
    pub area: &'static str,
    pub value_from: Option<f64>,
    pub value_to: Option<f64>,
    pub numerator_from: i64,
    pub denominator_from: i64,
    pub numerator_to: i64,
    pub denominator_to: i64,
    /// The later rate rests on fewer records than the rules' threshold.
    pub few_cases: bool,
    /// The 95 % Wilson interval of the later rate.
    pub interval_95_to: Option<(f64, f64)>,
    /// Points of the composite, rounded to hundredths.
    pub points: f64,
    /// Points of its area score, rounded to hundredths.
    pub area_points: f64,
}

/// One area's change, split into its indicators' parts.
#[derive(Debug, Clone, Serialize)]
pub struct AreaChange {
    pub area: &'static str,
    pub from: Option<f64>,
    pub to: Option<f64>,
    /// `to − from` when both exist.
    pub change: Option<f64>,
    /// What rounding adds within the area (points of the area score).
    pub residue: f64,
}

/// The change of one province's scores between two periods.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub province_code: String,
    pub province_name: String,
    pub period_from: String,
    pub period_to: String,
    pub composite_from: Option<f64>,
    pub composite_to: Option<f64>,
    /// `composite_to − composite_from`; `None` when either is missing.
    pub change: Option<f64>,
    pub areas: Vec<AreaChange>,
    /// Largest effect first.
    pub contributions: Vec<Contribution>,
    /// What rounding adds: the change minus the contributions.
    pub residue: f64,
}

const AREAS: [(Area, &str); 3] = [
    (Area::Reception, "reception"),
    (Area::Deadlines, "deadlines"),
    (Area::DataEntry, "data_entry"),
];

/// Hundredths of a point, rounded as section 8 rounds.
fn cents(x: f64) -> i64 {
    (round2(x) * 100.0).round() as i64
}

fn from_cents(c: i64) -> f64 {
    c as f64 / 100.0
}

/// Each indicator's term of its raw area score (100 · w · v / W), in
/// INDICATORS order; `None` where the indicator has no value or no area.
fn terms(rules: &Rules, row: &LeagueRow) -> Vec<Option<f64>> {
    let value = |i: usize| row.indicators.get(i).and_then(|v| v.value);
    let present_weight = |area: Area| -> f64 {
        INDICATORS
            .iter()
            .enumerate()
            .filter(|(i, ind)| ind.area == Some(area) && value(*i).is_some())
            .map(|(_, ind)| rules.weight(ind.id))
            .sum()
    };
    INDICATORS
        .iter()
        .enumerate()
        .map(|(i, ind)| {
            let area = ind.area?;
            let v = value(i)?;
            let w = present_weight(area);
            (w > 0.0).then(|| 100.0 * rules.weight(ind.id) * v / w)
        })
        .collect()
}

fn area_scores(row: &LeagueRow) -> [Option<f64>; 3] {
    [
        row.reception_score,
        row.deadlines_score,
        row.data_entry_score,
    ]
}

/// Splits the change from `from` to `to` (the same province, two periods).
pub fn attribute(rules: &Rules, from: &LeagueRow, to: &LeagueRow) -> Change {
    let (t_from, t_to) = (terms(rules, from), terms(rules, to));
    let (a_from, a_to) = (area_scores(from), area_scores(to));
    let present = |a: &[Option<f64>; 3]| a.iter().flatten().count().max(1) as f64;
    let (n_from, n_to) = (present(&a_from), present(&a_to));
    let mut contributions = Vec::new();
    let mut areas = Vec::new();
    for (k, (area, name)) in AREAS.iter().enumerate() {
        let mut area_sum = 0;
        for (i, ind) in INDICATORS.iter().enumerate() {
            if ind.area != Some(*area) {
                continue;
            }
            let (f, t) = (t_from[i].unwrap_or(0.0), t_to[i].unwrap_or(0.0));
            // A term counts in the composite only where its area does.
            let in_from = a_from[k].map_or(0.0, |_| f / n_from);
            let in_to = a_to[k].map_or(0.0, |_| t / n_to);
            let area_points = cents(t - f);
            area_sum += area_points;
            let (vf, vt) = (&from.indicators[i], &to.indicators[i]);
            contributions.push(Contribution {
                indicator: ind.id.to_string(),
                area: name,
                value_from: vf.value,
                value_to: vt.value,
                numerator_from: vf.numerator,
                denominator_from: vf.denominator,
                numerator_to: vt.numerator,
                denominator_to: vt.denominator,
                few_cases: vt.denominator > 0 && vt.denominator < rules.presentation.few_cases,
                interval_95_to: crate::score::scoring::wilson_95(vt.numerator, vt.denominator),
                points: from_cents(cents(in_to - in_from)),
                area_points: from_cents(area_points),
            });
        }
        let change = a_from[k].zip(a_to[k]).map(|(f, t)| cents(t - f));
        areas.push(AreaChange {
            area: name,
            from: a_from[k],
            to: a_to[k],
            change: change.map(from_cents),
            residue: change.map_or(0.0, |c| from_cents(c - area_sum)),
        });
    }
    let change = from.composite.zip(to.composite).map(|(f, t)| cents(t - f));
    let explained: i64 = contributions.iter().map(|c| cents(c.points)).sum();
    contributions.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
    Change {
        province_code: to.province_code.clone(),
        province_name: to.province_name.clone(),
        period_from: from.period.clone(),
        period_to: to.period.clone(),
        composite_from: from.composite,
        composite_to: to.composite,
        change: change.map(from_cents),
        areas,
        contributions,
        residue: change.map_or(0.0, |c| from_cents(c - explained)),
    }
}

/// The change of `province` from `from` (default: the period before) to
/// `to`, both scored as of `as_of` (default: the latest extract).
pub async fn change(
    engine: &crate::score::scoring::Engine,
    province: &str,
    to: &str,
    from: Option<&str>,
    as_of: Option<chrono::NaiveDate>,
) -> anyhow::Result<Change> {
    let to_p = crate::score::scoring::Period::parse(to)?;
    let from_p = match from {
        Some(f) => crate::score::scoring::Period::parse(f)?,
        None => to_p.previous(),
    };
    let known = engine
        .reference
        .provinces
        .iter()
        .any(|p| p.code == province);
    anyhow::ensure!(
        known,
        "no province with code '{province}' (see /api/provinces)"
    );
    let later = engine.score(&to_p.label, as_of).await?;
    let earlier = engine.score(&from_p.label, as_of).await?;
    let find = |s: &crate::score::scoring::Scores| {
        s.league
            .iter()
            .find(|r| r.province_code == province)
            .cloned()
            .expect("every province has a row")
    };
    Ok(attribute(&engine.rules, &find(&earlier), &find(&later)))
}

fn signed(lang: Lang, x: f64) -> String {
    let body = crate::present::i18n::number(lang, x.abs(), 2);
    if x < 0.0 {
        format!("−{body}")
    } else {
        format!("+{body}")
    }
}

fn rate(lang: Lang, v: Option<f64>, num: i64, den: i64) -> String {
    match v {
        Some(v) => format!("{} ({num}/{den})", crate::present::i18n::percent(lang, v)),
        None => t(lang, "no_value"),
    }
}

/// The change in words: the composite, then each indicator that moved it,
/// largest first, then the rounding residue.
pub fn words(lang: Lang, c: &Change) -> Vec<String> {
    let mut out = Vec::new();
    let period = |p: &str| crate::present::i18n::period(lang, p);
    match (c.composite_from, c.composite_to, c.change) {
        (Some(f), Some(to), Some(d)) => out.push(
            t(lang, "change_composite")
                .replace("{from_period}", &period(&c.period_from))
                .replace("{to_period}", &period(&c.period_to))
                .replace("{from}", &crate::present::i18n::number(lang, f, 2))
                .replace("{to}", &crate::present::i18n::number(lang, to, 2))
                .replace("{change}", &signed(lang, d)),
        ),
        _ => out.push(t(lang, "change_undefined")),
    }
    for k in c.contributions.iter().filter(|k| k.points != 0.0) {
        // Same value, other weight: an indicator beside it came or went.
        let mut why = if k.value_from.is_some() && k.value_from == k.value_to {
            format!(" ({})", t(lang, "weights_renormalised"))
        } else {
            String::new()
        };
        if k.few_cases {
            why.push_str(&crate::score::scoring::few_cases_note(
                lang,
                i64::MAX,
                k.numerator_to,
                k.denominator_to,
            ));
        }
        out.push(format!(
            "{}: {} → {}: {} {}{why}",
            t(lang, &k.indicator),
            rate(lang, k.value_from, k.numerator_from, k.denominator_from),
            rate(lang, k.value_to, k.numerator_to, k.denominator_to),
            signed(lang, k.points),
            t(lang, "points"),
        ));
    }
    if c.change.is_some() {
        out.push(format!(
            "{}: {} {}",
            t(lang, "rounding_residue"),
            signed(lang, c.residue),
            t(lang, "points")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::scoring::{Engine, IndicatorValue};

    fn row(rules: &Rules, period: &str, values: &[(&str, i64, i64)]) -> LeagueRow {
        let indicators: Vec<IndicatorValue> = INDICATORS
            .iter()
            .map(|ind| {
                let (n, d) = values
                    .iter()
                    .find(|(id, ..)| *id == ind.id)
                    .map_or((0, 0), |(_, n, d)| (*n, *d));
                IndicatorValue {
                    period: period.into(),
                    province_code: "24".into(),
                    indicator: ind.id.into(),
                    numerator: n,
                    denominator: d,
                    value: (d > 0).then(|| n as f64 / d as f64),
                }
            })
            .collect();
        let engine = Engine::new(
            crate::store::Store::open(std::env::temp_dir().join("vigil-explain-test")).unwrap(),
            rules.clone(),
            crate::reference::calendar::Calendar::bundled(),
            crate::reference::Reference::bundled(),
        );
        let period_v = crate::score::scoring::Period::parse(period).unwrap();
        let mut all = Vec::new();
        for p in &engine.reference.provinces {
            for v in &indicators {
                all.push(IndicatorValue {
                    province_code: p.code.clone(),
                    ..v.clone()
                });
            }
        }
        engine
            .league(&period_v, &all)
            .into_iter()
            .find(|r| r.province_code == "24")
            .unwrap()
    }

    fn check(rules: &Rules, from: &[(&str, i64, i64)], to: &[(&str, i64, i64)]) -> Change {
        let (a, b) = (row(rules, "2026-Q2", from), row(rules, "2026-Q3", to));
        let c = attribute(rules, &a, &b);
        if let Some(d) = c.change {
            let sum: i64 =
                c.contributions.iter().map(|k| cents(k.points)).sum::<i64>() + cents(c.residue);
            assert_eq!(sum, cents(d), "{c:#?}");
            assert_eq!(cents(d), cents(b.composite.unwrap() - a.composite.unwrap()));
            // What is left is rounding only: half a cent per rounded area
            // score and composite, and per line shown.
            let bound = 0.005 * (2.0 * 3.0 + 2.0 + c.contributions.len() as f64);
            assert!(c.residue.abs() <= bound, "residue {} in {c:#?}", c.residue);
        }
        for area in &c.areas {
            if let Some(d) = area.change {
                let sum: i64 = c
                    .contributions
                    .iter()
                    .filter(|k| k.area == area.area)
                    .map(|k| cents(k.area_points))
                    .sum::<i64>()
                    + cents(area.residue);
                assert_eq!(sum, cents(d), "{area:#?}");
                assert!(area.residue.abs() <= 0.05, "{area:#?}");
            }
        }
        c
    }

    #[test]
    fn contributions_add_up_to_the_change_to_the_cent() {
        let rules = Rules::bundled();
        let full = [
            ("r1_head_reception", 3, 3),
            ("r2_head_share", 7, 10),
            ("d1_acceptance_on_time", 9, 10),
            ("d2_settlement_on_time", 10, 12),
            ("d3_vssid_response", 4, 5),
            ("d4_backlog_health", 6, 7),
            ("e1_entry_coverage", 20, 21),
            ("e2_entry_timeliness", 17, 21),
            ("e3_record_completeness", 5, 6),
            ("e4_account_coverage", 8, 9),
            ("e5_account_hygiene", 2, 3),
        ];
        // Settlement on time falls from 10/12 to 5/12, nothing else moves.
        let mut worse = full;
        worse[3] = ("d2_settlement_on_time", 5, 12);
        let c = check(&rules, &full, &worse);
        let top = &c.contributions[0];
        assert_eq!(top.indicator, "d2_settlement_on_time");
        // 100 · 0.40 · (5/12 − 10/12) / 3 areas = −5.555… points.
        assert_eq!(top.points, -5.56);
        assert!(c.contributions[1..].iter().all(|k| k.points == 0.0));
        assert!(c.residue.abs() <= 0.02, "{}", c.residue);
        // Everything moves, thirds and sevenths that round awkwardly.
        let moved = [
            ("r1_head_reception", 1, 3),
            ("r2_head_share", 2, 7),
            ("d1_acceptance_on_time", 5, 7),
            ("d2_settlement_on_time", 1, 3),
            ("d3_vssid_response", 2, 3),
            ("d4_backlog_health", 1, 7),
            ("e1_entry_coverage", 13, 21),
            ("e2_entry_timeliness", 11, 21),
            ("e3_record_completeness", 1, 6),
            ("e4_account_coverage", 4, 9),
            ("e5_account_hygiene", 1, 3),
        ];
        check(&rules, &full, &moved);
        check(&rules, &moved, &full);
        // An indicator without records in the later period: the others'
        // weights are renormalised, and it still adds up.
        let mut gone = full;
        gone[2] = ("d1_acceptance_on_time", 0, 0);
        let c = check(&rules, &full, &gone);
        assert!(
            c.contributions
                .iter()
                .any(|k| k.indicator == "d1_acceptance_on_time")
        );
        // A whole area missing in one period: the composite is the mean of
        // two areas there.
        let no_reception: Vec<_> = full.iter().copied().skip(2).collect();
        check(&rules, &no_reception, &moved);
        check(&rules, &moved, &no_reception);
    }

    #[test]
    fn the_change_is_said_in_words() {
        let rules = Rules::bundled();
        let a = row(
            &rules,
            "2026-Q2",
            &[
                ("d2_settlement_on_time", 10, 12),
                ("d1_acceptance_on_time", 1, 1),
                ("e1_entry_coverage", 1, 1),
            ],
        );
        let b = row(
            &rules,
            "2026-Q3",
            &[
                ("d2_settlement_on_time", 5, 12),
                ("d1_acceptance_on_time", 1, 1),
                ("e1_entry_coverage", 1, 1),
            ],
        );
        let c = attribute(&rules, &a, &b);
        let en = words(Lang::En, &c);
        assert!(
            en[0].contains("Q2 2026") && en[0].contains("Q3 2026"),
            "{en:?}"
        );
        assert!(
            en.iter().any(|l| l.starts_with("Settlement on time")
                && l.contains("(5/12)")
                && l.contains('−')),
            "{en:?}"
        );
        let vi = words(Lang::Vi, &c);
        assert!(
            vi.iter().any(|l| l.starts_with("Giải quyết đúng hạn")),
            "{vi:?}"
        );
    }
}
