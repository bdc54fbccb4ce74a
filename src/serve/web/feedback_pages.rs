//! The data-quality feedback page, `/d/feedback?extract=&province=`, and
//! its downloads, `/d/feedback/<name>.xlsx|csv` (what they hold:
//! [`crate::score::feedback`]). Quarantine detail is for the inspectorate and
//! administrators: other roles are refused.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::{ApiResult, AppError, AppState, Link, OptionView, PageError, lang_of};
use crate::present::i18n::Lang;
use crate::present::table::Cell;
use crate::score::feedback::{Feedback, Report, Scope, files};
use crate::serve::auth::Principal;
use crate::serve::sqlguard::Role;

#[derive(Debug, Deserialize, Default)]
pub(crate) struct FeedbackQuery {
    extract: Option<String>,
    province: Option<String>,
}

/// The inspectorate and administrators read feedback; others are refused.
fn allowed(who: &Principal) -> ApiResult<()> {
    match who.role {
        Role::Inspectorate | Role::Admin => Ok(()),
        other => Err(AppError {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "data-quality feedback is for the inspectorate and administrators, not the {} role",
                other.name()
            ),
        }),
    }
}

/// The extract asked for (default: the latest stored), the scope, and
/// every stored extract date, newest first.
async fn resolve(
    state: &AppState,
    q: &FeedbackQuery,
) -> ApiResult<(NaiveDate, Scope, Vec<NaiveDate>)> {
    let cat = state.inner.data.catalog().await?;
    let mut dates: Vec<NaiveDate> = cat.extracts.iter().map(|e| e.extract_date).collect();
    dates.reverse();
    let extract = match q.extract.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => crate::reference::dates::parse_date(s).ok_or_else(|| {
            AppError::bad_request(format!("extract '{s}' is not a date YYYY-MM-DD"))
        })?,
        None => *dates.first().ok_or_else(|| {
            AppError::not_found("the store holds no extract yet; run `vigil ingest` first")
        })?,
    };
    if !dates.contains(&extract) {
        return Err(AppError::not_found(format!(
            "the store holds no extract dated {extract}"
        )));
    }
    let scope = Scope::parse(q.province.as_deref());
    if let Scope::Province(code) = &scope
        && !state.engine().reference.is_current(code)
    {
        return Err(AppError::not_found(format!(
            "no province with code '{code}' (the 34 codes in force since 2025-07-01 are listed at /api/provinces)"
        )));
    }
    Ok((extract, scope, dates))
}

async fn report(
    state: &AppState,
    q: &FeedbackQuery,
    lang: Lang,
) -> ApiResult<(Report, Scope, Vec<NaiveDate>)> {
    let (extract, scope, dates) = resolve(state, q).await?;
    let feedback = Feedback::load(state.engine(), extract).await?;
    let report = feedback.report(lang, state.engine(), &scope)?;
    Ok((report, scope, dates))
}

/// The report as a page shows it: numbers and dates written the reader's
/// way (the files keep them typed).
fn for_reading(lang: Lang, mut report: Report) -> Report {
    for s in &mut report.sections {
        for cell in s.rows.iter_mut().flatten() {
            *cell = match &*cell {
                Cell::Float(v) => Cell::Text(crate::present::i18n::number(lang, *v, 2)),
                Cell::Date(d) => Cell::Text(crate::present::i18n::date(lang, *d)),
                other => other.clone(),
            };
        }
    }
    report
}

fn province_options(state: &AppState, lang: Lang, scope: &Scope) -> Vec<OptionView> {
    let national = OptionView {
        value: "national".into(),
        label: crate::present::i18n::t(lang, "national"),
        selected: *scope == Scope::National,
    };
    let provinces = state
        .engine()
        .reference
        .provinces
        .iter()
        .map(|p| OptionView {
            value: p.code.clone(),
            label: format!("{} — {}", p.code, p.name_vi),
            selected: scope.code() == Some(p.code.as_str()),
        });
    std::iter::once(national).chain(provinces).collect()
}

async fn render(
    state: &AppState,
    q: &FeedbackQuery,
    lang: Lang,
    uri: &axum::http::Uri,
) -> ApiResult<String> {
    let (report, scope, dates) = report(state, q, lang).await?;
    let qs = format!(
        "extract={}&province={}",
        report.extract_date,
        scope.code().unwrap_or("national")
    );
    let downloads: Vec<Link> = ["xlsx", "csv"]
        .into_iter()
        .map(|ext| Link {
            href: format!("/d/feedback/report.{ext}?{qs}"),
            label: ext.to_uppercase(),
            active: false,
        })
        .collect();
    let extracts: Vec<OptionView> = dates
        .iter()
        .map(|d| OptionView {
            value: d.to_string(),
            label: crate::present::i18n::date(lang, *d),
            selected: *d == report.extract_date,
        })
        .collect();
    let tpl = state
        .inner
        .templates
        .get_template("feedback.html")
        .map_err(anyhow::Error::from)?;
    let html = tpl
        .render(minijinja::context! {
            name => "feedback",
            title => report.title.clone(),
            province_name => report.recipient.clone(),
            extract_label => crate::score::feedback::words::pick(lang, "Bản trích xuất", "Extract"),
            extracts => extracts,
            provinces => province_options(state, lang, &scope),
            downloads => downloads,
            report => for_reading(lang, report),
            ..state.chrome(lang, "feedback", None, uri)
        })
        .map_err(anyhow::Error::from)?;
    Ok(html)
}

/// `GET /d/feedback`: the report of one extract for one province (or the
/// national report), in the reader's language.
pub(crate) async fn feedback_page(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<FeedbackQuery>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&headers);
    allowed(&who).map_err(|e| PageError(e, lang))?;
    render(&state, &q, lang, &uri)
        .await
        .map(Html)
        .map_err(|e| PageError(e, lang))
}

/// `GET /d/feedback/<any>.xlsx|csv`: the same report as a file named for
/// its province, as `vigil feedback` writes it.
pub(crate) async fn feedback_file(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(file): Path<String>,
    Query(q): Query<FeedbackQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    allowed(&who)?;
    let lang = lang_of(&headers);
    let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    let ct = match ext {
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "csv" => "text/csv; charset=utf-8",
        _ => {
            return Err(AppError::not_found(format!(
                "no format '{ext}' (xlsx or csv)"
            )));
        }
    };
    let (report, scope, _) = report(&state, &q, lang).await?;
    let body = match ext {
        "xlsx" => files::xlsx(lang, &report)?,
        _ => files::csv(lang, &report)?,
    };
    let stem = files::file_stem(lang, &state.engine().reference, &report, &scope);
    Ok((
        [
            (header::CONTENT_TYPE, ct.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{stem}.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}
