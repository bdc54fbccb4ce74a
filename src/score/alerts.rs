//! Alerts: rules in `alerts.toml` evaluated each time an extract lands,
//! alerts that open and clear themselves, an outbox of what changed, and
//! its delivery to a webhook.
//!
//! - The rules file (shipped: `reference/alerts.toml`) is validated at
//!   start; every error names the file, the rule and the key.
//! - [`evaluate`] scores the last complete quarters as of an extract and
//!   lists the conditions that hold, per province (or nationally, for an
//!   extract's quarantine share).
//! - [`record`] holds them against the open alerts in
//!   `<store>/alerts/state.json`: a new one is raised, a held one keeps its
//!   first-seen extract and takes the new last-seen one, one that no longer
//!   holds is cleared. Each raise and clear is appended to
//!   `<store>/alerts/outbox.jsonl` with an id of its own.
//! - [`deliver`] POSTs the outbox lines not yet delivered to the webhook,
//!   in order, with retries and back-off, and moves the delivered count
//!   (`<store>/alerts/delivered`) after each success: a restart resumes
//!   where delivery stopped, and a receiver can drop a repeat by its id
//!   (a crash between a POST and the count is the only way to see one).
//!
//! None of this can fail an ingest: the ingest has committed before alerts
//! are evaluated, and an error here is reported, not raised.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::score::scoring::{Engine, INDICATORS, LeagueRow, Period};

/// The shipped rules.
pub const DEFAULT_RULES: &str = include_str!("../../reference/alerts.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    webhook: Option<Webhook>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

/// Where alerts are POSTed (plain HTTP, on the agency's network).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_attempts() -> u32 {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    kind: String,
    measure: Option<String>,
    value: Option<f64>,
    periods: Option<usize>,
    points: Option<f64>,
    indicator: Option<String>,
    z: Option<f64>,
    min_n: Option<i64>,
    days: Option<i64>,
    percent: Option<f64>,
}

/// A funnel alert's smallest denominator when the rule names none: the
/// rules file's "few cases" threshold.
const DEFAULT_FUNNEL_MIN_N: i64 = 10;

/// What an alert watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Below {
        measure: String,
        value: f64,
        periods: usize,
    },
    Fall {
        measure: String,
        points: f64,
    },
    FunnelBelow {
        indicator: String,
        z: f64,
        /// Fewer records than this say too little to alert on (a 0/2 is
        /// below any lower limit the normal approximation draws).
        min_n: i64,
    },
    TierToD,
    NoData {
        days: i64,
    },
    QuarantineShare {
        percent: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub condition: Condition,
}

/// The rules and the webhook.
#[derive(Debug, Clone)]
pub struct Alerts {
    pub rules: Vec<Rule>,
    pub webhook: Option<Webhook>,
}

const AREA_MEASURES: [&str; 4] = [
    "composite",
    "reception_score",
    "deadlines_score",
    "data_entry_score",
];

fn is_measure(m: &str) -> bool {
    AREA_MEASURES.contains(&m) || INDICATORS.iter().any(|i| i.id == m)
}

impl Alerts {
    /// The shipped rules.
    pub fn bundled() -> Alerts {
        Alerts::parse(DEFAULT_RULES, "reference/alerts.toml").expect("the shipped rules are valid")
    }

    /// Reads and checks a rules file.
    pub fn load(path: &Path) -> Result<Alerts> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the alert rules {}", path.display()))?;
        Alerts::parse(&text, &path.display().to_string())
    }

    /// Checks rules text; `file` names it in every error.
    pub fn parse(text: &str, file: &str) -> Result<Alerts> {
        let raw: RawFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        if let Some(w) = &raw.webhook
            && !w.url.starts_with("http://")
        {
            bail!(
                "{file}: [webhook] key 'url': '{}' must be an http:// URL",
                w.url
            );
        }
        let mut rules = Vec::new();
        for r in raw.rules {
            let at = |key: &str| format!("{file}: rule '{}': key '{key}'", r.id);
            let need_f = |v: Option<f64>, key: &str, lo: f64, hi: f64| -> Result<f64> {
                match v {
                    None => bail!("{} is required for kind '{}'", at(key), r.kind),
                    Some(x) if !(lo..=hi).contains(&x) => {
                        bail!("{}: {x} is outside {lo}–{hi}", at(key))
                    }
                    Some(x) => Ok(x),
                }
            };
            let measure = |key: &str, v: &Option<String>| -> Result<String> {
                match v {
                    Some(m) if is_measure(m) => Ok(m.clone()),
                    Some(m) => bail!(
                        "{}: '{m}' is not a measure (composite, an area score or an indicator id)",
                        at(key)
                    ),
                    None => bail!("{} is required for kind '{}'", at(key), r.kind),
                }
            };
            let condition = match r.kind.as_str() {
                "below" => Condition::Below {
                    measure: measure("measure", &r.measure)?,
                    value: need_f(r.value, "value", 0.0, 100.0)?,
                    periods: match r.periods.unwrap_or(1) {
                        n @ 1..=8 => n,
                        n => bail!("{}: {n} is outside 1–8", at("periods")),
                    },
                },
                "fall" => Condition::Fall {
                    measure: measure("measure", &r.measure)?,
                    points: need_f(r.points, "points", 0.0, 100.0)?,
                },
                "funnel_below" => Condition::FunnelBelow {
                    indicator: match measure("indicator", &r.indicator)? {
                        m if AREA_MEASURES.contains(&m.as_str()) => {
                            bail!(
                                "{}: a funnel needs an indicator id, not '{m}'",
                                at("indicator")
                            )
                        }
                        m => m,
                    },
                    z: need_f(Some(r.z.unwrap_or(3.09)), "z", 0.5, 6.0)?,
                    min_n: match r.min_n.unwrap_or(DEFAULT_FUNNEL_MIN_N) {
                        n @ 1..=1_000_000 => n,
                        n => bail!("{}: {n} is outside 1–1000000", at("min_n")),
                    },
                },
                "tier_to_d" => Condition::TierToD,
                "no_data" => Condition::NoData {
                    days: match r.days {
                        Some(d @ 1..=3650) => d,
                        Some(d) => bail!("{}: {d} is outside 1–3650", at("days")),
                        None => bail!("{} is required for kind 'no_data'", at("days")),
                    },
                },
                "quarantine_share" => Condition::QuarantineShare {
                    percent: need_f(r.percent, "percent", 0.0, 100.0)?,
                },
                other => bail!(
                    "{}: '{other}' is not a kind (below, fall, funnel_below, tier_to_d, no_data, quarantine_share)",
                    at("kind")
                ),
            };
            if rules.iter().any(|x: &Rule| x.id == r.id) {
                bail!("{}: the id is used twice", at("id"));
            }
            rules.push(Rule {
                id: r.id,
                condition,
            });
        }
        Ok(Alerts {
            rules,
            webhook: raw.webhook,
        })
    }
}

/// A condition that holds as of an extract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// `<rule>/<province or "national">`: the same alert across extracts.
    pub key: String,
    pub rule: String,
    pub province_code: Option<String>,
    pub province_name: Option<String>,
    /// The quarter (or extract) it is about.
    pub period: String,
    pub detail_vi: String,
    pub detail_en: String,
}

/// A measure of a league row on the 0–100 scale (indicators as percent).
fn measure(row: &LeagueRow, m: &str) -> Option<f64> {
    match m {
        "composite" => row.composite,
        "reception_score" => row.reception_score,
        "deadlines_score" => row.deadlines_score,
        "data_entry_score" => row.data_entry_score,
        id => row
            .indicators
            .iter()
            .find(|v| v.indicator == id)
            .and_then(|v| v.value)
            .map(|v| 100.0 * v),
    }
}

/// A finding of `rule` for a province (code, name), or nationally.
fn found(
    rule: &Rule,
    province: Option<(&str, &str)>,
    period: &str,
    vi: String,
    en: String,
) -> Found {
    let code = province.map(|(c, _)| c.to_string());
    Found {
        key: format!("{}/{}", rule.id, code.as_deref().unwrap_or("national")),
        rule: rule.id.clone(),
        province_code: code,
        province_name: province.map(|(_, n)| n.to_string()),
        period: period.to_string(),
        detail_vi: vi,
        detail_en: en,
    }
}

fn num(x: f64) -> String {
    format!("{x:.2}")
}

/// The conditions that hold as of `as_of` (an extract date).
pub async fn evaluate(engine: &Engine, alerts: &Alerts, as_of: NaiveDate) -> Result<Vec<Found>> {
    // How many quarters' leagues the province rules compare; none when
    // every rule reads something else (scoring a quarter of the national
    // volume takes seconds).
    let depth = alerts
        .rules
        .iter()
        .filter_map(|r| match &r.condition {
            Condition::QuarantineShare { .. } | Condition::NoData { .. } => None,
            Condition::Below { periods, .. } => Some(*periods),
            Condition::Fall { .. } | Condition::TierToD => Some(2),
            _ => Some(1),
        })
        .max()
        .unwrap_or(0);
    // The last complete quarters, latest first, within the coverage.
    let mut quarters: Vec<Period> = Vec::new();
    while quarters.len() < depth {
        let q = match quarters.last() {
            None => Period::last_complete_quarter(as_of),
            Some(last) => {
                let before = last.previous();
                if before.start < engine.rules.coverage_from() {
                    break;
                }
                before
            }
        };
        quarters.push(q);
    }
    let mut leagues = Vec::new();
    for q in &quarters {
        leagues.push(engine.score(&q.label, Some(as_of)).await?.league);
    }
    let mut out = Vec::new();
    for rule in &alerts.rules {
        out.extend(match &rule.condition {
            Condition::QuarantineShare { percent } => quarantine(engine, rule, as_of, *percent)?,
            Condition::NoData { days } => silent(engine, rule, as_of, *days).await?,
            _ => by_province(rule, &quarters, &leagues),
        });
    }
    Ok(out)
}

/// The province rules, over the leagues of the last quarters (latest first).
fn by_province(rule: &Rule, quarters: &[Period], leagues: &[Vec<LeagueRow>]) -> Vec<Found> {
    let q = quarters[0].label.as_str();
    let mut out = Vec::new();
    let Some(latest) = leagues.first() else {
        return out;
    };
    let row_in = |k: usize, code: &str| leagues.get(k)?.iter().find(|r| r.province_code == code);
    for row in latest {
        let code = row.province_code.as_str();
        match &rule.condition {
            Condition::Below {
                measure: m,
                value,
                periods,
            } => {
                let values: Vec<Option<f64>> = (0..*periods)
                    .map(|k| row_in(k, code).and_then(|r| measure(r, m)))
                    .collect();
                if values.len() == *periods && values.iter().all(|v| v.is_some_and(|v| v < *value))
                {
                    let v = num(values[0].unwrap_or_default());
                    out.push(found(
                        rule,
                        Some((&row.province_code, &row.province_name)),
                        q,
                        format!(
                            "{m} = {v} dưới {} trong {periods} quý liên tiếp",
                            num(*value)
                        ),
                        format!(
                            "{m} = {v}, below {} for {periods} quarters in a row",
                            num(*value)
                        ),
                    ));
                }
            }
            Condition::Fall { measure: m, points } => {
                let now = measure(row, m);
                let before = row_in(1, code).and_then(|r| measure(r, m));
                if let (Some(now), Some(before)) = (now, before)
                    && before - now > *points
                {
                    let (b, n) = (num(before), num(now));
                    out.push(found(
                        rule,
                        Some((&row.province_code, &row.province_name)),
                        q,
                        format!("{m} giảm từ {b} xuống {n} (hơn {} điểm)", num(*points)),
                        format!(
                            "{m} fell from {b} to {n} (more than {} points)",
                            num(*points)
                        ),
                    ));
                }
            }
            Condition::TierToD => {
                let before = row_in(1, code).map(|r| r.tier.as_str());
                if row.tier == "D" && before.is_some_and(|t| t != "D") {
                    let b = before.unwrap_or_default();
                    out.push(found(
                        rule,
                        Some((&row.province_code, &row.province_name)),
                        q,
                        format!("xếp loại chuyển từ {b} xuống D"),
                        format!("tier went from {b} to D"),
                    ));
                }
            }
            Condition::FunnelBelow {
                indicator,
                z,
                min_n,
            } => {
                if let Some(f) = funnel(rule, latest, row, (indicator, *z, *min_n), q) {
                    out.push(f);
                }
            }
            Condition::NoData { .. } | Condition::QuarantineShare { .. } => {}
        }
    }
    out
}

/// A province below the lower control limit p̄ − z·√(p̄(1−p̄)/n) of an
/// indicator, p̄ the national rate.
fn funnel(
    rule: &Rule,
    league: &[LeagueRow],
    row: &LeagueRow,
    (id, z, min_n): (&str, f64, i64),
    q: &str,
) -> Option<Found> {
    let value = |r: &LeagueRow| r.indicators.iter().find(|v| v.indicator == id).cloned();
    let (num_sum, den_sum) = league
        .iter()
        .filter_map(value)
        .fold((0i64, 0i64), |(n, d), v| {
            (n + v.numerator, d + v.denominator)
        });
    let v = value(row)?;
    if den_sum == 0 || v.denominator < min_n.max(1) {
        return None;
    }
    let mean = num_sum as f64 / den_sum as f64;
    let lower = crate::present::charts::control_limit(mean, v.denominator as f64, -z);
    let rate = v.value?;
    (rate < lower).then(|| {
        let (r, l, m) = (num(100.0 * rate), num(100.0 * lower), num(100.0 * mean));
        let (n, d) = (v.numerator, v.denominator);
        found(
            rule,
            Some((&row.province_code, &row.province_name)),
            q,
            format!(
                "{id} = {r} % ({n}/{d}) dưới giới hạn dưới {l} % của biểu đồ phễu (cả nước {m} %)"
            ),
            format!(
                "{id} = {r} % ({n}/{d}), below the funnel's lower limit {l} % (national {m} %)"
            ),
        )
    })
}

async fn silent(engine: &Engine, rule: &Rule, as_of: NaiveDate, days: i64) -> Result<Vec<Found>> {
    let (ctx, _) = engine.context(Some(as_of)).await?;
    let batches = ctx
        .sql(include_str!("../../queries/alerts/last_activity.sql"))
        .await?
        .collect()
        .await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| std::sync::Arc::new(datafusion::arrow::datatypes::Schema::empty()));
    let table = crate::present::table::Table::from_batches(&schema, &batches)?;
    let mut last: BTreeMap<String, NaiveDate> = BTreeMap::new();
    for r in &table.rows {
        if let (crate::present::table::Cell::Text(code), crate::present::table::Cell::Date(d)) =
            (&r[0], &r[1])
        {
            last.insert(code.clone(), *d);
        }
    }
    let mut out = Vec::new();
    for p in &engine.reference.provinces {
        let gap = last.get(&p.code).map(|d| (as_of - *d).num_days());
        if gap.is_none_or(|g| g >= days) {
            let since = last.get(&p.code).map_or("—".into(), |d| d.to_string());
            out.push(found(
                rule,
                Some((&p.code, &p.name_vi)),
                &as_of.to_string(),
                format!("không có vụ việc hay buổi tiếp nào trong {days} ngày (lần cuối: {since})"),
                format!("no case or reception session in {days} days (last: {since})"),
            ));
        }
    }
    Ok(out)
}

fn quarantine(engine: &Engine, rule: &Rule, as_of: NaiveDate, percent: f64) -> Result<Vec<Found>> {
    let cat = engine.store.catalog()?;
    let Some(e) = cat.extracts.iter().rev().find(|e| e.extract_date <= as_of) else {
        return Ok(Vec::new());
    };
    let (q, all) = (e.quarantined(), e.accepted() + e.quarantined());
    let share = if all == 0 {
        0.0
    } else {
        100.0 * q as f64 / all as f64
    };
    if share <= percent {
        return Ok(Vec::new());
    }
    let d = e.extract_date.to_string();
    Ok(vec![found(
        rule,
        None,
        &d,
        format!(
            "bản trích {d}: {q}/{all} dòng bị cách ly ({} %, ngưỡng {} %)",
            num(share),
            num(percent)
        ),
        format!(
            "extract {d}: {q} of {all} rows quarantined ({} %, threshold {} %)",
            num(share),
            num(percent)
        ),
    )])
}

// ---------------------------------------------------------------------
// State and outbox

/// An open (or just cleared) alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    #[serde(flatten)]
    pub found: Found,
    #[serde(with = "crate::reference::dates::iso")]
    pub first_seen: NaiveDate,
    #[serde(with = "crate::reference::dates::iso")]
    pub last_seen: NaiveDate,
    /// The extract as of which it no longer held.
    #[serde(with = "crate::reference::dates::iso_opt", default)]
    pub cleared: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// The extract last evaluated.
    #[serde(with = "crate::reference::dates::iso_opt", default)]
    pub evaluated: Option<NaiveDate>,
    pub open: BTreeMap<String, Alert>,
    /// The last cleared alerts, latest first (at most 100).
    pub cleared: Vec<Alert>,
}

/// One line of the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Unique: `<extract>/<raised|cleared>/<key>`.
    pub id: String,
    /// `raised` or `cleared`.
    pub event: String,
    #[serde(with = "crate::reference::dates::iso")]
    pub extract: NaiveDate,
    pub alert: Alert,
}

fn dir(store: &Path) -> PathBuf {
    store.join("alerts")
}

pub fn load_state(store: &Path) -> Result<State> {
    let path = dir(store).join("state.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Holds what holds as of `extract` against the open alerts: raises the
/// new, keeps the held, clears the rest; appends each raise and clear to
/// the outbox before the state moves (so a crash between the two repeats
/// an event, which its id lets a receiver drop, and never loses one).
/// Returns the events. Evaluating an extract already evaluated does
/// nothing.
pub fn record(store: &Path, extract: NaiveDate, found: Vec<Found>) -> Result<Vec<Event>> {
    std::fs::create_dir_all(dir(store))?;
    let mut state = load_state(store)?;
    if state.evaluated.is_some_and(|d| d >= extract) {
        return Ok(Vec::new());
    }
    let mut events = Vec::new();
    let mut open = BTreeMap::new();
    for f in found {
        let alert = match state.open.remove(&f.key) {
            Some(a) => Alert {
                found: f,
                last_seen: extract,
                ..a
            },
            None => {
                let a = Alert {
                    found: f,
                    first_seen: extract,
                    last_seen: extract,
                    cleared: None,
                };
                events.push(event("raised", extract, &a));
                a
            }
        };
        open.insert(alert.found.key.clone(), alert);
    }
    for (_, mut a) in std::mem::take(&mut state.open) {
        a.cleared = Some(extract);
        events.push(event("cleared", extract, &a));
        state.cleared.insert(0, a);
    }
    state.cleared.truncate(100);
    state.open = open;
    state.evaluated = Some(extract);
    append_outbox(store, &events)?;
    replace(
        &dir(store).join("state.json"),
        &serde_json::to_vec_pretty(&state)?,
    )?;
    Ok(events)
}

fn event(kind: &str, extract: NaiveDate, a: &Alert) -> Event {
    Event {
        id: format!("{extract}/{kind}/{}", a.found.key),
        event: kind.to_string(),
        extract,
        alert: a.clone(),
    }
}

fn append_outbox(store: &Path, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for e in events {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir(store).join("outbox.jsonl"))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Evaluates the latest extract and records it: what `vigil ingest` runs
/// after its commit and `vigil alerts` on demand.
pub async fn run(engine: &Engine, alerts: &Alerts) -> Result<Vec<Event>> {
    let cat = engine.store.catalog()?;
    let Some(latest) = cat.extracts.last().map(|e| e.extract_date) else {
        return Ok(Vec::new());
    };
    let found = evaluate(engine, alerts, latest).await?;
    record(engine.store.root(), latest, found)
}

// ---------------------------------------------------------------------
// Delivery

/// Outbox lines (complete ones only).
fn outbox_lines(store: &Path) -> Result<Vec<String>> {
    let text = match std::fs::read_to_string(dir(store).join("outbox.jsonl")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    Ok(complete.lines().map(String::from).collect())
}

fn delivered_count(store: &Path) -> usize {
    std::fs::read_to_string(dir(store).join("delivered"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// POSTs the undelivered outbox lines in order; each is retried with a
/// doubling pause (from `pause`) up to the webhook's attempts, and
/// delivery stops at the first that still fails (to resume next time, in
/// order). Returns how many were delivered.
pub async fn deliver(store: &Path, webhook: &Webhook, pause: Duration) -> Result<usize> {
    let lines = outbox_lines(store)?;
    let mut done = delivered_count(store);
    let mut sent = 0;
    while done < lines.len() {
        let mut wait = pause;
        let mut ok = false;
        for attempt in 1..=webhook.attempts.max(1) {
            match post_json(&webhook.url, &lines[done]).await {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        "alert delivery to {} (attempt {attempt}): {e:#}",
                        webhook.url
                    );
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        if !ok {
            break;
        }
        done += 1;
        sent += 1;
        replace(&dir(store).join("delivered"), done.to_string().as_bytes())?;
    }
    Ok(sent)
}

/// Delivers the outbox every few seconds while the server runs.
pub async fn delivery_loop(store: PathBuf, webhook: Webhook) {
    loop {
        if let Err(e) = deliver(&store, &webhook, Duration::from_secs(1)).await {
            tracing::warn!("alert delivery: {e:#}");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// A JSON POST over HTTP/1.1; `Ok` on a 2xx answer.
async fn post_json(url: &str, body: &str) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let io = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .context("no answer within 10 s")??;
    let status = String::from_utf8_lossy(&reply)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(0);
    if (200..300).contains(&status) {
        Ok(())
    } else {
        bail!("answered {status}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::scoring::IndicatorValue;

    fn row(code: &str, composite: f64, tier: &str, d2: (i64, i64)) -> LeagueRow {
        LeagueRow {
            period: "2026-Q3".into(),
            province_code: code.into(),
            province_name: format!("P{code}"),
            indicators: vec![IndicatorValue {
                period: "2026-Q3".into(),
                province_code: code.into(),
                indicator: "d2_settlement_on_time".into(),
                numerator: d2.0,
                denominator: d2.1,
                value: (d2.1 > 0).then(|| d2.0 as f64 / d2.1 as f64),
            }],
            reception_score: Some(composite),
            deadlines_score: Some(composite),
            data_entry_score: Some(composite),
            composite: Some(composite),
            tier: tier.into(),
            rank: None,
            rank_lo: None,
            rank_hi: None,
        }
    }

    fn keys(found: &[Found]) -> Vec<String> {
        let mut k: Vec<String> = found.iter().map(|f| f.key.clone()).collect();
        k.sort();
        k
    }

    #[test]
    fn each_province_rule_fires_and_clears() {
        let rules = Alerts::bundled().rules;
        let rule = |id: &str| rules.iter().find(|r| r.id == id).unwrap().clone();
        let quarters = vec![
            Period::parse("2026-Q3").unwrap(),
            Period::parse("2026-Q2").unwrap(),
        ];
        // Q3 first, then Q2.
        let leagues = vec![
            vec![
                row("01", 45.0, "D", (90, 100)),
                row("02", 60.0, "C", (20, 100)),
                row("03", 48.0, "D", (95, 100)),
                row("04", 90.0, "A", (99, 100)),
            ],
            vec![
                row("01", 49.0, "D", (90, 100)),
                row("02", 75.0, "B", (90, 100)),
                row("03", 55.0, "C", (95, 100)),
                row("04", 91.0, "A", (99, 100)),
            ],
        ];
        let low = by_province(&rule("composite_low"), &quarters, &leagues);
        assert_eq!(keys(&low), ["composite_low/01"], "03 was above 50 in Q2");
        let fall = by_province(&rule("composite_fall"), &quarters, &leagues);
        assert_eq!(keys(&fall), ["composite_fall/02"]);
        let d = by_province(&rule("tier_d"), &quarters, &leagues);
        assert_eq!(keys(&d), ["tier_d/03"], "01 was D already");
        let funnel = by_province(&rule("settlement_funnel"), &quarters, &leagues);
        assert_eq!(keys(&funnel), ["settlement_funnel/02"]);
        assert!(funnel[0].detail_en.contains("(20/100)"), "{:?}", funnel[0]);
        // Below the limit on too few records says nothing: 0/2 and 3/9 are
        // left alone, 3/10 is not.
        let few = vec![
            vec![
                row("01", 90.0, "A", (900, 1000)),
                row("02", 90.0, "A", (0, 2)),
                row("03", 90.0, "A", (3, 9)),
                row("04", 90.0, "A", (3, 10)),
            ],
            leagues[1].clone(),
        ];
        let funnel = by_province(&rule("settlement_funnel"), &quarters, &few);
        assert_eq!(keys(&funnel), ["settlement_funnel/04"]);
        // A quarter later all is well: nothing holds.
        let better = vec![
            vec![
                row("01", 70.0, "B", (90, 100)),
                row("02", 72.0, "B", (88, 100)),
                row("03", 66.0, "C", (95, 100)),
                row("04", 90.0, "A", (99, 100)),
            ],
            leagues[0].clone(),
        ];
        for id in [
            "composite_low",
            "composite_fall",
            "tier_d",
            "settlement_funnel",
        ] {
            assert!(
                by_province(&rule(id), &quarters, &better).is_empty(),
                "{id}"
            );
        }
    }

    fn finding(key: &str) -> Found {
        Found {
            key: key.into(),
            rule: key.split('/').next().unwrap().into(),
            province_code: Some(key.split('/').nth(1).unwrap().into()),
            province_name: None,
            period: "2026-Q3".into(),
            detail_vi: "x".into(),
            detail_en: "x".into(),
        }
    }

    #[test]
    fn alerts_open_hold_and_clear_with_one_outbox_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let d = |s: &str| crate::reference::dates::parse_date(s).unwrap();
        let e1 = record(
            dir.path(),
            d("2026-08-31"),
            vec![finding("a/01"), finding("b/02")],
        )
        .unwrap();
        assert_eq!(e1.len(), 2);
        assert!(e1.iter().all(|e| e.event == "raised"));
        // The same extract again changes nothing.
        assert!(
            record(dir.path(), d("2026-08-31"), vec![])
                .unwrap()
                .is_empty()
        );
        let e2 = record(
            dir.path(),
            d("2026-09-30"),
            vec![finding("a/01"), finding("c/03")],
        )
        .unwrap();
        let kinds: Vec<(String, String)> = e2
            .iter()
            .map(|e| (e.event.clone(), e.alert.found.key.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("raised".into(), "c/03".into()),
                ("cleared".into(), "b/02".into())
            ]
        );
        let s = load_state(dir.path()).unwrap();
        let a = &s.open["a/01"];
        assert_eq!(
            (a.first_seen, a.last_seen),
            (d("2026-08-31"), d("2026-09-30"))
        );
        assert_eq!(s.cleared[0].cleared, Some(d("2026-09-30")));
        let lines = outbox_lines(dir.path()).unwrap();
        assert_eq!(lines.len(), 4);
        let ids: std::collections::BTreeSet<String> = lines
            .iter()
            .map(|l| serde_json::from_str::<Event>(l).unwrap().id)
            .collect();
        assert_eq!(ids.len(), 4, "every event has an id of its own");
    }

    #[test]
    fn an_invalid_rules_file_names_the_file_the_rule_and_the_key() {
        for (text, needle) in [
            (
                "[[rule]]\nid = \"x\"\nkind = \"below\"\nvalue = 50\n",
                "rules.toml: rule 'x': key 'measure' is required",
            ),
            (
                "[[rule]]\nid = \"x\"\nkind = \"below\"\nmeasure = \"nope\"\nvalue = 50\n",
                "rule 'x': key 'measure': 'nope' is not a measure",
            ),
            (
                "[[rule]]\nid = \"x\"\nkind = \"fall\"\nmeasure = \"composite\"\npoints = 500\n",
                "rule 'x': key 'points': 500 is outside",
            ),
            (
                "[[rule]]\nid = \"x\"\nkind = \"sideways\"\n",
                "rule 'x': key 'kind': 'sideways' is not a kind",
            ),
            (
                "[[rule]]\nid = \"x\"\nkind = \"tier_to_d\"\ncolour = 1\n",
                "unknown field `colour`",
            ),
            ("[webhook]\nurl = \"ftp://x\"\n", "[webhook] key 'url'"),
            (
                "[[rule]]\nid = \"x\"\nkind = \"tier_to_d\"\n[[rule]]\nid = \"x\"\nkind = \"tier_to_d\"\n",
                "used twice",
            ),
        ] {
            let e = Alerts::parse(text, "rules.toml").unwrap_err().to_string();
            assert!(e.contains(needle) && e.starts_with("rules.toml"), "{e}");
        }
    }

    /// A receiver on loopback that answers 503 to its first `failures`
    /// requests and 200 after, and keeps the bodies of the accepted ones.
    fn receiver(failures: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = got.clone();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let mut c = conn.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head and the Content-Length body.
                loop {
                    let k = c.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..k]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if body.len() >= len {
                            if n >= failures {
                                kept.lock().unwrap().push(body.to_string());
                                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                                    .unwrap();
                            } else {
                                c.write_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
                                    .unwrap();
                            }
                            break;
                        }
                    }
                    if k == 0 {
                        break;
                    }
                }
            }
        });
        (url, got)
    }

    #[tokio::test]
    async fn the_webhook_gets_each_event_once_after_failed_attempts_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let d = |s: &str| crate::reference::dates::parse_date(s).unwrap();
        record(
            dir.path(),
            d("2026-08-31"),
            vec![finding("a/01"), finding("b/02")],
        )
        .unwrap();
        let (url, got) = receiver(3);
        let hook = Webhook { url, attempts: 2 };
        let pause = Duration::from_millis(10);
        // Two attempts per event: the first event fails twice, delivery
        // stops in order and nothing is counted as delivered.
        assert_eq!(deliver(dir.path(), &hook, pause).await.unwrap(), 0);
        assert_eq!(delivered_count(dir.path()), 0);
        // Next round (a restart reads the same files): the third attempt
        // fails, then everything goes through.
        assert_eq!(deliver(dir.path(), &hook, pause).await.unwrap(), 2);
        record(dir.path(), d("2026-09-30"), vec![finding("a/01")]).unwrap();
        assert_eq!(deliver(dir.path(), &hook, pause).await.unwrap(), 1);
        assert_eq!(
            deliver(dir.path(), &hook, pause).await.unwrap(),
            0,
            "nothing twice"
        );
        let bodies = got.lock().unwrap().clone();
        let events: Vec<Event> = bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "2026-08-31/raised/a/01",
                "2026-08-31/raised/b/02",
                "2026-09-30/cleared/b/02"
            ]
        );
    }
}
