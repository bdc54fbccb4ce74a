//! Scoring: stages, indicators, area scores, composite, tiers, ranks and
//! bootstrap rank intervals (METHODOLOGY sections 5–8 and 10).
//!
//! The counting is SQL in `queries/` (compiled in, so the binary and the
//! files an analyst reads are the same text), run by DataFusion over the
//! store as of a date. What SQL says badly stays here: periods, weights and
//! rounding, ranks and the bootstrap.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use futures::{StreamExt, TryStreamExt};
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};
use serde::Serialize;

use crate::reference::Reference;
use crate::reference::calendar::Calendar;
use crate::reference::dates::day_number;
use crate::reference::rules::Rules;
use crate::score::kept::{self, Count};
use crate::store::{Catalog, Store};

/// The version of how indicator counts are kept ([`kept`]): part of their
/// name, so that a change to what they mean gives new names.
const KEPT_FORMAT: &str = "vigil-kept-counts-1";

/// One named query of `queries/`.
pub struct NamedQuery {
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! query {
    ($name:literal, $path:literal) => {
        NamedQuery {
            name: $name,
            sql: include_str!(concat!("../../queries/", $path)),
        }
    };
}

/// Views every scoring context defines over the facts, in dependency
/// order (the facts themselves define `cases`, `stages`, `entry_records`
/// and the rest: see [`crate::facts`]).
pub const VIEWS: [NamedQuery; 1] = [query!("unit_province", "unit_province.sql")];

/// Views that depend on the period (`params`), defined when it is set.
pub const PERIOD_VIEWS: [NamedQuery; 2] = [
    query!("head_reception_months", "head_reception_months.sql"),
    query!("account_closure", "account_closure.sql"),
];

/// The area an indicator belongs to; monitoring indicators have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Area {
    Reception,
    Deadlines,
    DataEntry,
}

pub struct Indicator {
    pub id: &'static str,
    pub area: Option<Area>,
    pub query: NamedQuery,
}

macro_rules! indicator {
    ($id:literal, $area:expr) => {
        Indicator {
            id: $id,
            area: $area,
            query: NamedQuery {
                name: $id,
                sql: include_str!(concat!("../../queries/indicators/", $id, ".sql")),
            },
        }
    };
}

/// Every indicator of section 7, in output order.
pub const INDICATORS: [Indicator; 13] = [
    indicator!("r1_head_reception", Some(Area::Reception)),
    indicator!("r2_head_share", Some(Area::Reception)),
    indicator!("d1_acceptance_on_time", Some(Area::Deadlines)),
    indicator!("d2_settlement_on_time", Some(Area::Deadlines)),
    indicator!("d3_vssid_response", Some(Area::Deadlines)),
    indicator!("d4_backlog_health", Some(Area::Deadlines)),
    indicator!("e1_entry_coverage", Some(Area::DataEntry)),
    indicator!("e2_entry_timeliness", Some(Area::DataEntry)),
    indicator!("e3_record_completeness", Some(Area::DataEntry)),
    indicator!("e4_account_coverage", Some(Area::DataEntry)),
    indicator!("e5_account_hygiene", Some(Area::DataEntry)),
    indicator!("x1_repeat_requests", None),
    indicator!("x2_recovery_rate", None),
];

// ---------------------------------------------------------------------------
// Periods

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

/// A month `2026-03`, a quarter `2026-Q1` or a year `2026`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub kind: PeriodKind,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

fn month_end(year: i32, month: u32) -> NaiveDate {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid month") - chrono::Duration::days(1)
}

impl Period {
    pub fn parse(s: &str) -> Result<Period> {
        let bad = || {
            anyhow::anyhow!(
                "'{s}' is not a period: use a month 2026-03, a quarter 2026-Q1 or a year 2026"
            )
        };
        let year = |t: &str| -> Result<i32> {
            if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) {
                Ok(t.parse()?)
            } else {
                Err(bad())
            }
        };
        if let Some((y, q)) = s.split_once("-Q") {
            let y = year(y)?;
            let q: u32 = match q {
                "1" | "2" | "3" | "4" => q.parse()?,
                _ => return Err(bad()),
            };
            let first = (q - 1) * 3 + 1;
            return Ok(Period {
                label: format!("{y}-Q{q}"),
                kind: PeriodKind::Quarter,
                start: NaiveDate::from_ymd_opt(y, first, 1).ok_or_else(bad)?,
                end: month_end(y, first + 2),
            });
        }
        if let Some((y, m)) = s.split_once('-') {
            let y = year(y)?;
            if m.len() != 2 {
                return Err(bad());
            }
            let m: u32 = m.parse().map_err(|_| bad())?;
            let start = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
            return Ok(Period {
                label: format!("{y}-{m:02}"),
                kind: PeriodKind::Month,
                start,
                end: month_end(y, m),
            });
        }
        let y = year(s)?;
        Ok(Period {
            label: format!("{y}"),
            kind: PeriodKind::Year,
            start: NaiveDate::from_ymd_opt(y, 1, 1).ok_or_else(bad)?,
            end: NaiveDate::from_ymd_opt(y, 12, 31).ok_or_else(bad)?,
        })
    }

    /// The last quarter that ends on or before a date.
    pub fn last_complete_quarter(date: NaiveDate) -> Period {
        let q = Period::parse(&format!("{}-Q{}", date.year(), (date.month() - 1) / 3 + 1))
            .expect("valid quarter");
        if q.end <= date { q } else { q.previous() }
    }

    /// The period of the same kind just before this one.
    pub fn previous(&self) -> Period {
        let day_before = self.start - chrono::Duration::days(1);
        let label = match self.kind {
            PeriodKind::Month => format!("{}-{:02}", day_before.year(), day_before.month()),
            PeriodKind::Quarter => format!(
                "{}-Q{}",
                day_before.year(),
                (day_before.month() - 1) / 3 + 1
            ),
            PeriodKind::Year => format!("{}", day_before.year()),
        };
        Period::parse(&label).expect("a previous period is valid")
    }
}

// ---------------------------------------------------------------------------
// Outputs

/// One indicator of one province (the long form of section 10).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorValue {
    pub period: String,
    pub province_code: String,
    pub indicator: String,
    pub numerator: i64,
    pub denominator: i64,
    pub value: Option<f64>,
}

/// One row of the league table.
#[derive(Debug, Clone, Serialize)]
pub struct LeagueRow {
    pub period: String,
    pub province_code: String,
    pub province_name: String,
    /// Indicator id → (value, numerator, denominator), in INDICATORS order.
    #[serde(skip)]
    pub indicators: Vec<IndicatorValue>,
    pub reception_score: Option<f64>,
    pub deadlines_score: Option<f64>,
    pub data_entry_score: Option<f64>,
    pub composite: Option<f64>,
    pub tier: String,
    pub rank: Option<u32>,
    pub rank_lo: Option<u32>,
    pub rank_hi: Option<u32>,
}

/// The result of scoring one period.
#[derive(Debug, Clone)]
pub struct Scores {
    pub period: Period,
    pub as_of: NaiveDate,
    /// min(period end, as-of): the last day counted.
    pub effective_end: NaiveDate,
    pub indicators: Vec<IndicatorValue>,
    pub league: Vec<LeagueRow>,
}

// ---------------------------------------------------------------------------
// Rounding, areas, tiers, ranks

/// Half away from zero to 2 decimals, as section 8 defines it.
pub fn round2(x: f64) -> f64 {
    x.signum() * ((x.abs() * 100.0 + 0.5 + 1e-9).floor()) / 100.0
}

/// The 95 % Wilson score interval of `num` out of `den` (`None` when
/// `den` is 0): what a rate on few records can honestly be said to be.
pub fn wilson_95(num: i64, den: i64) -> Option<(f64, f64)> {
    if den <= 0 {
        return None;
    }
    let (n, z) = (den as f64, 1.959_963_984_540_054);
    let p = num as f64 / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z * z / n;
    Some((
        ((centre - spread) / denom).max(0.0),
        ((centre + spread) / denom).min(1.0),
    ))
}

/// " — few cases (n = 4): 95 % interval 12 % to 70 %" for a rate on
/// fewer records than `threshold` (the rules' `presentation.few_cases`);
/// empty otherwise. Presentation only.
pub fn few_cases_note(
    lang: crate::present::i18n::Lang,
    threshold: i64,
    num: i64,
    den: i64,
) -> String {
    if den <= 0 || den >= threshold {
        return String::new();
    }
    let (lo, hi) = wilson_95(num, den).unwrap_or((0.0, 1.0));
    crate::present::i18n::tf(
        lang,
        "few_cases_note",
        &[
            ("n", den.to_string()),
            ("lo", crate::present::i18n::percent(lang, lo)),
            ("hi", crate::present::i18n::percent(lang, hi)),
        ],
    )
}

/// 100 × the weighted mean of the present values, weights renormalised;
/// `None` when none is present.
fn area_score(values: impl IntoIterator<Item = (Option<f64>, f64)>) -> Option<f64> {
    let (sum, wsum) = values
        .into_iter()
        .filter_map(|(v, w)| v.map(|v| (v * w, w)))
        .fold((0.0, 0.0), |(s, ws), (x, w)| (s + x, ws + w));
    (wsum > 0.0).then(|| 100.0 * sum / wsum)
}

/// How area scores and the composite are made of indicator values: each
/// area's indicators (positions in INDICATORS) with their weights, looked
/// up once rather than for every province of every bootstrap replicate.
struct Composite {
    areas: [Vec<(usize, f64)>; 3],
    min_areas: usize,
}

impl Composite {
    fn new(rules: &Rules) -> Composite {
        let area = |area: Area| -> Vec<(usize, f64)> {
            INDICATORS
                .iter()
                .enumerate()
                .filter(|(_, ind)| ind.area == Some(area))
                .map(|(i, ind)| (i, weight(rules, ind.id)))
                .collect()
        };
        Composite {
            areas: [
                area(Area::Reception),
                area(Area::Deadlines),
                area(Area::DataEntry),
            ],
            min_areas: min_areas(rules),
        }
    }

    /// Rounded area scores, composite, from indicator values in INDICATORS
    /// order.
    fn of(&self, values: &[Option<f64>]) -> ([Option<f64>; 3], Option<f64>) {
        let areas = self
            .areas
            .each_ref()
            .map(|parts| area_score(parts.iter().map(|&(i, w)| (values[i], w))).map(round2));
        let present = areas.iter().flatten().count();
        let composite = (present >= self.min_areas)
            .then(|| round2(areas.iter().flatten().copied().sum::<f64>() / present as f64));
        (areas, composite)
    }
}

pub fn tier(rules: &Rules, composite: Option<f64>) -> &'static str {
    let Some(c) = composite else {
        return "insufficient";
    };
    let t = tier_thresholds(rules);
    if c >= t[0] {
        "A"
    } else if c >= t[1] {
        "B"
    } else if c >= t[2] {
        "C"
    } else {
        "D"
    }
}

/// Competition ranking, descending (1, 2, 2, 4); `None` without a score.
pub fn competition_ranks(scores: &[Option<f64>]) -> Vec<Option<u32>> {
    scores
        .iter()
        .map(|s| s.map(|s| 1 + scores.iter().flatten().filter(|o| **o > s).count() as u32))
        .collect()
}

/// The p-th percentile (nearest rank) of sorted values.
fn nearest_rank(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[k.min(sorted.len()) - 1])
}

/// Bootstrap rank intervals: each indicator's records resampled with
/// replacement within each province. Every composite indicator counts 0/1
/// records, so resampling n records of which k are 1 is a Binomial(n, k/n)
/// draw: the same distribution, without touching the records again.
fn rank_intervals(rules: &Rules, counts: &[Vec<(i64, i64)>]) -> Vec<(Option<u32>, Option<u32>)> {
    let (replicates, seed, lo, hi) = bootstrap_settings(rules);
    let composite = Composite::new(rules);
    let draws: Vec<Vec<Draw>> = counts
        .iter()
        .map(|province| province.iter().map(|&c| Draw::new(c)).collect())
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut ranks: Vec<Vec<u32>> = vec![Vec::with_capacity(replicates); counts.len()];
    let mut values = Vec::new();
    for _ in 0..replicates {
        let composites: Vec<Option<f64>> = draws
            .iter()
            .map(|province| {
                values.clear();
                values.extend(province.iter().map(|d| d.sample(&mut rng)));
                composite.of(&values).1
            })
            .collect();
        for (i, r) in competition_ranks(&composites).into_iter().enumerate() {
            if let Some(r) = r {
                ranks[i].push(r);
            }
        }
    }
    ranks
        .into_iter()
        .map(|mut r| {
            r.sort_unstable();
            (nearest_rank(&r, lo), nearest_rank(&r, hi))
        })
        .collect()
}

/// One indicator's resampled value in a replicate: none without records,
/// else Binomial(n, k/n) / n (k itself where that distribution cannot be
/// made). The distribution is made once and drawn from in every
/// replicate, in the same order, so the draws are those of making it anew.
enum Draw {
    Absent,
    Fixed(u64, f64),
    Binomial(Binomial, f64),
}

impl Draw {
    fn new((num, den): (i64, i64)) -> Draw {
        if den <= 0 {
            return Draw::Absent;
        }
        let p = (num as f64 / den as f64).clamp(0.0, 1.0);
        match Binomial::new(den as u64, p) {
            Ok(b) => Draw::Binomial(b, den as f64),
            Err(_) => Draw::Fixed(num as u64, den as f64),
        }
    }

    fn sample(&self, rng: &mut rand_chacha::ChaCha8Rng) -> Option<f64> {
        match self {
            Draw::Absent => None,
            Draw::Fixed(k, n) => Some(*k as f64 / n),
            Draw::Binomial(b, n) => Some(b.sample(rng) as f64 / n),
        }
    }
}

// ---------------------------------------------------------------------------
// Rules as the SQL and the scores use them

fn weight(rules: &Rules, indicator: &str) -> f64 {
    rules.weight(indicator)
}

fn min_areas(rules: &Rules) -> usize {
    rules.composite_min_areas()
}

fn tier_thresholds(rules: &Rules) -> [f64; 3] {
    rules.tier_thresholds()
}

fn bootstrap_settings(rules: &Rules) -> (usize, u64, f64, f64) {
    rules.bootstrap_settings()
}

// ---------------------------------------------------------------------------
// The engine

/// Everything scoring needs besides the store.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub rules: Rules,
    pub calendar: Arc<Calendar>,
    pub reference: Reference,
    /// Where the queries run: in this process, or on a cluster.
    pub cluster: Option<crate::score::cluster::Cluster>,
    /// Whether counts are read from and kept in the store ([`kept`]): by
    /// the pages and the alerts, not by `score` and `indicators`, which
    /// count afresh (what is checked against other implementations).
    pub kept_counts: bool,
}

fn single_batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<MemTable> {
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// Where a figure comes from: the as-of date it was computed for and a
/// short fingerprint of everything it was computed from, printed on every
/// export so that a number quoted in a meeting can be traced to its data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    #[serde(with = "crate::reference::dates::iso")]
    pub as_of: NaiveDate,
    pub store_fingerprint: String,
}

impl Provenance {
    /// "as of 2026-11-15, store 3fa9c2e1b7d0", for file names and footers.
    pub fn line(&self) -> String {
        format!("as of {}, store {}", self.as_of, self.store_fingerprint)
    }
}

impl Engine {
    /// The provenance of figures computed as of `as_of` from the catalog
    /// `cat`: the first 12 hex digits of SHA-256 over the extracts up to
    /// that date (`Catalog::content_digest`), the rules in force and the
    /// derivations' fingerprint (calendar, lineage, SQL of the facts).
    pub fn provenance(&self, cat: &Catalog, as_of: NaiveDate) -> Provenance {
        use sha2::Digest;
        let hex = hex::encode(self.source_digest(cat, as_of).finalize());
        Provenance {
            as_of,
            store_fingerprint: hex[..12].to_string(),
        }
    }

    /// The digest of what a figure as of `as_of` is computed from: the
    /// extracts up to it, the rules, and what the facts are derived with.
    fn source_digest(&self, cat: &Catalog, as_of: NaiveDate) -> sha2::Sha256 {
        use sha2::Digest;
        let mut h = cat.content_digest(as_of);
        h.update(
            serde_json::to_string(&self.rules)
                .unwrap_or_default()
                .as_bytes(),
        );
        h.update(self.derivation().fingerprint().as_bytes());
        h
    }

    /// The name a period's counts as of `as_of` are kept under
    /// ([`crate::score::kept`]): the sources' digest, and everything of
    /// this build that counts (its version, the SQL, the provinces).
    fn kept_key(&self, cat: &Catalog, period: &Period, as_of: NaiveDate) -> String {
        use sha2::Digest;
        let mut h = self.source_digest(cat, as_of);
        h.update(KEPT_FORMAT.as_bytes());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        let sql = VIEWS.iter().chain(&PERIOD_VIEWS).map(|q| q.sql);
        let sql = sql.chain(INDICATORS.iter().map(|i| i.query.sql));
        for text in sql.chain(crate::facts::read_view_sql()) {
            h.update(text.as_bytes());
        }
        for p in &self.reference.provinces {
            h.update(format!("{};", p.code).as_bytes());
        }
        h.update(format!("{}|{as_of}", period.label).as_bytes());
        hex::encode(h.finalize())
    }

    pub fn new(store: Store, rules: Rules, calendar: Calendar, reference: Reference) -> Engine {
        Engine {
            store,
            rules,
            calendar: Arc::new(calendar),
            reference,
            cluster: None,
            kept_counts: false,
        }
    }

    /// The same engine reading and keeping counts in the store.
    pub fn keeping_counts(self) -> Engine {
        Engine {
            kept_counts: true,
            ..self
        }
    }

    /// The same engine with its queries run on a cluster.
    pub fn with_cluster(self, cluster: Option<crate::score::cluster::Cluster>) -> Engine {
        Engine { cluster, ..self }
    }

    /// An empty context with these settings, in this process or on the
    /// engine's cluster.
    pub async fn session(
        &self,
        config: SessionConfig,
        runtime: RuntimeEnvBuilder,
    ) -> Result<SessionContext> {
        match &self.cluster {
            Some(c) => c.session(config, runtime).await,
            None => Ok(SessionContext::new_with_config_rt(
                config,
                runtime.build_arc()?,
            )),
        }
    }

    /// An engine with the bundled rules, calendar and reference data.
    pub fn bundled(store: Store) -> Engine {
        let rules = Rules::bundled();
        let calendar = rules.shipped_calendar();
        Engine::new(store, rules, calendar, Reference::bundled())
    }

    /// A context with the store as of a date, the reference tables, the
    /// calendar functions, `rules`, `months`, and the views `unit_province`,
    /// `entry_records` and `stages`. Returns the effective as-of date.
    pub async fn context(&self, as_of: Option<NaiveDate>) -> Result<(SessionContext, NaiveDate)> {
        let ctx = self
            .session(SessionConfig::new(), RuntimeEnvBuilder::new())
            .await?;
        self.context_in(ctx, as_of).await
    }

    /// What the facts are derived with: this engine's rules, calendar and
    /// reference data.
    pub fn derivation(&self) -> crate::facts::Derivation {
        crate::facts::Derivation {
            rules: self.rules.clone(),
            calendar: self.calendar.clone(),
            reference: self.reference.clone(),
        }
    }

    /// `context` in a context the caller made (its own memory pool, say).
    /// The facts are brought up to date first if they were built with
    /// other rules or calendar, or by an earlier version.
    pub async fn context_in(
        &self,
        ctx: SessionContext,
        as_of: Option<NaiveDate>,
    ) -> Result<(SessionContext, NaiveDate)> {
        let derivation = self.derivation();
        let facts = crate::facts::ensure(&self.store, &derivation).await?;
        // Never past the facts (an ingest may land meanwhile).
        let as_of = match (&facts, as_of) {
            (Some(f), Some(d)) => Some(d.min(f.through)),
            (Some(f), None) => Some(f.through),
            (None, d) => d,
        };
        let effective =
            self.store
                .register_history(&ctx, as_of)
                .await?
                .ok_or_else(|| match as_of {
                    Some(d) => anyhow::anyhow!("the store holds no extract dated on or before {d}"),
                    None => {
                        anyhow::anyhow!("the store holds no extract yet; run `vigil ingest` first")
                    }
                })?;
        let facts = facts.context("the store has extracts but no facts")?;
        crate::reference::udf::register(&ctx, self.calendar.clone());
        self.register_reference(&ctx)?;
        // `rules` and `params` are one row of literals: see `constants`.
        crate::score::constants::add_rule(&ctx);
        crate::score::constants::register(&ctx, "rules", self.rules_row())?;
        crate::facts::register(
            &ctx,
            &self.store.facts_dir(&facts.dir),
            facts.generation,
            effective,
            &derivation,
        )
        .await?;
        for v in &VIEWS {
            ctx.sql(&format!("CREATE VIEW {} AS {}", v.name, v.sql))
                .await
                .with_context(|| format!("queries/{}.sql", v.name))?;
        }
        Ok((ctx, effective))
    }

    /// The limits of the rules file as the columns of `rules`.
    fn rules_row(&self) -> Vec<(&'static str, ScalarValue)> {
        self.rules
            .sql_limits()
            .into_iter()
            .map(|(name, v)| (name, ScalarValue::Int64(Some(v))))
            .collect()
    }

    fn register_reference(&self, ctx: &SessionContext) -> Result<()> {
        let r = &self.reference;
        let provinces = single_batch(
            Arc::new(Schema::new(vec![
                Field::new("province_code", DataType::Utf8, false),
                Field::new("name_vi", DataType::Utf8, false),
                Field::new("name_en", DataType::Utf8, false),
            ])),
            vec![
                Arc::new(StringArray::from_iter_values(
                    r.provinces.iter().map(|p| &p.code),
                )),
                Arc::new(StringArray::from_iter_values(
                    r.provinces.iter().map(|p| &p.name_vi),
                )),
                Arc::new(StringArray::from_iter_values(
                    r.provinces.iter().map(|p| &p.name_en),
                )),
            ],
        )?;
        ctx.register_table("provinces", Arc::new(provinces))?;
        let lineage = r.lineage_table()?;
        ctx.register_table("province_lineage", Arc::new(lineage))?;
        // Months 2000–2050: enough for any extract the contract allows.
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for y in 2000..=2050 {
            for m in 1..=12 {
                starts.push(day_number(NaiveDate::from_ymd_opt(y, m, 1).expect("month")));
                ends.push(day_number(month_end(y, m)));
            }
        }
        let months = single_batch(
            Arc::new(Schema::new(vec![
                Field::new("month_start", DataType::Date32, false),
                Field::new("month_end", DataType::Date32, false),
            ])),
            vec![
                Arc::new(Date32Array::from(starts)),
                Arc::new(Date32Array::from(ends)),
            ],
        )?;
        ctx.register_table("months", Arc::new(months))?;
        Ok(())
    }

    /// Checks a period against coverage and as-of; returns pe'.
    pub fn effective_end(&self, period: &Period, as_of: NaiveDate) -> Result<NaiveDate> {
        let coverage = self.rules.coverage_from();
        if period.start < coverage {
            bail!(
                "period {} starts before {coverage}, where the extracts' coverage begins (coverage_from in the rules file)",
                period.label
            );
        }
        if period.start > as_of {
            bail!(
                "period {} starts after the as-of date {as_of}: there are no data for it yet",
                period.label
            );
        }
        Ok(period.end.min(as_of))
    }

    /// Sets the one-row `params` table for a period counted to `pe`, for
    /// queries written against the same views as the indicators.
    pub async fn set_params_for(
        &self,
        ctx: &SessionContext,
        period: &Period,
        pe: NaiveDate,
        as_of: NaiveDate,
    ) -> Result<()> {
        self.set_params(ctx, period, pe, as_of).await
    }

    /// Sets the one-row `params` table for a period, and defines again the
    /// views that read it (a view keeps the tables it was planned with).
    async fn set_params(
        &self,
        ctx: &SessionContext,
        period: &Period,
        pe: NaiveDate,
        as_of: NaiveDate,
    ) -> Result<()> {
        let (stale_min, stale_max) = self.rules.stale_account_window_days();
        let d = |x: NaiveDate| ScalarValue::Date32(Some(day_number(x)));
        crate::score::constants::register(
            ctx,
            "params",
            vec![
                ("period", ScalarValue::Utf8(Some(period.label.clone()))),
                ("ps", d(period.start)),
                ("pe", d(pe)),
                ("as_of", d(as_of)),
                ("stale_from", d(pe - chrono::Duration::days(stale_max))),
                ("stale_to", d(pe - chrono::Duration::days(stale_min))),
            ],
        )?;
        for v in &PERIOD_VIEWS {
            ctx.sql(&format!("CREATE OR REPLACE VIEW {} AS {}", v.name, v.sql))
                .await
                .with_context(|| format!("queries/{}.sql", v.name))?;
        }
        Ok(())
    }

    /// Numerators and denominators of every indicator for every province.
    pub async fn indicators(
        &self,
        ctx: &SessionContext,
        period: &Period,
        as_of: NaiveDate,
    ) -> Result<(NaiveDate, Vec<IndicatorValue>)> {
        let (pe, plan) = self.plan_or_kept(ctx, period, as_of).await?;
        let counts = self.counts(period, as_of, plan).await?;
        Ok((pe, self.indicator_values(period, &counts)))
    }

    /// A period's counts as kept ([`kept`]), or its query planned. The
    /// catalog is read for the counts' name only where counts are kept.
    async fn plan_or_kept(
        &self,
        ctx: &SessionContext,
        period: &Period,
        as_of: NaiveDate,
    ) -> Result<(NaiveDate, Planned)> {
        let key = match self.kept_counts {
            true => Some(self.kept_key(&self.store.catalog()?, period, as_of)),
            false => None,
        };
        let found = key.as_ref().and_then(|k| kept::load(self.store.root(), k));
        Ok(match found {
            Some(counts) => (self.effective_end(period, as_of)?, Planned::Kept(counts)),
            None => {
                let (pe, df) = self.plan_indicators(ctx, period, as_of).await?;
                (pe, Planned::Query(df, key))
            }
        })
    }

    /// The counts of a period: kept ones, or its query run and its counts
    /// kept.
    async fn counts(&self, period: &Period, as_of: NaiveDate, plan: Planned) -> Result<Vec<Count>> {
        Ok(match plan {
            Planned::Kept(counts) => counts,
            Planned::Query(df, key) => {
                let counts = counts_of(&self.run_indicators(df).await?)?;
                if let Some(key) = key {
                    let (root, label) = (self.store.root(), &period.label);
                    kept::save(root, &key, label, &as_of.to_string(), counts.clone());
                }
                counts
            }
        })
    }

    /// The one query of every indicator's numerator and denominator for a
    /// period, planned: it keeps the period's `params` it was planned with,
    /// so it can run after the context is set for another period.
    async fn plan_indicators(
        &self,
        ctx: &SessionContext,
        period: &Period,
        as_of: NaiveDate,
    ) -> Result<(NaiveDate, DataFrame)> {
        let pe = self.effective_end(period, as_of)?;
        self.set_params(ctx, period, pe, as_of).await?;
        let union: Vec<String> = INDICATORS
            .iter()
            .map(|ind| {
                format!(
                    "SELECT '{}' AS indicator, province_code, CAST(numerator AS BIGINT) AS numerator, \
                     CAST(denominator AS BIGINT) AS denominator FROM ({})",
                    ind.id,
                    ind.query.sql.trim().trim_end_matches(';')
                )
            })
            .collect();
        let sql = union.join("\nUNION ALL\n");
        let df = ctx
            .sql(&sql)
            .await
            .context("planning the indicator queries")?;
        Ok((pe, df))
    }

    async fn run_indicators(&self, df: DataFrame) -> Result<Vec<RecordBatch>> {
        match &self.cluster {
            Some(cluster) => cluster.bounded(df.collect()).await,
            None => Ok(df.collect().await?),
        }
        .context("running the indicator queries")
    }

    /// Every (province, indicator) of a period from the indicator query's
    /// counts; a pair without a row counts zero of zero.
    fn indicator_values(&self, period: &Period, counts: &[Count]) -> Vec<IndicatorValue> {
        let found: BTreeMap<(&str, &str), (i64, i64)> = counts
            .iter()
            .map(|c| {
                let at = (c.province_code.as_str(), c.indicator.as_str());
                (at, (c.numerator, c.denominator))
            })
            .collect();
        let mut out = Vec::new();
        for p in &self.reference.provinces {
            for ind in &INDICATORS {
                let (n, d) = found
                    .get(&(p.code.as_str(), ind.id))
                    .copied()
                    .unwrap_or((0, 0));
                out.push(IndicatorValue {
                    period: period.label.clone(),
                    province_code: p.code.clone(),
                    indicator: ind.id.to_string(),
                    numerator: n,
                    denominator: d,
                    value: (d != 0).then(|| n as f64 / d as f64),
                });
            }
        }
        out
    }

    /// Scores, tiers, ranks and intervals from indicator values.
    pub fn league(&self, period: &Period, indicators: &[IndicatorValue]) -> Vec<LeagueRow> {
        // The first value given for each (province, indicator).
        let mut given = std::collections::HashMap::new();
        for v in indicators {
            given
                .entry((v.province_code.as_str(), v.indicator.as_str()))
                .or_insert(v);
        }
        let per_province: Vec<Vec<IndicatorValue>> = self
            .reference
            .provinces
            .iter()
            .map(|p| {
                INDICATORS
                    .iter()
                    .map(|ind| {
                        given
                            .get(&(p.code.as_str(), ind.id))
                            .map(|v| (*v).clone())
                            .unwrap_or(IndicatorValue {
                                period: period.label.clone(),
                                province_code: p.code.clone(),
                                indicator: ind.id.to_string(),
                                numerator: 0,
                                denominator: 0,
                                value: None,
                            })
                    })
                    .collect()
            })
            .collect();
        let composite = Composite::new(&self.rules);
        let scored: Vec<([Option<f64>; 3], Option<f64>)> = per_province
            .iter()
            .map(|vals| {
                let values: Vec<Option<f64>> = vals.iter().map(|v| v.value).collect();
                composite.of(&values)
            })
            .collect();
        let composites: Vec<Option<f64>> = scored.iter().map(|s| s.1).collect();
        let ranks = competition_ranks(&composites);
        let counts: Vec<Vec<(i64, i64)>> = per_province
            .iter()
            .map(|vals| vals.iter().map(|v| (v.numerator, v.denominator)).collect())
            .collect();
        let intervals = rank_intervals(&self.rules, &counts);
        self.reference
            .provinces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (areas, composite) = scored[i];
                let (lo, hi) = if composite.is_some() {
                    intervals[i]
                } else {
                    (None, None)
                };
                LeagueRow {
                    period: period.label.clone(),
                    province_code: p.code.clone(),
                    province_name: p.name_vi.clone(),
                    indicators: per_province[i].clone(),
                    reception_score: areas[0],
                    deadlines_score: areas[1],
                    data_entry_score: areas[2],
                    composite,
                    tier: tier(&self.rules, composite).to_string(),
                    rank: ranks[i],
                    rank_lo: lo,
                    rank_hi: hi,
                }
            })
            .collect()
    }

    /// Scores one period as of a date.
    pub async fn score(&self, period: &str, as_of: Option<NaiveDate>) -> Result<Scores> {
        let period = Period::parse(period)?;
        let (ctx, as_of) = self.context(as_of).await?;
        let (pe, indicators) = self.indicators(&ctx, &period, as_of).await?;
        let league = self.league(&period, &indicators);
        Ok(Scores {
            period,
            as_of,
            effective_end: pe,
            indicators,
            league,
        })
    }
}

/// A period's counts: kept from an earlier computation, or a planned
/// query and the name to keep its counts under (none: not kept).
enum Planned {
    Kept(Vec<Count>),
    Query(DataFrame, Option<String>),
}

/// The indicator query's rows as counts; a null count is zero, and a
/// row without a province (units of no province) is left out.
fn counts_of(batches: &[RecordBatch]) -> Result<Vec<Count>> {
    let mut out = Vec::new();
    for b in batches {
        let text = |i: usize, what: &str| -> Result<&StringArray> {
            let c = b.column(i).as_any().downcast_ref::<StringArray>();
            c.with_context(|| what.to_string())
        };
        let int = |i: usize, what: &str| -> Result<&Int64Array> {
            let c = b.column(i).as_any().downcast_ref::<Int64Array>();
            c.with_context(|| what.to_string())
        };
        let (ind, prov) = (text(0, "indicator")?, text(1, "province")?);
        let (num, den) = (int(2, "numerator")?, int(3, "denominator")?);
        for i in (0..b.num_rows()).filter(|&i| prov.is_valid(i)) {
            out.push(Count {
                province_code: prov.value(i).to_string(),
                indicator: ind.value(i).to_string(),
                numerator: if num.is_null(i) { 0 } else { num.value(i) },
                denominator: if den.is_null(i) { 0 } else { den.value(i) },
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Tables for analysts and output formats

/// The league table as Arrow, with the columns section 10 names.
pub fn league_batch(scores: &Scores) -> Result<RecordBatch> {
    let rows = &scores.league;
    let mut fields = vec![
        Field::new("period", DataType::Utf8, false),
        Field::new("province_code", DataType::Utf8, false),
        Field::new("province_name", DataType::Utf8, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.period),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.province_code),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.province_name),
        )),
    ];
    for (k, ind) in INDICATORS.iter().enumerate() {
        fields.push(Field::new(ind.id, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.indicators[k].value),
        )));
        fields.push(Field::new(
            format!("{}_num", ind.id),
            DataType::Int64,
            false,
        ));
        columns.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.indicators[k].numerator),
        )));
        fields.push(Field::new(
            format!("{}_den", ind.id),
            DataType::Int64,
            false,
        ));
        columns.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.indicators[k].denominator),
        )));
    }
    for (name, get) in [
        (
            "reception_score",
            (|r: &LeagueRow| r.reception_score) as fn(&LeagueRow) -> Option<f64>,
        ),
        ("deadlines_score", |r| r.deadlines_score),
        ("data_entry_score", |r| r.data_entry_score),
        ("composite", |r| r.composite),
    ] {
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter(rows.iter().map(get))));
    }
    fields.push(Field::new("tier", DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| &r.tier),
    )));
    for (name, get) in [
        (
            "rank",
            (|r: &LeagueRow| r.rank) as fn(&LeagueRow) -> Option<u32>,
        ),
        ("rank_lo", |r| r.rank_lo),
        ("rank_hi", |r| r.rank_hi),
    ] {
        fields.push(Field::new(name, DataType::UInt32, true));
        columns.push(Arc::new(UInt32Array::from_iter(rows.iter().map(get))));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The indicator table in long form.
pub fn indicator_batch(values: &[IndicatorValue]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("period", DataType::Utf8, false),
        Field::new("province_code", DataType::Utf8, false),
        Field::new("indicator", DataType::Utf8, false),
        Field::new("numerator", DataType::Int64, false),
        Field::new("denominator", DataType::Int64, false),
        Field::new("value", DataType::Float64, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                values.iter().map(|v| &v.period),
            )),
            Arc::new(StringArray::from_iter_values(
                values.iter().map(|v| &v.province_code),
            )),
            Arc::new(StringArray::from_iter_values(
                values.iter().map(|v| &v.indicator),
            )),
            Arc::new(Int64Array::from_iter_values(
                values.iter().map(|v| v.numerator),
            )),
            Arc::new(Int64Array::from_iter_values(
                values.iter().map(|v| v.denominator),
            )),
            Arc::new(Float64Array::from_iter(values.iter().map(|v| v.value))),
        ],
    )?)
}

/// Registers `league_table` and `indicator_values` holding the given
/// scored periods (replacing earlier registrations).
pub fn register_scores(ctx: &SessionContext, scores: &[Scores]) -> Result<()> {
    let league: Vec<RecordBatch> = scores.iter().map(league_batch).collect::<Result<_>>()?;
    let long: Vec<RecordBatch> = scores
        .iter()
        .map(|s| indicator_batch(&s.indicators))
        .collect::<Result<_>>()?;
    for ((name, schema), batches) in scores_schemas()?.into_iter().zip([league, long]) {
        ctx.deregister_table(name)?;
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    }
    Ok(())
}

/// The tables [`register_scores`] makes.
pub const SCORES_TABLES: [&str; 2] = ["league_table", "indicator_values"];

/// The tables [`register_scores`] makes ([`SCORES_TABLES`]), with their
/// schemas.
pub fn scores_schemas() -> Result<[(&'static str, SchemaRef); 2]> {
    let empty = Scores {
        period: Period::parse("2022").expect("valid"),
        as_of: NaiveDate::MIN,
        effective_end: NaiveDate::MIN,
        indicators: Vec::new(),
        league: Vec::new(),
    };
    let [league, long] = SCORES_TABLES;
    Ok([
        (league, league_batch(&empty)?.schema()),
        (long, indicator_batch(&[])?.schema()),
    ])
}

impl Engine {
    /// The scores of each period, in a context made by [`Engine::context`]
    /// for `as_of`: what an analyst context carries as `league_table` and
    /// `indicator_values` (see [`register_scores`]).
    pub async fn score_periods(
        &self,
        ctx: &SessionContext,
        as_of: NaiveDate,
        periods: &[Period],
    ) -> Result<Vec<Scores>> {
        // Planned one after the other (each plan keeps its period's
        // parameters), then run: in turn in one process, where each query
        // already uses every core; a few at a time on a cluster, where the
        // client mostly waits for the scheduler and executors.
        let mut planned = Vec::with_capacity(periods.len());
        for p in periods {
            planned.push((p, self.plan_or_kept(ctx, p, as_of).await?));
        }
        let at_once = if self.cluster.is_some() { 3 } else { 1 };
        // The futures are made first: the compiler cannot prove a stream
        // that makes them in a closure `Send` (a higher-ranked lifetime
        // limit), and the SQL runtime spawns this.
        let runs: Vec<_> = planned
            .into_iter()
            .map(|(p, (pe, plan))| self.score_planned(p, as_of, pe, plan))
            .collect();
        futures::stream::iter(runs)
            .buffered(at_once)
            .try_collect()
            .await
    }

    async fn score_planned(
        &self,
        period: &Period,
        as_of: NaiveDate,
        effective_end: NaiveDate,
        planned: Planned,
    ) -> Result<Scores> {
        let counts = self.counts(period, as_of, planned).await?;
        let indicators = self.indicator_values(period, &counts);
        Ok(Scores {
            period: period.clone(),
            as_of,
            effective_end,
            league: self.league(period, &indicators),
            indicators,
        })
    }

    /// A context for analysts: the store, the views, and `league_table` and
    /// `indicator_values` for the given periods, scored now. (The SQL
    /// surface scores its contexts on first use instead.)
    pub async fn analyst_context(
        &self,
        as_of: Option<NaiveDate>,
        periods: &[Period],
    ) -> Result<(SessionContext, NaiveDate)> {
        let (ctx, as_of) = self.context(as_of).await?;
        let all = self.score_periods(&ctx, as_of, periods).await?;
        register_scores(&ctx, &all)?;
        Ok((ctx, as_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_indicator_has_a_label() {
        for ind in &INDICATORS {
            assert!(crate::present::i18n::has(ind.id), "{}", ind.id);
        }
    }

    #[test]
    fn periods_parse() {
        let q = Period::parse("2026-Q3").unwrap();
        assert_eq!(
            (q.start.to_string(), q.end.to_string()),
            ("2026-07-01".into(), "2026-09-30".into())
        );
        assert_eq!(q.previous().label, "2026-Q2");
        assert_eq!(
            Period::parse("2026-Q1").unwrap().previous().label,
            "2025-Q4"
        );
        let m = Period::parse("2024-02").unwrap();
        assert_eq!(m.end.to_string(), "2024-02-29");
        assert_eq!(m.previous().label, "2024-01");
        let y = Period::parse("2025").unwrap();
        assert_eq!(y.previous().label, "2024");
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            Period::last_complete_quarter(d("2026-11-15")).label,
            "2026-Q3"
        );
        assert_eq!(
            Period::last_complete_quarter(d("2026-09-30")).label,
            "2026-Q3"
        );
        assert_eq!(
            Period::last_complete_quarter(d("2026-02-01")).label,
            "2025-Q4"
        );
        for bad in [
            "2026-Q5", "2026-13", "26", "2026-3", "Q3-2026", "2026-Q", "",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wilson_intervals_of_few_and_many_records() {
        // 0 of 1: [0, z²/(1+z²)] = [0, 0.7935].
        let (lo, hi) = wilson_95(0, 1).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.793_450_685_6).abs() < 1e-9, "{hi}");
        let (lo, hi) = wilson_95(5, 12).unwrap();
        assert!((lo - 0.193_260_313_7).abs() < 1e-9 && (hi - 0.680_488_687_5).abs() < 1e-9);
        let (lo, hi) = wilson_95(95, 100).unwrap();
        assert!((lo - 0.888_249_530_8).abs() < 1e-9 && (hi - 0.978_456_320_8).abs() < 1e-9);
        assert_eq!(wilson_95(0, 0), None);
    }

    #[test]
    fn round2_is_half_away_from_zero() {
        assert_eq!(round2(84.995), 85.0);
        assert_eq!(round2(1.005), 1.01);
        assert_eq!(round2(-1.005), -1.01);
        assert_eq!(round2(70.0), 70.0);
        assert_eq!(round2(2.0 / 3.0 * 100.0), 66.67);
    }

    #[test]
    fn competition_ranking() {
        let r = competition_ranks(&[Some(90.0), Some(80.0), Some(80.0), None, Some(70.0)]);
        assert_eq!(r, [Some(1), Some(2), Some(2), None, Some(4)]);
    }

    #[test]
    fn weights_renormalise_over_present_indicators() {
        assert_eq!(area_score([(Some(1.0), 0.7), (None, 0.3)]), Some(100.0));
        assert_eq!(area_score([(None, 0.7), (None, 0.3)]), None);
        let s = area_score([(Some(1.0), 0.7), (Some(0.5), 0.3)]).unwrap();
        assert!((s - 85.0).abs() < 1e-9);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(nearest_rank(&v, 5.0), Some(50));
        assert_eq!(nearest_rank(&v, 95.0), Some(950));
        assert_eq!(nearest_rank(&[], 5.0), None);
    }
}
