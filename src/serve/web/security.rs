//! Login, route checks, the SQL endpoint and console, and the audit of
//! queries and exports.
//!
//! With a users file every route but `/login`, `/healthz`, `/static/*` and
//! the language switch needs a session cookie (from `/login`) or an API
//! token (`Authorization: Bearer …`). Without one the service runs open,
//! as the demo does, and says so at start-up; SQL then runs with the
//! analyst's view.

use std::time::Instant;

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppError, AppState, lang_of, local_path};
use crate::present::i18n::t;
use crate::serve::audit::Entry;
use crate::serve::auth::{Principal, Refusal};
use crate::serve::sqlguard::{GuardError, Role};

pub const SESSION_COOKIE: &str = "vigil_session";

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            kv.trim()
                .strip_prefix(&format!("{name}="))
                .map(String::from)
        })
        .next()
}

/// The client's address, when the server was started with connection
/// info (the real server is; an in-process test request has none). A
/// proxy's `X-Forwarded-For` is not trusted: anyone could send one.
fn client_addr(ext: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    ext.get::<axum::extract::ConnectInfo<super::ClientAddr>>()
        .map(|c| c.0.0.ip())
}

/// 429 with `Retry-After`, for a throttled login or token.
fn too_many(wait: std::time::Duration, body: Response) -> Response {
    let mut resp = body;
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    resp
}

fn is_public(path: &str) -> bool {
    path == "/login"
        || path == "/logout"
        || path == "/healthz"
        || path.starts_with("/static/")
        || path.starts_with("/lang/")
}

/// Case-level pages: not for leadership, which reads aggregates only.
fn needs_case_level(path: &str) -> bool {
    let evidence = |rest: &str| !rest.is_empty() && !rest.starts_with("export.");
    path.strip_prefix("/plan/").is_some_and(evidence)
        || path.strip_prefix("/api/plan/").is_some_and(evidence)
}

fn is_export(path: &str, query: Option<&str>) -> bool {
    let file = [".csv", ".xlsx", ".png", ".svg", ".json"]
        .iter()
        .any(|e| path.ends_with(e));
    let api = (path == "/api/league" || path == "/api/indicators")
        && query.is_some_and(|q| q.contains("format=csv") || q.contains("format=parquet"));
    file || api
}

/// Who the request is from, checked against the route; exports audited.
pub async fn require_login(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return next.run(req).await;
    }
    let principal = match &state.inner.auth {
        None => Some(Principal {
            name: "local".into(),
            role: Role::Admin,
        }),
        Some(auth) => {
            let headers = req.headers();
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match bearer {
                Some(token) => match auth.token(token, client_addr(req.extensions())) {
                    Ok(p) => Some(p),
                    Err(Refusal::Wrong) => None,
                    Err(Refusal::Throttled(wait)) => {
                        let body = axum::Json(serde_json::json!({
                            "error": format!("too many bad tokens from this address; try again in {} s", wait.as_secs().max(1)),
                            "status": 429,
                        }));
                        return too_many(wait, body.into_response());
                    }
                },
                None => cookie(headers, SESSION_COOKIE).and_then(|s| auth.session(&s)),
            }
        }
    };
    let Some(principal) = principal else {
        if path.starts_with("/api/") {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"error": "log in, or send Authorization: Bearer <token>", "status": 401})),
            )
                .into_response();
        }
        let next_path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        return Redirect::to(&format!(
            "/login?next={}",
            super::encode_component(&next_path)
        ))
        .into_response();
    };
    if needs_case_level(&path) && principal.role == Role::Leadership {
        return AppError {
            status: StatusCode::FORBIDDEN,
            message: "the leadership role reads aggregates only; evidence packs are case level"
                .into(),
        }
        .into_response();
    }
    let export = is_export(&path, req.uri().query());
    let what = req.uri().to_string();
    req.extensions_mut().insert(principal.clone());
    let started = Instant::now();
    let resp = next.run(req).await;
    if export {
        let status = resp.status();
        state.audit(&Entry {
            user: &principal.name,
            role: principal.role.name(),
            action: "export",
            what: &what,
            rows: None,
            duration_ms: started.elapsed().as_millis(),
            outcome: if status.is_success() {
                "ok"
            } else {
                status.as_str()
            },
        });
    }
    resp
}

/// What browsers may do with vigil's pages: run, style and show only what
/// this site serves (no inline script or style, no other origin), never
/// frame them, never guess a content type, and tell other sites nothing
/// of the page a link was followed from.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the browser security headers to every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

fn login_html(
    state: &AppState,
    headers: &HeaderMap,
    next: &str,
    error: Option<String>,
) -> Result<String, AppError> {
    let lang = lang_of(headers);
    let tpl = state
        .inner
        .templates
        .get_template("login.html")
        .map_err(anyhow::Error::from)?;
    Ok(tpl
        .render(minijinja::context! {
            lang => lang.code(),
            L => state.inner.labels[lang.code()].clone(),
            next => next,
            error => error,
        })
        .map_err(anyhow::Error::from)?)
}

pub async fn login_page(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> Result<Html<String>, AppError> {
    Ok(Html(login_html(
        &state,
        &headers,
        &local_path(q.next),
        None,
    )?))
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

pub async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    let next = local_path(f.next);
    let Some(auth) = state.inner.auth.clone() else {
        return Ok(Redirect::to(&next).into_response());
    };
    let addr = client_addr(&ext);
    let started = Instant::now();
    // argon2 is deliberately slow: off the async threads.
    let (name, password) = (f.name.clone(), f.password);
    let result = tokio::task::spawn_blocking(move || auth.login(&name, &password, addr))
        .await
        .map_err(anyhow::Error::from)?;
    state.audit_login(&f.name, addr, "web", started, &result);
    let auth = state.inner.auth.as_ref().expect("checked above");
    match result {
        Ok(p) => {
            let id = auth.open_session(p);
            let mut resp = Redirect::to(&next).into_response();
            let secure = if state.inner.secure_cookies {
                "; Secure"
            } else {
                ""
            };
            resp.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&format!(
                    "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                    auth.session_lifetime.as_secs()
                ))
                .expect("ascii"),
            );
            Ok(resp)
        }
        Err(Refusal::Wrong) => {
            let lang = lang_of(&headers);
            let html = login_html(&state, &headers, &next, Some(t(lang, "login_failed")))?;
            Ok((StatusCode::UNAUTHORIZED, Html(html)).into_response())
        }
        Err(Refusal::Throttled(wait)) => {
            let lang = lang_of(&headers);
            let message =
                t(lang, "login_throttled").replace("{s}", &wait.as_secs().max(1).to_string());
            let html = login_html(&state, &headers, &next, Some(message))?;
            Ok(too_many(wait, Html(html).into_response()))
        }
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let (Some(auth), Some(id)) = (&state.inner.auth, cookie(&headers, SESSION_COOKIE)) {
        auth.close_session(&id);
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("vigil_session=; Path=/; HttpOnly; Max-Age=0"),
    );
    resp
}

#[derive(Deserialize)]
pub struct SqlRequest {
    sql: String,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

fn guard_status(e: &GuardError) -> StatusCode {
    match e {
        GuardError::TooLong(..) => StatusCode::PAYLOAD_TOO_LARGE,
        GuardError::NotAllowed(_) => StatusCode::FORBIDDEN,
        GuardError::Invalid(_) => StatusCode::BAD_REQUEST,
        GuardError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        GuardError::Failed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        GuardError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `POST /api/sql {"sql": "...", "as_of": "YYYY-MM-DD", "format": "json|csv|arrow"}`.
pub async fn api_sql(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<Principal>,
    axum::Json(req): axum::Json<SqlRequest>,
) -> Response {
    let Some(guard) = state.inner.guard.clone() else {
        return AppError::not_found("SQL is not enabled on this server").into_response();
    };
    let as_of = match req.as_of.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match crate::reference::dates::parse_date(s) {
            Some(d) => Some(d),
            None => {
                return AppError::bad_request(format!("as_of '{s}' is not a date YYYY-MM-DD"))
                    .into_response();
            }
        },
    };
    let format = req.format.as_deref().unwrap_or("json").to_string();
    if !["json", "csv", "arrow"].contains(&format.as_str()) {
        return AppError::bad_request(format!("format '{format}': use json, csv or arrow"))
            .into_response();
    }
    // Open mode: SQL with the analyst's view, never more.
    let role = if state.inner.auth.is_none() {
        Role::Analyst
    } else {
        who.role
    };
    if let Some(Err(full)) = state.inner.audit.as_ref().map(|a| a.room()) {
        return AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: full,
        }
        .into_response();
    }
    let catalog = match state.inner.data.catalog().await {
        Ok(c) => c,
        Err(e) => return AppError::from(e).into_response(),
    };
    let started = Instant::now();
    let result = guard.run(role, &req.sql, as_of).await.and_then(|o| {
        let prov = state.engine().provenance(&catalog, o.as_of);
        match crate::serve::sqlguard::no_panic("encoding the result", || {
            encode(&o, &format, &prov)
        })? {
            Ok(resp) => Ok((o, resp)),
            Err(e) => Err(GuardError::Failed(format!("{e:#}"))),
        }
    });
    state.audit(&Entry::query(&who.name, role, &req.sql, started, &result));
    match result {
        Err(e) => (
            guard_status(&e),
            axum::Json(serde_json::json!({"error": e.to_string(), "kind": e.kind(), "status": guard_status(&e).as_u16()})),
        )
            .into_response(),
        Ok((_, resp)) => resp,
    }
}

fn encode(
    o: &crate::serve::sqlguard::Outcome,
    format: &str,
    prov: &crate::score::scoring::Provenance,
) -> anyhow::Result<Response> {
    let batch = datafusion::arrow::compute::concat_batches(&o.schema, &o.batches)?;
    for c in batch.columns() {
        crate::present::table::check_dates(c.as_ref())?;
    }
    let headers = [
        ("x-vigil-rows", o.rows.to_string()),
        ("x-vigil-truncated", o.truncated.to_string()),
        ("x-vigil-as-of", o.as_of.to_string()),
        ("x-vigil-store", prov.store_fingerprint.clone()),
    ];
    let mut resp = match format {
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            crate::present::export::encode(&batch, crate::present::export::TableFormat::Csv)?,
        )
            .into_response(),
        "arrow" => {
            let mut buf = Vec::new();
            {
                let mut w =
                    datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut buf, &o.schema)?;
                w.write(&batch)?;
                w.finish()?;
            }
            (
                [(header::CONTENT_TYPE, "application/vnd.apache.arrow.stream")],
                buf,
            )
                .into_response()
        }
        _ => {
            let table = crate::present::table::Table::from_batches(&o.schema, &o.batches)?;
            axum::Json(serde_json::json!({
                "columns": o.schema.fields().iter().map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()})).collect::<Vec<_>>(),
                "rows": table.rows,
                "row_count": o.rows,
                "truncated": o.truncated,
                "as_of": o.as_of.to_string(),
                "store_fingerprint": prov.store_fingerprint,
                "elapsed_ms": o.elapsed.as_millis(),
            }))
            .into_response()
        }
    };
    for (k, v) in headers {
        resp.headers_mut().insert(k, HeaderValue::from_str(&v)?);
    }
    Ok(resp)
}

/// The SQL console: an editor, the result table, CSV download, and the
/// tables and columns the user's role may read.
pub async fn console(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<Principal>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Html<String>, AppError> {
    let lang = lang_of(&headers);
    let Some(guard) = state.inner.guard.clone() else {
        return Err(AppError::not_found("SQL is not enabled on this server"));
    };
    let role = if state.inner.auth.is_none() {
        Role::Analyst
    } else {
        who.role
    };
    let tables = guard
        .catalog(role, None)
        .await
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let tpl = state
        .inner
        .templates
        .get_template("sql.html")
        .map_err(anyhow::Error::from)?;
    let html = tpl
        .render(minijinja::context! {
            name => "sql",
            title => t(lang, "sql_console"),
            role => role.name(),
            user => who.name,
            tables => tables,
            ..state.chrome(lang, "sql", None, &uri)
        })
        .map_err(anyhow::Error::from)?;
    Ok(Html(html))
}

impl AppState {
    pub(crate) fn audit(&self, e: &Entry) {
        if let Some(log) = &self.inner.audit {
            log.record(e);
        }
    }

    fn audit_login(
        &self,
        name: &str,
        addr: Option<std::net::IpAddr>,
        door: &str,
        started: Instant,
        result: &Result<Principal, Refusal>,
    ) {
        if let Some(log) = &self.inner.audit {
            let door = crate::serve::audit::door(door, addr);
            log.record(&Entry::login(name, &door, started, result));
        }
    }
}
