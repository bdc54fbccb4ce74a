//! The web application: server-rendered dashboards, their downloads, and
//! the JSON API behind them (`vigil serve`).
//!
//! Every page is a dashboard definition (`dashboards/`): the handler
//! resolves the parameters (period, province, as-of), makes sure the
//! periods it needs are scored, runs each panel's named query with the
//! parameters bound as values, and renders the panels. `data` owns the
//! scoring sessions and caches, `render` the formatting.

pub mod data;
mod download;
mod feedback_pages;
mod plan_pages;
mod quarterly;
pub mod render;
mod security;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveDate;
use datafusion::scalar::ScalarValue;
use serde::{Deserialize, Serialize};
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::present::dashboards::{self, Dashboard, Kind, Param};
use crate::present::i18n::{self, Lang, t};
use crate::score::scoring::{Engine, Period, PeriodKind};
use data::{Data, ScoreSession, Table};

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// What guards the service: users (none: open, as the demo runs), the SQL
/// guard, the audit log.
#[derive(Default)]
pub struct Security {
    pub auth: Option<Arc<crate::serve::auth::Auth>>,
    pub guard: Option<Arc<crate::serve::sqlguard::Guard>>,
    pub audit: Option<Arc<crate::serve::audit::AuditLog>>,
    /// Served over HTTPS: the session cookie is marked `Secure`.
    pub secure_cookies: bool,
}

struct Inner {
    auth: Option<Arc<crate::serve::auth::Auth>>,
    guard: Option<Arc<crate::serve::sqlguard::Guard>>,
    audit: Option<Arc<crate::serve::audit::AuditLog>>,
    secure_cookies: bool,
    data: Data,
    catalog: dashboards::Catalog,
    templates: minijinja::Environment<'static>,
    labels: BTreeMap<&'static str, BTreeMap<String, String>>,
}

impl AppState {
    pub fn new(engine: Engine, catalog: dashboards::Catalog) -> anyhow::Result<AppState> {
        AppState::secured(engine, catalog, Security::default())
    }

    /// The state with users, the SQL guard and the audit log.
    pub fn secured(
        engine: Engine,
        catalog: dashboards::Catalog,
        security: Security,
    ) -> anyhow::Result<AppState> {
        crate::present::charts::init_fonts();
        let mut env = minijinja::Environment::new();
        env.add_template("top.html", include_str!("../../../templates/top.html"))?;
        env.add_template(
            "macros.html",
            include_str!("../../../templates/macros.html"),
        )?;
        env.add_template("page.html", include_str!("../../../templates/page.html"))?;
        env.add_template(
            "report.html",
            include_str!("../../../templates/report.html"),
        )?;
        env.add_template("login.html", include_str!("../../../templates/login.html"))?;
        env.add_template("sql.html", include_str!("../../../templates/sql.html"))?;
        env.add_template("error.html", include_str!("../../../templates/error.html"))?;
        env.add_template(
            "alerts.html",
            include_str!("../../../templates/alerts.html"),
        )?;
        env.add_template(
            "quarterly.html",
            include_str!("../../../templates/quarterly.html"),
        )?;
        env.add_template(
            "feedback.html",
            include_str!("../../../templates/feedback.html"),
        )?;
        let mut labels = BTreeMap::new();
        for lang in [Lang::Vi, Lang::En] {
            labels.insert(lang.code(), i18n::all(lang));
        }
        Ok(AppState {
            inner: Arc::new(Inner {
                auth: security.auth,
                guard: security.guard,
                audit: security.audit,
                secure_cookies: security.secure_cookies,
                data: Data::new(engine),
                catalog,
                templates: env,
                labels,
            }),
        })
    }

    fn engine(&self) -> &Engine {
        &self.inner.data.engine
    }

    /// Runs every panel query of every dashboard's definition through the
    /// planner against the store, so that a query naming a missing table or
    /// column stops the start with the file and the reason. Does nothing on
    /// an empty store.
    pub async fn check_dashboards(&self) -> anyhow::Result<()> {
        let cat = self.inner.data.catalog().await?;
        let Some(as_of) = cat.effective_as_of(None) else {
            return Ok(());
        };
        let session = self.inner.data.session(as_of).await?;
        let mut problems = Vec::new();
        for d in self.inner.catalog.dashboards.values() {
            for p in &d.panels {
                let sql = self.inner.catalog.query(&p.query).unwrap_or_default();
                match session.columns(sql).await {
                    Ok(cols) => {
                        let missing: Vec<String> = dashboards::needed_columns(p)
                            .into_iter()
                            .filter(|c| !cols.contains(c))
                            .collect();
                        if !missing.is_empty() {
                            problems.push(format!(
                                "{}: panel '{}': query '{}' returns no column {} (a {} panel needs it)",
                                d.file,
                                p.id,
                                p.query,
                                missing.join(", "),
                                p.kind.name()
                            ));
                        }
                    }
                    Err(e) => problems.push(format!(
                        "{}: panel '{}': query '{}' does not plan: {e}",
                        d.file, p.id, p.query
                    )),
                }
            }
        }
        if !problems.is_empty() {
            anyhow::bail!("broken dashboard definitions:\n  {}", problems.join("\n  "));
        }
        Ok(())
    }
}

/// The router: pages, downloads, API, static files and health.
pub fn app(state: AppState) -> Router {
    // Analysts' SQL has bounds of its own (the worker's preparation, then
    // the query's timeout); this layer is only a backstop for it. Pages
    // and answers get a minute.
    let sql = Router::new()
        .route("/api/sql", axum::routing::post(security::api_sql))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(300),
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/d/league") }))
        .route("/d/feedback", get(feedback_pages::feedback_page))
        .route("/d/feedback/{file}", get(feedback_pages::feedback_file))
        .route("/d/{name}", get(dashboard_page))
        .route("/d/{name}/{file}", get(panel_file))
        .route("/province/{code}", get(province_redirect))
        .route("/lang/{code}", get(set_language))
        .route("/healthz", get(healthz))
        .route("/static/{file}", get(static_file))
        .route("/plan", get(plan_pages::plan_page))
        .route("/plan/{code}", get(plan_or_export))
        .route("/plan/{code}/{file}", get(plan_pages::evidence_file))
        .route("/api/plan", get(plan_pages::api_plan))
        .route("/report", get(quarterly::report_page))
        .route("/report.css", get(quarterly::report_css))
        .route("/api/plan/{code}", get(plan_pages::api_evidence))
        .route(
            "/login",
            get(security::login_page).post(security::login_submit),
        )
        .route("/logout", get(security::logout).post(security::logout))
        .route("/sql", get(security::console))
        .route("/api/dashboards", get(api_dashboards))
        .route("/api/d/{name}", get(api_dashboard))
        .route("/api/league", get(api_league))
        .route("/api/indicators", get(api_indicators))
        .route("/api/provinces", get(api_provinces))
        .route("/api/province/{code}/change", get(api_change))
        .route("/api/alerts", get(api_alerts))
        .route("/alerts", get(alerts_page))
        .route("/api/status", get(api_status))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(60),
        ))
        .merge(sql)
        .fallback(|| async { AppError::not_found("no such page") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::require_login,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(security::security_headers))
        // Fastest: on two cores the compression is a visible share of a
        // cached page's cost, and the size gain of higher levels is small.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// The client's address, as the handlers see it (over plain TCP or TLS).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for ClientAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> ClientAddr {
        ClientAddr(*s.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, crate::serve::tls::TlsListener>,
    > for ClientAddr
{
    fn connect_info(
        s: axum::serve::IncomingStream<'_, crate::serve::tls::TlsListener>,
    ) -> ClientAddr {
        ClientAddr(*s.remote_addr())
    }
}

/// Binds `addr`, prints the URL, and serves until Ctrl-C; over HTTPS
/// with `tls`.
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("vigil is serving on {scheme}://{local}/  (Ctrl-C stops it)");
    use std::io::Write;
    std::io::stdout().flush().ok();
    // The client's address reaches the handlers: logins are throttled per
    // address as well as per user.
    let service = app(state).into_make_service_with_connect_info::<ClientAddr>();
    let stop = async {
        tokio::signal::ctrl_c().await.ok();
    };
    match tls {
        Some(config) => {
            let listener = crate::serve::tls::TlsListener::new(listener, config)?;
            axum::serve(listener, service)
                .with_graceful_shutdown(stop)
                .await?
        }
        None => {
            axum::serve(listener, service)
                .with_graceful_shutdown(stop)
                .await?
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Errors

/// The one error type of the handlers: a status and a message a reader can
/// act on. Internal errors are logged in full and shown briefly.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    message: String,
}

impl AppError {
    pub fn bad_request(m: impl Into<String>) -> AppError {
        AppError {
            status: StatusCode::BAD_REQUEST,
            message: m.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> AppError {
        AppError {
            status: StatusCode::NOT_FOUND,
            message: m.into(),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> AppError {
        tracing::error!("{e:#}");
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("internal error: {e:#}"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "status": self.status.as_u16() });
        (self.status, axum::Json(body)).into_response()
    }
}

/// An error shown as a page (the same status, in the reader's language).
pub(crate) struct PageError(AppError, Lang);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageError(e, lang) = self;
        let html = minijinja::Environment::new()
            .template_from_str(include_str!("../../../templates/error.html"))
            .and_then(|tpl| {
                tpl.render(minijinja::context! {
                    lang => lang.code(),
                    title => t(lang, "error"),
                    status => e.status.as_u16(),
                    message => e.message,
                    back => t(lang, "back_to_league"),
                })
            })
            .unwrap_or_else(|_| "error".to_string());
        (e.status, Html(html)).into_response()
    }
}

pub(crate) type ApiResult<T> = Result<T, AppError>;

// ---------------------------------------------------------------------------
// Parameters

#[derive(Debug, Deserialize, Default, Clone)]
pub struct PageQuery {
    pub period: Option<String>,
    pub province: Option<String>,
    pub as_of: Option<String>,
    pub format: Option<String>,
}

pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix("lang="))
        .find_map(Lang::parse)
        .unwrap_or_default()
}

/// Parameters checked against the store: the effective as-of, the period
/// (default: the last whole quarter), the one before, and the province.
#[derive(Clone)]
struct Resolved {
    as_of: NaiveDate,
    provenance: crate::score::scoring::Provenance,
    period: Period,
    prev: Period,
    province: Option<String>,
    session: Arc<ScoreSession>,
}

impl AppState {
    async fn resolve(&self, q: &PageQuery, needs_province: bool) -> ApiResult<Resolved> {
        let requested = match q.as_of.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(crate::reference::dates::parse_date(s).ok_or_else(|| {
                AppError::bad_request(format!("as_of '{s}' is not a date YYYY-MM-DD"))
            })?),
        };
        let cat = self.inner.data.catalog().await?;
        let as_of = cat.effective_as_of(requested).ok_or_else(|| {
            AppError::not_found(match requested {
                Some(d) => format!("the store holds no extract dated on or before {d}"),
                None => "the store holds no extract yet; run `vigil ingest` first".to_string(),
            })
        })?;
        let period = match q.period.as_deref().filter(|s| !s.is_empty()) {
            None => Period::last_complete_quarter(as_of),
            Some(s) => Period::parse(s).map_err(|e| AppError::bad_request(format!("{e:#}")))?,
        };
        self.engine()
            .effective_end(&period, as_of)
            .map_err(|e| AppError::not_found(format!("{e:#}")))?;
        let province = match q.province.as_deref().filter(|s| !s.is_empty()) {
            None if needs_province => {
                return Err(AppError::bad_request(
                    "this page needs a province: add ?province=<code>",
                ));
            }
            None => None,
            Some(code) => {
                if !self.engine().reference.is_current(code) {
                    return Err(AppError::not_found(format!(
                        "no province with code '{code}' (the 34 codes in force since 2025-07-01 are listed at /api/provinces)"
                    )));
                }
                Some(code.to_string())
            }
        };
        let session = self.inner.data.session(as_of).await?;
        Ok(Resolved {
            as_of,
            provenance: self.engine().provenance(&cat, as_of),
            prev: period.previous(),
            period,
            province,
            session,
        })
    }

    fn dashboard(&self, name: &str) -> ApiResult<&Dashboard> {
        self.inner
            .catalog
            .dashboards
            .get(name)
            .ok_or_else(|| AppError::not_found(format!("no dashboard '{name}'")))
    }

    /// Scores the periods a dashboard needs and runs its panels' queries.
    async fn panel_tables(&self, d: &Dashboard, r: &Resolved) -> ApiResult<Vec<Arc<Table>>> {
        if d.takes(Param::Period) {
            let mut periods = vec![r.period.clone(), r.prev.clone()];
            let mut p = r.prev.clone();
            for _ in 1..d.history {
                p = p.previous();
                periods.push(p.clone());
            }
            let outcome = r.session.ensure(self.engine(), &periods).await;
            if let Some(Err(e)) = outcome.get(&r.period.label) {
                return Err(AppError::not_found(e.clone()));
            }
        }
        let mut params: Vec<(String, ScalarValue)> = vec![
            (
                "period".into(),
                ScalarValue::Utf8(Some(r.period.label.clone())),
            ),
            (
                "prev_period".into(),
                ScalarValue::Utf8(Some(r.prev.label.clone())),
            ),
            (
                "as_of".into(),
                ScalarValue::Date32(Some(crate::reference::dates::day_number(r.as_of))),
            ),
        ];
        if let Some(p) = &r.province {
            params.push(("province".into(), ScalarValue::Utf8(Some(p.clone()))));
        }
        let mut out = Vec::new();
        for p in &d.panels {
            let sql = self
                .inner
                .catalog
                .query(&p.query)
                .ok_or_else(|| AppError::not_found(format!("no query '{}'", p.query)))?;
            // Bind only the placeholders the query uses: DataFusion rejects
            // none of the others, but the cache key should not vary with them.
            let used = dashboards::placeholders(sql);
            let bound: Vec<(String, ScalarValue)> = params
                .iter()
                .filter(|(k, _)| used.contains(k))
                .cloned()
                .collect();
            out.push(
                self.inner
                    .data
                    .result(&r.session, &p.query, sql, &bound)
                    .await?,
            );
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Pages

#[derive(Serialize)]
pub(crate) struct Link {
    href: String,
    label: String,
    active: bool,
}

#[derive(Serialize)]
pub(crate) struct OptionView {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct GroupView {
    label: String,
    options: Vec<OptionView>,
}

#[derive(Serialize)]
struct PanelView {
    id: String,
    title: String,
    kind: &'static str,
    svg: Option<String>,
    table: Option<render::TableView>,
    league: Option<Vec<render::LeagueRowView>>,
    tiles: Option<Vec<render::TileView>>,
    reasons: Option<Vec<String>>,
    change: Option<Vec<String>>,
    downloads: Vec<Link>,
    empty: bool,
}

/// `?period=…&province=…&as_of=…` for links that keep the page's state.
fn query_string(r: &Resolved, requested_as_of: bool, province: Option<&str>) -> String {
    let mut parts = vec![format!("period={}", r.period.label)];
    if let Some(p) = province {
        parts.push(format!("province={p}"));
    }
    if requested_as_of {
        parts.push(format!("as_of={}", r.as_of));
    }
    parts.join("&")
}

/// Percent-encodes a URL component (for the `back` link of the language
/// switch).
pub fn encode_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn period_groups(lang: Lang, first: NaiveDate, as_of: NaiveDate, chosen: &str) -> Vec<GroupView> {
    let mut groups = Vec::new();
    for (kind, label) in [
        (
            PeriodKind::Quarter,
            if lang == Lang::Vi { "Quý" } else { "Quarters" },
        ),
        (
            PeriodKind::Year,
            if lang == Lang::Vi { "Năm" } else { "Years" },
        ),
        (
            PeriodKind::Month,
            if lang == Lang::Vi { "Tháng" } else { "Months" },
        ),
    ] {
        let mut options = Vec::new();
        let start = match kind {
            PeriodKind::Quarter => {
                Period::last_complete_quarter(as_of + chrono::Duration::days(92))
            }
            PeriodKind::Year => Period::parse(&chrono::Datelike::year(&as_of).to_string())
                .ok()
                .unwrap(),
            PeriodKind::Month => Period::parse(&as_of.format("%Y-%m").to_string())
                .ok()
                .unwrap(),
        };
        let mut p = start;
        while p.end >= first && options.len() < 80 {
            if p.start <= as_of {
                options.push(OptionView {
                    selected: p.label == chosen,
                    label: i18n::period(lang, &p.label),
                    value: p.label.clone(),
                });
            }
            p = p.previous();
        }
        groups.push(GroupView {
            label: label.to_string(),
            options,
        });
    }
    groups
}

async fn dashboard_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&headers);
    state
        .cached_page(lang, &uri, render_dashboard(&state, &name, &q, lang, &uri))
        .await
}

/// The words and waterfall of why the province's composite moved since
/// the period before.
async fn change_panel(
    state: &AppState,
    lang: Lang,
    r: &Resolved,
) -> ApiResult<(Vec<String>, Option<String>)> {
    let Some(code) = r.province.as_deref() else {
        return Ok((Vec::new(), None));
    };
    let c =
        crate::score::explain::change(state.engine(), code, &r.period.label, None, Some(r.as_of))
            .await
            .map_err(|e| AppError::bad_request(format!("{e:#}")))?;
    let words = crate::score::explain::words(lang, &c);
    let svg = match (c.composite_from, c.composite_to) {
        (Some(from), Some(to)) => {
            use crate::present::charts::Bar;
            let mut bars = vec![Bar::Total(i18n::period(lang, &c.period_from), from)];
            for k in c.contributions.iter().filter(|k| k.points != 0.0) {
                bars.push(Bar::Step(t(lang, &k.indicator), k.points));
            }
            if c.residue != 0.0 {
                bars.push(Bar::Step(t(lang, "rounding_residue"), c.residue));
            }
            bars.push(Bar::Total(i18n::period(lang, &c.period_to), to));
            Some(crate::present::charts::waterfall_svg(&bars, &|v| {
                i18n::number(lang, v, 2)
            }))
        }
        _ => None,
    };
    Ok((words, svg))
}

/// The dashboard's panels rendered for a page (and for the quarterly
/// report, which shows several dashboards' panels on its pages).
async fn panel_views(
    state: &AppState,
    d: &Dashboard,
    r: &Resolved,
    lang: Lang,
    requested_as_of: bool,
) -> ApiResult<Vec<PanelView>> {
    let tables = state.panel_tables(d, r).await?;
    let keep_as_of = if requested_as_of {
        format!("&as_of={}", r.as_of)
    } else {
        String::new()
    };
    let period_label = r.period.label.clone();
    let href =
        move |code: &str| format!("/d/province?province={code}&period={period_label}{keep_as_of}");
    let qs = query_string(r, requested_as_of, r.province.as_deref());
    let mut panels = Vec::new();
    for (p, table) in d.panels.iter().zip(&tables) {
        let mut v = PanelView {
            id: p.id.clone(),
            title: p.title.get(lang).to_string(),
            kind: p.kind.name(),
            svg: None,
            table: None,
            league: None,
            tiles: None,
            reasons: None,
            change: None,
            downloads: Vec::new(),
            empty: table.rows.is_empty(),
        };
        let mut formats = vec!["csv", "xlsx"];
        match p.kind {
            Kind::League => v.league = Some(render::league_rows(lang, table, &href)),
            Kind::Table => {
                let rules = Some(&state.engine().rules);
                v.table = Some(render::table_view_marked(
                    lang, &p.columns, table, &href, rules,
                ))
            }
            Kind::Tiles => v.tiles = Some(render::tiles(lang, table, &href)),
            Kind::Reasons => v.reasons = Some(render::reasons(lang, &state.engine().rules, table)),
            Kind::Change => {
                let (words, svg) = change_panel(state, lang, r).await?;
                v.empty = words.is_empty();
                (v.change, v.svg) = (Some(words), svg);
                formats = Vec::new();
            }
            Kind::Line | Kind::Bar | Kind::Funnel => {
                if let Some(chart) = render::chart(lang, p, table, r.province.as_deref()) {
                    v.svg = Some(render::chart_svg(&chart)?);
                    formats = vec!["svg", "png", "csv", "xlsx"];
                }
            }
        }
        v.downloads = formats
            .into_iter()
            .map(|f| Link {
                href: format!("/d/{}/{}.{f}?{qs}", d.name, p.id),
                label: f.to_uppercase(),
                active: false,
            })
            .collect();
        if let (Kind::Change, Some(code)) = (p.kind, r.province.as_deref()) {
            v.downloads.push(Link {
                href: format!("/api/province/{code}/change?to={}", r.period.label),
                label: "JSON".into(),
                active: false,
            });
        }
        panels.push(v);
    }
    Ok(panels)
}

async fn render_dashboard(
    state: &AppState,
    name: &str,
    q: &PageQuery,
    lang: Lang,
    uri: &axum::http::Uri,
) -> ApiResult<String> {
    let d = state.dashboard(name)?;
    let r = state.resolve(q, d.takes(Param::Province)).await?;
    let requested_as_of = q.as_of.as_deref().is_some_and(|s| !s.is_empty());
    let panels = panel_views(state, d, &r, lang, requested_as_of).await?;
    let qs = query_string(&r, requested_as_of, r.province.as_deref());
    let province_name = r.province.as_deref().and_then(|c| {
        state
            .engine()
            .reference
            .province(c)
            .map(|p| p.name_vi.clone())
    });
    let provinces: Vec<OptionView> = state
        .engine()
        .reference
        .provinces
        .iter()
        .map(|p| OptionView {
            value: p.code.clone(),
            label: p.name_vi.clone(),
            selected: r.province.as_deref() == Some(p.code.as_str()),
        })
        .collect();
    let counted_to = r.period.end.min(r.as_of);
    let tpl = state
        .inner
        .templates
        .get_template("page.html")
        .map_err(anyhow::Error::from)?;
    let html = tpl
        .render(minijinja::context! {
            name => d.name.clone(),
            title => d.title.get(lang),
            province_name => province_name,
            province => r.province.clone(),
            provinces => provinces,
            takes_period => d.takes(Param::Period),
            takes_province => d.takes(Param::Province),
            period_text => i18n::period(lang, &r.period.label),
            period_groups => period_groups(lang, state.engine().rules.coverage_from(), r.as_of, &r.period.label),
            as_of_text => i18n::date(lang, r.as_of),
            as_of_value => if requested_as_of { r.as_of.to_string() } else { String::new() },
            counted_to_text => i18n::date(lang, counted_to),
            panels => panels,
            api_href => format!("/api/d/{}?{qs}", d.name),
            ..state.chrome(lang, &d.name, Some(&r.period.label), uri)
        })
        .map_err(anyhow::Error::from)?;
    Ok(html)
}

impl AppState {
    /// What every page's header needs: labels, navigation, the language
    /// switch back to this very page.
    pub(crate) fn chrome(
        &self,
        lang: Lang,
        active: &str,
        period: Option<&str>,
        uri: &axum::http::Uri,
    ) -> minijinja::Value {
        let with_period = |name: &str| match period {
            Some(p) => format!("/d/{name}?period={p}"),
            None => format!("/d/{name}"),
        };
        let mut navs: Vec<&Dashboard> = self
            .inner
            .catalog
            .dashboards
            .values()
            .filter(|x| x.nav.is_some())
            .collect();
        navs.sort_by_key(|x| x.nav);
        let nav: Vec<Link> = navs
            .iter()
            .map(|x| Link {
                href: with_period(&x.name),
                label: x.title.get(lang).to_string(),
                active: x.name == active,
            })
            .collect();
        let others: Vec<Link> = self
            .inner
            .catalog
            .dashboards
            .values()
            .filter(|x| x.nav.is_none() && !x.takes(Param::Province))
            .map(|x| Link {
                href: with_period(&x.name),
                label: x.title.get(lang).to_string(),
                active: x.name == active,
            })
            .collect();
        let back = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let alerts =
            crate::score::alerts::load_state(self.engine().store.root()).unwrap_or_default();
        // Provinces with an open alert, marked on the league and their page.
        let alerted: Vec<String> = alerts
            .open
            .values()
            .filter_map(|a| a.found.province_code.clone())
            .collect();
        minijinja::context! {
            lang => lang.code(),
            L => self.inner.labels[lang.code()].clone(),
            switch_href => format!("/lang/{}?back={}", lang.other().code(), encode_component(&back)),
            nav => nav,
            others => others,
            open_alerts => alerts.open.len(),
            alerted => alerted,
        }
    }

    /// Renders `report.html` (plan and evidence pages).
    /// The page at `uri` from the page cache, or rendered by `render` (run
    /// only on a miss) and kept. Pages are cached whole per (URL,
    /// language) until an ingest lands: the catalog check empties the
    /// cache. Alerts are evaluated after an ingest commits: their state is
    /// part of what a page shows, so it is part of the key.
    async fn cached_page(
        &self,
        lang: Lang,
        uri: &axum::http::Uri,
        render: impl std::future::Future<Output = ApiResult<String>>,
    ) -> Result<Html<String>, PageError> {
        if let Err(e) = self.inner.data.catalog().await {
            return Err(PageError(e.into(), lang));
        }
        let epoch = self.inner.data.epoch();
        let alerts_stamp = std::fs::metadata(self.engine().store.root().join("alerts/state.json"))
            .and_then(|m| m.modified())
            .ok();
        let key = format!("{}|{alerts_stamp:?}|{}", lang.code(), uri);
        if let Some(html) = self.inner.data.page(&key) {
            return Ok(Html(html.as_ref().clone()));
        }
        let html = render.await.map_err(|e| PageError(e, lang))?;
        self.inner.data.keep_page(epoch, key, html.clone());
        Ok(Html(html))
    }

    pub(crate) fn render_report(
        &self,
        lang: Lang,
        uri: &axum::http::Uri,
        ctx: minijinja::Value,
    ) -> ApiResult<String> {
        let tpl = self
            .inner
            .templates
            .get_template("report.html")
            .map_err(anyhow::Error::from)?;
        Ok(tpl
            .render(minijinja::context! { ..ctx, ..self.chrome(lang, "plan", None, uri) })
            .map_err(anyhow::Error::from)?)
    }
}

/// `/plan/export.csv` and `/plan/<province>` share a path shape.
async fn plan_or_export(
    state: State<AppState>,
    Path(code): Path<String>,
    q: Query<plan_pages::PlanQuery>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if code.starts_with("export.") {
        plan_pages::plan_export(state, Path(code), q, headers)
            .await
            .into_response()
    } else {
        plan_pages::evidence_page(state, Path(code), q, headers, uri)
            .await
            .into_response()
    }
}

async fn province_redirect(Path(code): Path<String>, Query(q): Query<PageQuery>) -> Redirect {
    let mut target = format!("/d/province?province={}", encode_component(&code));
    if let Some(p) = q.period {
        target.push_str(&format!("&period={}", encode_component(&p)));
    }
    if let Some(a) = q.as_of {
        target.push_str(&format!("&as_of={}", encode_component(&a)));
    }
    Redirect::to(&target)
}

/// A redirect target that stays on this site: a path, never `//host`,
/// `/\\host` or a scheme. Browsers drop tabs, line breaks and other control
/// characters from a `Location` before they read it (`/%09/evil.example`
/// becomes `//evil.example`), so they are removed before the check, and
/// the query string arrives here already percent-decoded.
pub(crate) fn local_path(p: Option<String>) -> String {
    p.map(|p| p.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'))
        .unwrap_or_else(|| "/".into())
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

/// Sets the language cookie (a year) and returns to the page.
async fn set_language(Path(code): Path<String>, Query(b): Query<Back>) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return AppError::not_found(format!("no language '{code}' (vi or en)")).into_response();
    };
    let back = local_path(b.back);
    let mut resp = Redirect::to(&back).into_response();
    let cookie = format!(
        "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("ascii cookie"),
    );
    resp
}

/// One panel's data or chart as a file: `<panel>.csv|xlsx|svg|png|json`.
async fn panel_file(
    State(state): State<AppState>,
    Path((name, file)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let lang = lang_of(&headers);
    let (panel_id, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| AppError::not_found("expected <panel>.<csv|xlsx|svg|png|json>"))?;
    let d = state.dashboard(&name)?;
    let idx = d
        .panels
        .iter()
        .position(|p| p.id == panel_id)
        .ok_or_else(|| {
            AppError::not_found(format!("dashboard '{name}' has no panel '{panel_id}'"))
        })?;
    let panel = &d.panels[idx];
    let r = state.resolve(&q, d.takes(Param::Province)).await?;
    let tables = state.panel_tables(d, &r).await?;
    let table = &tables[idx];
    let stem = format!("{}-{}-{}", d.name, panel.id, r.period.label);
    let prov = &r.provenance;
    match ext {
        "csv" | "xlsx" | "json" => {
            download::table_file(lang, panel.title.get(lang), &stem, ext, table, prov)
        }
        "svg" | "png" => {
            let chart = render::chart(lang, panel, table, r.province.as_deref())
                .ok_or_else(|| AppError::not_found(format!("panel '{panel_id}' is not a chart")))?;
            let (ct, body) = if ext == "svg" {
                (
                    "image/svg+xml",
                    crate::present::charts::svg(&chart)?.into_bytes(),
                )
            } else {
                ("image/png", crate::present::charts::png(&chart)?)
            };
            Ok(download::attachment(
                ct,
                &format!("{stem}.{ext}"),
                body,
                prov,
            ))
        }
        _ => Err(AppError::not_found(format!(
            "no format '{ext}' (csv, xlsx, json, svg or png)"
        ))),
    }
}

async fn healthz(State(state): State<AppState>) -> ApiResult<Response> {
    let cat = state.inner.data.catalog().await?;
    Ok(axum::Json(serde_json::json!({
        "status": "ok",
        "extracts": cat.extracts.len(),
        "as_of": cat.effective_as_of(None).map(|d| d.to_string()),
    }))
    .into_response())
}

async fn static_file(Path(file): Path<String>) -> ApiResult<Response> {
    let (ct, body): (&str, &'static [u8]) = match file.as_str() {
        "style.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../../static/style.css"),
        ),
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../../static/app.js"),
        ),
        "report.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../../static/report.css"),
        ),
        "sql.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../../static/sql.js"),
        ),
        "NotoSans-Regular.ttf" => ("font/ttf", crate::present::charts::FONT_REGULAR),
        "NotoSans-Bold.ttf" => ("font/ttf", crate::present::charts::FONT_BOLD),
        _ => return Err(AppError::not_found(format!("no static file '{file}'"))),
    };
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------------------
// API

async fn api_dashboards(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = state
        .inner
        .catalog
        .dashboards
        .values()
        .map(|d| {
            serde_json::json!({
                "name": d.name,
                "title": d.title,
                "params": d.params,
                "href": format!("/d/{}", d.name),
                "api": format!("/api/d/{}", d.name),
                "panels": d.panels.iter().map(|p| serde_json::json!({
                    "id": p.id, "title": p.title, "kind": p.kind, "query": p.query,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "dashboards": list }))
}

async fn api_dashboard(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Response> {
    let d = state.dashboard(&name)?;
    let r = state.resolve(&q, d.takes(Param::Province)).await?;
    let tables = state.panel_tables(d, &r).await?;
    let panels: serde_json::Map<String, serde_json::Value> = d
        .panels
        .iter()
        .zip(&tables)
        .map(|(p, t)| {
            (
                p.id.clone(),
                serde_json::json!({
                    "title": p.title,
                    "kind": p.kind,
                    "query": p.query,
                    "columns": t.columns,
                    "rows": t.rows,
                }),
            )
        })
        .collect();
    Ok(axum::Json(serde_json::json!({
        "dashboard": d.name,
        "period": d.takes(Param::Period).then(|| r.period.label.clone()),
        "province": r.province,
        "as_of": r.as_of.to_string(),
        "store_fingerprint": r.provenance.store_fingerprint,
        "panels": panels,
    }))
    .into_response())
}

/// The league table or the long form of section 10, as JSON, CSV or
/// Parquet.
async fn scores_file(
    state: &AppState,
    q: &PageQuery,
    uri: &axum::http::Uri,
    long: bool,
) -> ApiResult<Response> {
    // Encoded once per URL until an ingest lands (the catalog check
    // empties the cache): the answer is the same for every reader.
    state.inner.data.catalog().await?;
    let epoch = state.inner.data.epoch();
    let key = uri.to_string();
    let file = match state.inner.data.file(&key) {
        Some(f) => f,
        None => {
            let f = encode_scores(state, q, long).await?;
            state.inner.data.keep_file(epoch, key, f)
        }
    };
    let mut resp = (
        [(header::CONTENT_TYPE, file.content_type)],
        file.body.clone(),
    )
        .into_response();
    download::mark(&mut resp, &file.provenance);
    Ok(resp)
}

async fn encode_scores(state: &AppState, q: &PageQuery, long: bool) -> ApiResult<data::CachedFile> {
    let r = state.resolve(q, false).await?;
    let outcome = r
        .session
        .ensure(state.engine(), std::slice::from_ref(&r.period))
        .await;
    let scores = match outcome.get(&r.period.label) {
        Some(Ok(s)) => s.clone(),
        Some(Err(e)) => return Err(AppError::not_found(e.clone())),
        None => return Err(AppError::not_found("period not scored")),
    };
    let batch = if long {
        crate::score::scoring::indicator_batch(&scores.indicators)?
    } else {
        crate::score::scoring::league_batch(&scores)?
    };
    let (format, ct) = match q.format.as_deref().unwrap_or("json") {
        "json" => (
            crate::present::export::TableFormat::Json,
            "application/json",
        ),
        "csv" => (
            crate::present::export::TableFormat::Csv,
            "text/csv; charset=utf-8",
        ),
        "parquet" => (
            crate::present::export::TableFormat::Parquet,
            "application/vnd.apache.parquet",
        ),
        other => {
            return Err(AppError::bad_request(format!(
                "format '{other}': use json, csv or parquet"
            )));
        }
    };
    Ok(data::CachedFile {
        content_type: ct,
        provenance: r.provenance.clone(),
        body: crate::present::export::encode(&batch, format)?.into(),
    })
}

async fn api_league(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    scores_file(&state, &q, &uri, false).await
}

async fn api_indicators(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    scores_file(&state, &q, &uri, true).await
}

async fn api_provinces(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = state
        .engine()
        .reference
        .provinces
        .iter()
        .map(|p| serde_json::json!({"province_code": p.code, "name_vi": p.name_vi, "name_en": p.name_en}))
        .collect();
    axum::Json(serde_json::json!({ "provinces": list }))
}

#[derive(Deserialize)]
struct ChangeQuery {
    from: Option<String>,
    to: Option<String>,
    as_of: Option<String>,
}

/// `GET /api/province/<code>/change?from=&to=&as_of=`: why the province's
/// scores moved from one period to the other (default: the last complete
/// quarter and the one before), split exactly by indicator.
async fn api_change(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<ChangeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let cat = state.inner.data.catalog().await?;
    let as_of = match q.as_of.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(crate::reference::dates::parse_date(s).ok_or_else(|| {
            AppError::bad_request(format!("as_of '{s}' is not a date YYYY-MM-DD"))
        })?),
        None => None,
    };
    let effective = cat
        .effective_as_of(as_of)
        .ok_or_else(|| AppError::not_found("no extract on or before that date"))?;
    let to = q
        .to
        .unwrap_or_else(|| crate::score::scoring::Period::last_complete_quarter(effective).label);
    let change =
        crate::score::explain::change(state.engine(), &code, &to, q.from.as_deref(), as_of)
            .await
            .map_err(|e| AppError::bad_request(format!("{e:#}")))?;
    let lang = lang_of(&headers);
    let words = crate::score::explain::words(lang, &change);
    Ok(axum::Json(serde_json::json!({ "change": change, "words": words })).into_response())
}

/// `GET /api/alerts`: the open alerts and the recently cleared ones, as
/// of the extract last evaluated.
async fn api_alerts(State(state): State<AppState>) -> ApiResult<Response> {
    let s = crate::score::alerts::load_state(state.engine().store.root())?;
    Ok(axum::Json(serde_json::json!({
        "evaluated": s.evaluated.map(|d| d.to_string()),
        "open": s.open.values().collect::<Vec<_>>(),
        "cleared": s.cleared,
    }))
    .into_response())
}

#[derive(Serialize)]
struct AlertRow {
    rule: String,
    province: String,
    href: Option<String>,
    detail: String,
    first_seen: String,
    last_seen: String,
    cleared: String,
}

fn alert_row(lang: Lang, a: &crate::score::alerts::Alert) -> AlertRow {
    let f = &a.found;
    AlertRow {
        rule: f.rule.clone(),
        province: f
            .province_name
            .clone()
            .unwrap_or_else(|| t(lang, "national")),
        href: f
            .province_code
            .as_ref()
            .map(|c| format!("/d/province?province={c}")),
        detail: if lang == Lang::Vi {
            f.detail_vi.clone()
        } else {
            f.detail_en.clone()
        },
        first_seen: i18n::date(lang, a.first_seen),
        last_seen: i18n::date(lang, a.last_seen),
        cleared: a.cleared.map(|d| i18n::date(lang, d)).unwrap_or_default(),
    }
}

/// The Alerts page: what is open, what cleared lately.
async fn alerts_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&headers);
    let s = crate::score::alerts::load_state(state.engine().store.root())
        .map_err(|e| PageError(e.into(), lang))?;
    let as_of_line = match s.evaluated {
        Some(d) => t(lang, "alerts_as_of").replace("{date}", &i18n::date(lang, d)),
        None => t(lang, "alerts_never"),
    };
    let tpl = state
        .inner
        .templates
        .get_template("alerts.html")
        .map_err(|e| PageError(anyhow::Error::from(e).into(), lang))?;
    let html = tpl
        .render(minijinja::context! {
            name => "alerts",
            title => t(lang, "alerts_title"),
            as_of_line => as_of_line,
            open => s.open.values().map(|a| alert_row(lang, a)).collect::<Vec<_>>(),
            cleared => s.cleared.iter().map(|a| alert_row(lang, a)).collect::<Vec<_>>(),
            ..state.chrome(lang, "alerts", None, &uri)
        })
        .map_err(|e| PageError(anyhow::Error::from(e).into(), lang))?;
    Ok(Html(html))
}

async fn api_status(State(state): State<AppState>) -> ApiResult<Response> {
    let cat = state.inner.data.catalog().await?;
    Ok(axum::Json(serde_json::json!({
        "as_of": cat.effective_as_of(None).map(|d| d.to_string()),
        "extracts": cat.extracts,
    }))
    .into_response())
}
