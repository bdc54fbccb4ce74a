//! The quarterly report (`/report?quarter=2026-Q3`): one printable A4
//! document for the leadership's quarterly meeting. A cover with the
//! period, the as-of date and the store fingerprint; a summary in words;
//! the league table; the national picture; a page per province in tier D
//! or with an open alert; the inspection plan of the next quarter; the
//! methodology's short version and the data-quality caveats.
//!
//! The pages reuse the dashboards' panels (`panel_views`), so the report
//! shows exactly what the pages show. `vigil report` prints this page to
//! PDF with Chromium (`crate::serve::report`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::render::{self, TableView};
use super::{ApiResult, AppError, AppState, PageError, PageQuery, PanelView, Resolved};
use super::{lang_of, panel_views, plan_pages};
use crate::present::i18n::{self, Lang, t, tf};
use crate::present::table::Table;
use crate::score::scoring::PeriodKind;

#[derive(Debug, Deserialize, Default)]
pub struct ReportQuery {
    pub quarter: Option<String>,
    pub as_of: Option<String>,
    /// `vi` or `en`; without it, the reader's language.
    pub lang: Option<String>,
}

/// One province's pages: why it is in the report, and its panels.
#[derive(Serialize)]
struct ProvincePages {
    id: String,
    name: String,
    why: String,
    panels: Vec<PanelView>,
}

#[derive(Serialize)]
struct TocEntry {
    id: String,
    title: String,
}

/// The province dashboard's panels a report page shows.
const PROVINCE_PANELS: [&str; 4] = ["reasons", "change", "scores", "indicators"];

fn lang_for(q: &ReportQuery, headers: &HeaderMap) -> Lang {
    q.lang
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or_else(|| lang_of(headers))
}

pub async fn report_page(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Html<String>, PageError> {
    let lang = lang_for(&q, &headers);
    // Cached like the dashboards' pages: printing loads the page right
    // after `vigil report` has checked it.
    state
        .cached_page(lang, &uri, render_report(&state, &q, lang, &uri))
        .await
}

/// `/report.css?…`: the printed pages' running footer (period, as-of,
/// fingerprint, page numbers). A stylesheet of its own because the page's
/// Content-Security-Policy allows no inline styles.
pub async fn report_css(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let lang = lang_for(&q, &headers);
    let r = resolve(&state, &q).await?;
    let footer = format!(
        "vigil · {} · {}",
        i18n::period(lang, &r.period.label),
        render::provenance_line(lang, &r.provenance)
    );
    let css = format!(
        "@page {{ @bottom-left {{ content: \"{}\"; font: 8pt \"Noto Sans\", sans-serif; color: #555; }} \
         @bottom-right {{ content: counter(page) \" / \" counter(pages); font: 8pt \"Noto Sans\", sans-serif; color: #555; }} }}\n\
         @page cover {{ @bottom-left {{ content: none; }} @bottom-right {{ content: none; }} }}\n",
        css_string(&footer)
    );
    Ok(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response())
}

/// A CSS string's content: quotes, backslashes and line ends escaped.
fn css_string(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => format!("\\{c}"),
            '\n' | '\r' => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

async fn resolve(state: &AppState, q: &ReportQuery) -> ApiResult<Resolved> {
    let pq = PageQuery {
        period: q.quarter.clone(),
        province: None,
        as_of: q.as_of.clone(),
        format: None,
    };
    let r = state.resolve(&pq, false).await?;
    if r.period.kind != PeriodKind::Quarter {
        return Err(AppError::bad_request(format!(
            "the report covers a quarter: give ?quarter=2026-Q3, not '{}'",
            r.period.label
        )));
    }
    Ok(r)
}

async fn render_report(
    state: &AppState,
    q: &ReportQuery,
    lang: Lang,
    uri: &Uri,
) -> ApiResult<String> {
    let r = resolve(state, q).await?;
    let requested_as_of = q.as_of.as_deref().is_some_and(|s| !s.is_empty());
    let league_d = state.dashboard("league")?;
    let national_d = state.dashboard("national")?;
    let league = state.panel_tables(league_d, &r).await?.remove(0);
    let national_tables = state.panel_tables(national_d, &r).await?;
    let flags = national_d
        .panels
        .iter()
        .position(|p| p.id == "flags")
        .map(|i| national_tables[i].clone());
    let alerts = alerts_as_of(state, &r)?;
    let mut summary = summary(lang, &r, &league);
    summary.push(funnel_sentence(lang, flags.as_deref()));
    summary.push(alerts_sentence(lang, alerts.as_ref()));
    let provinces =
        province_pages(state, &r, lang, &league, alerts.as_ref(), requested_as_of).await?;
    let (plan_title, plan_table, plan_note) = plan_section(state, &r, lang).await;
    let mut toc = vec![
        entry("summary", t(lang, "report_summary")),
        entry("league", t(lang, "report_league")),
        entry("national", t(lang, "report_national")),
    ];
    toc.extend(provinces.iter().map(|p| entry(&p.id, p.name.clone())));
    toc.extend([
        entry("plan", plan_title.clone()),
        entry("method", t(lang, "report_method")),
    ]);
    let other = if lang == Lang::Vi { Lang::En } else { Lang::Vi };
    let qs = report_qs(&r, requested_as_of);
    let tpl = state
        .inner
        .templates
        .get_template("quarterly.html")
        .map_err(anyhow::Error::from)?;
    let alerted: Vec<String> = alerts
        .iter()
        .flat_map(|s| s.open.values())
        .filter_map(|a| a.found.province_code.clone())
        .collect();
    let html = tpl
        .render(minijinja::context! {
            lang => lang.code(),
            L => i18n::all(lang),
            title => t(lang, "report_title"),
            period_text => i18n::period(lang, &r.period.label),
            as_of_text => i18n::date(lang, r.as_of),
            counted_to_text => i18n::date(lang, r.period.end.min(r.as_of)),
            fingerprint => r.provenance.store_fingerprint.clone(),
            provenance => render::provenance_line(lang, &r.provenance),
            css_href => format!("/report.css?{qs}&lang={}", lang.code()),
            switch_href => format!("/report?{qs}&lang={}", other.code()),
            switch_label => t(lang, "switch_language"),
            toc => toc,
            summary => summary,
            league => panel_views(state, league_d, &r, lang, requested_as_of).await?,
            national => panel_views(state, national_d, &r, lang, requested_as_of).await?,
            provinces => provinces,
            plan_title => plan_title,
            plan_table => plan_table,
            plan_note => plan_note,
            method => method_lines(lang, state),
            caveats => caveats(lang, state, &r, &league).await?,
            alerted => alerted,
            uri => uri.to_string(),
        })
        .map_err(anyhow::Error::from)?;
    Ok(html)
}

fn entry(id: &str, title: String) -> TocEntry {
    TocEntry {
        id: id.to_string(),
        title,
    }
}

fn report_qs(r: &Resolved, requested_as_of: bool) -> String {
    let mut qs = format!("quarter={}", r.period.label);
    if requested_as_of {
        qs.push_str(&format!("&as_of={}", r.as_of));
    }
    qs
}

/// The alerts, when they were evaluated as of the report's own extract;
/// for an earlier as-of they are not known (the state keeps the latest).
fn alerts_as_of(state: &AppState, r: &Resolved) -> ApiResult<Option<crate::score::alerts::State>> {
    let s = crate::score::alerts::load_state(state.engine().store.root())?;
    Ok((s.evaluated.is_none() || s.evaluated == Some(r.as_of)).then_some(s))
}

/// A province with its composite, for lists in sentences.
fn named(lang: Lang, name: &str, v: f64, signed: bool) -> String {
    let n = i18n::number(lang, v, 2);
    if signed && v > 0.0 {
        format!("{name} (+{n})")
    } else {
        format!("{name} ({n})")
    }
}

/// The sentences on tiers, the best and worst, and the largest moves.
fn summary(lang: Lang, r: &Resolved, league: &Table) -> Vec<String> {
    let mut scored: Vec<(String, f64, Option<f64>)> = Vec::new();
    let mut tiers = std::collections::BTreeMap::<String, usize>::new();
    for row in &league.rows {
        *tiers.entry(league.get(row, "tier").plain()).or_default() += 1;
        if let Some(c) = league.get(row, "composite").as_f64() {
            let prev = league.get(row, "prev_composite").as_f64();
            scored.push((league.get(row, "province_name").plain(), c, prev));
        }
    }
    let count = |k: &str| tiers.get(k).copied().unwrap_or(0).to_string();
    let mut out = vec![tf(
        lang,
        "report_tiers",
        &[
            ("period", i18n::period(lang, &r.period.label)),
            ("a", count("A")),
            ("b", count("B")),
            ("c", count("C")),
            ("d", count("D")),
            ("na", count("insufficient")),
        ],
    )];
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    let list = |v: &[(String, f64, Option<f64>)]| {
        v.iter()
            .map(|(n, c, _)| named(lang, n, *c, false))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push(tf(
        lang,
        "report_best",
        &[("list", list(&scored[..scored.len().min(3)]))],
    ));
    let worst: Vec<_> = scored.iter().rev().take(3).cloned().collect();
    out.push(tf(lang, "report_worst", &[("list", list(&worst))]));
    let mut moves: Vec<(String, f64)> = scored
        .iter()
        .filter_map(|(n, c, p)| p.map(|p| (n.clone(), crate::score::scoring::round2(c - p))))
        .collect();
    moves.sort_by(|a, b| b.1.total_cmp(&a.1));
    let moved = |v: Vec<&(String, f64)>| {
        v.iter()
            .map(|(n, d)| named(lang, n, *d, true))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let prev = i18n::period(lang, &r.prev.label);
    let up: Vec<_> = moves.iter().filter(|m| m.1 > 0.0).take(3).collect();
    let down: Vec<_> = moves.iter().rev().filter(|m| m.1 < 0.0).take(3).collect();
    if !up.is_empty() {
        out.push(tf(
            lang,
            "report_up",
            &[("prev", prev.clone()), ("list", moved(up))],
        ));
    }
    if !down.is_empty() {
        out.push(tf(
            lang,
            "report_down",
            &[("prev", prev), ("list", moved(down))],
        ));
    }
    out
}

fn funnel_sentence(lang: Lang, flags: Option<&Table>) -> String {
    let below: Vec<String> = flags
        .map(|f| {
            f.rows
                .iter()
                .filter(|r| f.get(r, "flag").plain() == "true")
                .map(|r| {
                    format!(
                        "{} ({}%, n = {})",
                        f.get(r, "province_name").plain(),
                        i18n::number(lang, f.get(r, "rate").as_f64().unwrap_or(0.0) * 100.0, 1),
                        f.get(r, "n").plain()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if below.is_empty() {
        t(lang, "report_funnel_none")
    } else {
        tf(lang, "report_funnel", &[("list", below.join(", "))])
    }
}

fn alerts_sentence(lang: Lang, alerts: Option<&crate::score::alerts::State>) -> String {
    let Some(s) = alerts else {
        return t(lang, "report_alerts_unknown");
    };
    if s.evaluated.is_none() {
        return t(lang, "report_alerts_never");
    }
    if s.open.is_empty() {
        return t(lang, "report_alerts_none");
    }
    let list: Vec<String> = s
        .open
        .values()
        .map(|a| {
            let who = a
                .found
                .province_name
                .clone()
                .unwrap_or_else(|| t(lang, "national"));
            format!("{who}: {}", a.found.rule)
        })
        .collect();
    tf(
        lang,
        "report_alerts",
        &[("n", s.open.len().to_string()), ("list", list.join("; "))],
    )
}

/// A page per province in tier D or with an open alert, in league order.
async fn province_pages(
    state: &AppState,
    r: &Resolved,
    lang: Lang,
    league: &Table,
    alerts: Option<&crate::score::alerts::State>,
    requested_as_of: bool,
) -> ApiResult<Vec<ProvincePages>> {
    let d = state.dashboard("province")?;
    let mut pages = Vec::new();
    for row in &league.rows {
        let code = league.get(row, "province_code").plain();
        let rules: Vec<String> = alerts
            .iter()
            .flat_map(|s| s.open.values())
            .filter(|a| a.found.province_code.as_deref() == Some(code.as_str()))
            .map(|a| a.found.rule.clone())
            .collect();
        let tier = league.get(row, "tier").plain();
        if tier != "D" && rules.is_empty() {
            continue;
        }
        let mut why = Vec::new();
        if tier == "D" {
            why.push(t(lang, "tier_D"));
        }
        if !rules.is_empty() {
            why.push(format!("{}: {}", t(lang, "nav_alerts"), rules.join(", ")));
        }
        let rp = Resolved {
            province: Some(code.clone()),
            ..r.clone()
        };
        let panels = panel_views(state, d, &rp, lang, requested_as_of)
            .await?
            .into_iter()
            .filter(|p| PROVINCE_PANELS.contains(&p.id.as_str()))
            .collect();
        pages.push(ProvincePages {
            id: format!("province-{code}"),
            name: league.get(row, "province_name").plain(),
            why: why.join(" · "),
            panels,
        });
    }
    Ok(pages)
}

/// The next quarter's plan: its title, the chosen provinces, or why it
/// cannot be shown.
async fn plan_section(
    state: &AppState,
    r: &Resolved,
    lang: Lang,
) -> (String, Option<TableView>, Option<String>) {
    let next = plan_pages::next_quarter(&r.period);
    let title = format!(
        "{} — {}",
        t(lang, "plan_title"),
        i18n::period(lang, &next.label)
    );
    match state.inner.data.plan(&next.label, None, r.as_of).await {
        Ok(plan) => {
            let table =
                plan_pages::candidates_table(lang, &plan, crate::score::plan::Status::Chosen);
            let href = |code: &str| format!("/plan/{code}?quarter={}", next.label);
            (
                title,
                Some(render::table_view(lang, &[], &table, &href)),
                None,
            )
        }
        Err(e) => (title, None, Some(format!("{e:#}"))),
    }
}

/// The methodology in five sentences, with the thresholds in force.
fn method_lines(lang: Lang, state: &AppState) -> Vec<String> {
    let rules = &state.engine().rules;
    let num = |v: f64| i18n::number(lang, v, 0);
    vec![
        t(lang, "report_method_1"),
        t(lang, "report_method_2"),
        tf(
            lang,
            "report_method_3",
            &[
                ("a", num(rules.tiers.a)),
                ("b", num(rules.tiers.b)),
                ("c", num(rules.tiers.c)),
            ],
        ),
        tf(
            lang,
            "report_method_4",
            &[("replicates", rules.bootstrap.replicates.to_string())],
        ),
        t(lang, "report_method_5"),
    ]
}

/// What a reader should know about the data behind the figures.
async fn caveats(
    lang: Lang,
    state: &AppState,
    r: &Resolved,
    league: &Table,
) -> ApiResult<Vec<String>> {
    let cat = state.inner.data.catalog().await?;
    let mut out = Vec::new();
    let used: Vec<_> = cat
        .extracts
        .iter()
        .filter(|e| e.extract_date <= r.as_of)
        .collect();
    if let Some(last) = used.last() {
        let total = last.accepted() + last.quarantined();
        let share = if total > 0 {
            100.0 * last.quarantined() as f64 / total as f64
        } else {
            0.0
        };
        out.push(tf(
            lang,
            "report_caveat_extracts",
            &[
                ("n", used.len().to_string()),
                ("last", i18n::date(lang, last.extract_date)),
                ("quarantined", last.quarantined().to_string()),
                ("share", i18n::number(lang, share, 1)),
            ],
        ));
    }
    let insufficient: Vec<String> = league
        .rows
        .iter()
        .filter(|row| league.get(row, "tier").plain() == "insufficient")
        .map(|row| league.get(row, "province_name").plain())
        .collect();
    if !insufficient.is_empty() {
        out.push(tf(
            lang,
            "report_caveat_insufficient",
            &[("list", insufficient.join(", "))],
        ));
    }
    out.push(tf(
        lang,
        "report_caveat_few",
        &[("n", state.engine().rules.presentation.few_cases.to_string())],
    ));
    if r.period.end > r.as_of {
        out.push(tf(
            lang,
            "report_caveat_partial",
            &[("date", i18n::date(lang, r.as_of))],
        ));
    }
    out.push(render::provenance_line(lang, &r.provenance));
    Ok(out)
}
