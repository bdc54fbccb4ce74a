//! The inspectorate's pages: the plan of a quarter (capacity as a
//! parameter), each province's evidence pack with its inspection history
//! beside its composite, their downloads and JSON.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::render::{self, TableView};
use super::{ApiResult, AppError, AppState, Link, OptionView, PageError, download, lang_of};
use crate::present::charts::{Chart, Series};
use crate::present::i18n::{self, Lang, t};
use crate::present::table::{Cell, Table};
use crate::score::plan::{Evidence, Plan, Status, plan_table};
use crate::score::scoring::Period;

#[derive(Debug, Deserialize, Default)]
pub struct PlanQuery {
    pub quarter: Option<String>,
    pub capacity: Option<usize>,
    pub as_of: Option<String>,
}

#[derive(Serialize)]
struct Section {
    id: String,
    title: String,
    count: Option<usize>,
    note: Option<String>,
    svg: Option<String>,
    table: Option<TableView>,
    downloads: Vec<Link>,
}

struct Resolved {
    quarter: Period,
    as_of: NaiveDate,
    requested_as_of: bool,
    provenance: crate::score::scoring::Provenance,
}

impl AppState {
    async fn resolve_plan(&self, q: &PlanQuery) -> ApiResult<Resolved> {
        let requested = match q.as_of.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(crate::reference::dates::parse_date(s).ok_or_else(|| {
                AppError::bad_request(format!("as_of '{s}' is not a date YYYY-MM-DD"))
            })?),
        };
        let cat = self.inner.data.catalog().await?;
        let as_of = cat.effective_as_of(requested).ok_or_else(|| {
            AppError::not_found("the store holds no extract on or before that date")
        })?;
        let quarter = match q.quarter.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => crate::score::plan::parse_quarter(s)
                .map_err(|e| AppError::bad_request(format!("{e:#}")))?,
            None => next_quarter(&Period::last_complete_quarter(as_of)),
        };
        let p = quarter.previous();
        if p.start > as_of {
            return Err(AppError::not_found(format!(
                "cannot plan {}: its scored quarter {} starts after the as-of date {as_of}",
                quarter.label, p.label
            )));
        }
        self.engine()
            .effective_end(&p, as_of)
            .map_err(|e| AppError::not_found(format!("{e:#}")))?;
        if let Some(c) = q.capacity
            && !(1..=34).contains(&c)
        {
            return Err(AppError::bad_request(format!(
                "capacity {c}: give a number of provinces from 1 to 34"
            )));
        }
        Ok(Resolved {
            quarter,
            as_of,
            requested_as_of: requested.is_some(),
            provenance: self.engine().provenance(&cat, as_of),
        })
    }
}

pub(super) fn next_quarter(p: &Period) -> Period {
    Period::parse(&format!(
        "{}-Q{}",
        (p.end + chrono::Duration::days(1)).format("%Y"),
        (chrono::Datelike::month(&(p.end + chrono::Duration::days(1))) - 1) / 3 + 1
    ))
    .expect("a quarter")
}

fn quarter_options(
    lang: Lang,
    first: NaiveDate,
    as_of: NaiveDate,
    chosen: &str,
) -> Vec<OptionView> {
    let mut out = Vec::new();
    let mut q = next_quarter(&Period::last_complete_quarter(
        as_of + chrono::Duration::days(92),
    ));
    while q.previous().start > as_of {
        q = q.previous();
    }
    while q.previous().start >= first && out.len() < 40 {
        out.push(OptionView {
            selected: q.label == chosen,
            label: i18n::period(lang, &q.label),
            value: q.label.clone(),
        });
        q = q.previous();
    }
    out
}

pub(super) fn candidates_table(lang: Lang, plan: &Plan, status: Status) -> Table {
    let full = plan_table(plan);
    let keep = [
        "order",
        "province_code",
        "province_name",
        "risk",
        "term_composite",
        "term_decline",
        "term_backlog",
        "term_recency",
        "composite",
        "last_inspection",
        "months_since_inspection",
        "override_applied",
    ];
    let idx: Vec<usize> = keep.iter().filter_map(|c| full.col(c)).collect();
    let mut columns: Vec<String> = idx.iter().map(|&i| full.columns[i].clone()).collect();
    columns.push("reasons".into());
    let rows = plan
        .provinces
        .iter()
        .zip(&full.rows)
        .filter(|(c, _)| c.status == status)
        .map(|(c, row)| {
            let mut r: Vec<Cell> = idx.iter().map(|&i| row[i].clone()).collect();
            r.push(Cell::Text(c.reasons(lang).join(" ")));
            r
        })
        .collect();
    Table { columns, rows }
}

pub async fn plan_page(
    State(state): State<AppState>,
    Query(q): Query<PlanQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&headers);
    render_plan(&state, &q, lang, &uri)
        .await
        .map(Html)
        .map_err(|e| PageError(e, lang))
}

fn keep_as_of(r: &Resolved) -> String {
    if r.requested_as_of {
        format!("&as_of={}", r.as_of)
    } else {
        String::new()
    }
}

async fn render_plan(state: &AppState, q: &PlanQuery, lang: Lang, uri: &Uri) -> ApiResult<String> {
    let r = state.resolve_plan(q).await?;
    let plan = state
        .inner
        .data
        .plan(&r.quarter.label, q.capacity, r.as_of)
        .await?;
    let quarter = r.quarter.label.clone();
    let keep = keep_as_of(&r);
    let href = move |code: &str| format!("/plan/{code}?quarter={quarter}{keep}");
    let qs = format!(
        "quarter={}&capacity={}{}",
        plan.quarter,
        plan.capacity,
        keep_as_of(&r)
    );
    let mut sections = Vec::new();
    for (status, key, note) in [
        (Status::Chosen, "plan_chosen", None),
        (Status::MissedCut, "plan_missed", None),
        (
            Status::Excluded,
            "plan_excluded",
            Some(i18n::tf(
                lang,
                "plan_reason_override",
                &[(
                    "override",
                    i18n::number(lang, state.engine().rules.plan.override_risk, 2),
                )],
            )),
        ),
    ] {
        let table = candidates_table(lang, &plan, status);
        sections.push(Section {
            id: key.to_string(),
            title: t(lang, key),
            count: Some(table.rows.len()),
            note,
            svg: None,
            table: Some(render::table_view(lang, &[], &table, &href)),
            downloads: Vec::new(),
        });
    }
    sections[0].downloads = ["csv", "xlsx"]
        .iter()
        .map(|f| Link {
            href: format!("/plan/export.{f}?{qs}"),
            label: f.to_uppercase(),
            active: false,
        })
        .collect();
    let meta = vec![
        format!(
            "{}: {}",
            t(lang, "quarter"),
            i18n::period(lang, &plan.quarter)
        ),
        format!(
            "{}: {} ({})",
            t(lang, "scored_from"),
            i18n::period(lang, &plan.scored_period),
            i18n::period(lang, &plan.previous_period)
        ),
        format!("{}: {}", t(lang, "as_of"), i18n::date(lang, r.as_of)),
        format!("{}: {}", t(lang, "capacity"), plan.capacity),
    ];
    state.render_report(
        lang,
        uri,
        minijinja::context! {
            name => "plan",
            title => t(lang, "plan_title"),
            meta => meta,
            form_action => "/plan",
            quarters => quarter_options(lang, state.engine().rules.coverage_from(), r.as_of, &plan.quarter),
            capacity => plan.capacity,
            as_of_value => if r.requested_as_of { r.as_of.to_string() } else { String::new() },
            sections => sections,
            api_href => format!("/api/plan?{qs}"),
        },
    )
}

pub async fn evidence_page(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<PlanQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&headers);
    render_evidence(&state, &code, &q, lang, &uri)
        .await
        .map(Html)
        .map_err(|e| PageError(e, lang))
}

impl AppState {
    async fn evidence_for(
        &self,
        code: &str,
        q: &PlanQuery,
    ) -> ApiResult<(Resolved, Arc<Evidence>)> {
        if !self.engine().reference.is_current(code) {
            return Err(AppError::not_found(format!(
                "no province with code '{code}' (see /api/provinces)"
            )));
        }
        let r = self.resolve_plan(q).await?;
        let ev = self
            .inner
            .data
            .evidence(&r.quarter.label, code, r.as_of)
            .await?;
        Ok((r, ev))
    }
}

/// The province's composite per quarter up to P, with its inspections
/// marked where they started.
async fn history_chart(
    state: &AppState,
    lang: Lang,
    ev: &Evidence,
    as_of: NaiveDate,
) -> ApiResult<Option<String>> {
    let p =
        Period::parse(&ev.scored_period).map_err(|e| AppError::bad_request(format!("{e:#}")))?;
    let mut periods = vec![p.clone()];
    for _ in 0..7 {
        let prev = periods.last().expect("one").previous();
        periods.push(prev);
    }
    periods.reverse();
    let session = state.inner.data.session(as_of).await?;
    let outcome = session.ensure(state.engine(), &periods).await;
    let mut values = Vec::new();
    let mut shown = Vec::new();
    for per in &periods {
        if let Some(Ok(s)) = outcome.get(&per.label) {
            shown.push(per.clone());
            values.push(
                s.league
                    .iter()
                    .find(|l| l.province_code == ev.province_code)
                    .and_then(|l| l.composite),
            );
        }
    }
    if shown.is_empty() {
        return Ok(None);
    }
    let t_ins = &ev.inspections;
    let mut markers = Vec::new();
    for row in &t_ins.rows {
        let Cell::Date(d) = t_ins.get(row, "started_on") else {
            continue;
        };
        if let Some(i) = shown.iter().position(|p| p.start <= *d && *d <= p.end) {
            let per = &shown[i];
            let frac =
                (*d - per.start).num_days() as f64 / ((per.end - per.start).num_days() + 1) as f64;
            markers.push((
                i as f64 - 0.5 + frac,
                t(lang, &t_ins.get(row, "kind").plain()),
            ));
        }
    }
    let chart = Chart::Line {
        title: t(lang, "composite_history"),
        categories: shown.iter().map(|p| i18n::period(lang, &p.label)).collect(),
        y_label: t(lang, "composite"),
        series: vec![Series {
            name: t(lang, "composite"),
            values,
        }],
        markers,
    };
    Ok(Some(crate::present::charts::svg_inline(&chart)?))
}

async fn render_evidence(
    state: &AppState,
    code: &str,
    q: &PlanQuery,
    lang: Lang,
    uri: &Uri,
) -> ApiResult<String> {
    let (r, ev) = state.evidence_for(code, q).await?;
    let no_links = |_: &str| String::new();
    let qs = format!("quarter={}{}", ev.quarter, keep_as_of(&r));
    let mut sections = vec![Section {
        id: "history".into(),
        title: t(lang, "composite_history"),
        count: None,
        note: None,
        svg: history_chart(state, lang, &ev, r.as_of).await?,
        table: Some(render::table_view(lang, &[], &ev.inspections, &no_links)),
        downloads: Vec::new(),
    }];
    for (id, table) in &ev.lists {
        sections.push(Section {
            id: id.clone(),
            title: t(lang, id),
            count: Some(table.rows.len()),
            note: None,
            svg: None,
            table: Some(render::table_view(lang, &[], table, &no_links)),
            downloads: ["csv", "xlsx"]
                .iter()
                .map(|f| Link {
                    href: format!("/plan/{code}/{id}.{f}?{qs}"),
                    label: f.to_uppercase(),
                    active: false,
                })
                .collect(),
        });
    }
    let name = state
        .engine()
        .reference
        .province(code)
        .map(|p| p.name_vi.clone());
    let meta = vec![
        format!(
            "{}: {}",
            t(lang, "quarter"),
            i18n::period(lang, &ev.quarter)
        ),
        format!(
            "{}: {} ({} {})",
            t(lang, "period"),
            i18n::period(lang, &ev.scored_period),
            t(lang, "counted_to"),
            i18n::date(lang, ev.counted_to.parse().unwrap_or(r.as_of))
        ),
        format!("{}: {}", t(lang, "as_of"), i18n::date(lang, r.as_of)),
    ];
    state.render_report(
        lang,
        uri,
        minijinja::context! {
            name => "plan",
            title => t(lang, "evidence_title"),
            province_name => name,
            meta => meta,
            form_action => format!("/plan/{code}"),
            quarters => quarter_options(lang, state.engine().rules.coverage_from(), r.as_of, &ev.quarter),
            capacity => Option::<usize>::None,
            as_of_value => if r.requested_as_of { r.as_of.to_string() } else { String::new() },
            sections => sections,
            api_href => format!("/api/plan/{code}?{qs}"),
        },
    )
}

/// `/plan/export.csv|xlsx`: the whole plan, every province with its terms.
pub async fn plan_export(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<PlanQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let lang = lang_of(&headers);
    let ext = file
        .strip_prefix("export.")
        .ok_or_else(|| AppError::not_found("expected /plan/export.csv or /plan/export.xlsx"))?;
    let r = state.resolve_plan(&q).await?;
    let plan = state
        .inner
        .data
        .plan(&r.quarter.label, q.capacity, r.as_of)
        .await?;
    download::table_file(
        lang,
        &t(lang, "plan_title"),
        &format!("plan-{}", plan.quarter),
        ext,
        &plan_table(&plan),
        &r.provenance,
    )
}

/// `/plan/{code}/{list}.csv|xlsx|json`: one evidence list.
pub async fn evidence_file(
    State(state): State<AppState>,
    Path((code, file)): Path<(String, String)>,
    Query(q): Query<PlanQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let lang = lang_of(&headers);
    let (list, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| AppError::not_found("expected <list>.<csv|xlsx|json>"))?;
    let (r, ev) = state.evidence_for(&code, &q).await?;
    let prov = r.provenance;
    let table = if list == "inspections" {
        ev.inspections.as_ref()
    } else {
        ev.list(list).ok_or_else(|| {
            AppError::not_found(format!(
                "no evidence list '{list}' ({})",
                crate::score::plan::EVIDENCE.map(|e| e.0).join(", ")
            ))
        })?
    };
    download::table_file(
        lang,
        &t(lang, list),
        &format!("evidence-{code}-{list}-{}", ev.quarter),
        ext,
        table,
        &prov,
    )
}

pub async fn api_plan(
    State(state): State<AppState>,
    Query(q): Query<PlanQuery>,
) -> ApiResult<Response> {
    let r = state.resolve_plan(&q).await?;
    let plan = state
        .inner
        .data
        .plan(&r.quarter.label, q.capacity, r.as_of)
        .await?;
    let mut resp = axum::Json(plan.as_ref().clone()).into_response();
    download::mark(&mut resp, &r.provenance);
    Ok(resp)
}

pub async fn api_evidence(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<PlanQuery>,
) -> ApiResult<Response> {
    let (r, ev) = state.evidence_for(&code, &q).await?;
    let mut resp = axum::Json(ev.as_ref().clone()).into_response();
    download::mark(&mut resp, &r.provenance);
    Ok(resp)
}
