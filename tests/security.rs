//! Users, roles, the SQL endpoint and the audit log of the web app, with
//! `oneshot` on the real router over a real store.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigil::auth::{Auth, UsersFile};
use vigil::dashboards::Catalog;
use vigil::scoring::Engine;
use vigil::sqlguard::{Guard, Limits, Role};
use vigil::web::{AppState, Security, app};

use common::*;

struct Setup {
    _dir: tempfile::TempDir,
    audit: std::path::PathBuf,
    state: AppState,
    /// (password, token) per role.
    creds: Vec<(Role, String, String)>,
}

fn limits() -> Limits {
    Limits {
        score_quarters: 1,
        score_years: 0,
        ..Limits::default()
    }
}

fn setup(with_users: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store_with_content(dir.path());
    let users = dir.path().join("users.toml");
    let mut creds = Vec::new();
    for role in [
        Role::Leadership,
        Role::Inspectorate,
        Role::Analyst,
        Role::Admin,
    ] {
        let (pw, token) = UsersFile::add_user(&users, role.name(), role).unwrap();
        creds.push((role, pw, token));
    }
    let engine = Engine::bundled(store);
    let audit = dir.path().join("audit").join("audit.jsonl");
    let security = Security {
        auth: with_users.then(|| Arc::new(Auth::new(UsersFile::load(&users).unwrap()))),
        guard: Some(Arc::new(Guard::new(engine.clone(), limits()).unwrap())),
        audit: Some(Arc::new(vigil::audit::AuditLog::new(&audit, 1 << 20))),
    };
    let state = AppState::secured(engine, Catalog::load(None, None).unwrap(), security).unwrap();
    Setup {
        _dir: dir,
        audit,
        state,
        creds,
    }
}

impl Setup {
    fn token(&self, role: Role) -> &str {
        &self.creds.iter().find(|c| c.0 == role).unwrap().2
    }
    fn password(&self, role: Role) -> &str {
        &self.creds.iter().find(|c| c.0 == role).unwrap().1
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(state: &AppState, req: Request<Body>) -> Reply {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

/// The login form posted with a name and password, to return to /d/status.
fn login(name: &str, password: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "name={name}&password={password}&next=/d/status"
        )))
        .unwrap()
}

fn get(uri: &str, auth: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().uri(uri);
    if let Some(a) = auth {
        r = r.header(header::AUTHORIZATION, format!("Bearer {a}"));
    }
    r.body(Body::empty()).unwrap()
}

fn sql(q: &str, token: Option<&str>, format: &str) -> Request<Body> {
    let mut r = Request::builder()
        .method("POST")
        .uri("/api/sql")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::from(
        serde_json::json!({"sql": q, "format": format}).to_string(),
    ))
    .unwrap()
}

fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn every_route_needs_a_login_or_a_token() {
    let s = setup(true);
    let r = send(&s.state, get("/d/league", None)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login?next=/d/league")
    );
    for uri in [
        "/api/league",
        "/api/d/status",
        "/api/plan",
        "/d/league/league.csv",
    ] {
        let r = send(&s.state, get(uri, None)).await;
        assert!(
            r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::SEE_OTHER,
            "{uri}: {}",
            r.status
        );
    }
    assert_eq!(
        send(&s.state, sql("SELECT 1", None, "json")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&s.state, get("/api/status", Some("vgl_wrong")))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Public: health, static files, the login page.
    assert_eq!(
        send(&s.state, get("/healthz", None)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&s.state, get("/login", None)).await.status,
        StatusCode::OK
    );
    // A wrong password, an empty one, an unknown user: refused.
    for (name, pw) in [
        ("analyst", "nope"),
        ("analyst", ""),
        ("ghost", s.password(Role::Analyst)),
    ] {
        let r = send(&s.state, login(name, pw)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(r.headers.get(header::SET_COOKIE).is_none());
    }
    // The right one opens a session.
    let r = send(&s.state, login("analyst", s.password(Role::Analyst))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/d/status");
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"));
    let session = cookie.split(';').next().unwrap().to_string();
    let req = Request::builder()
        .uri("/d/status")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&s.state, req).await.status, StatusCode::OK);
    // Logging out ends it.
    let req = Request::builder()
        .uri("/logout")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    send(&s.state, req).await;
    let req = Request::builder()
        .uri("/d/status")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&s.state, req).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn roles_see_what_they_may_and_every_query_is_audited() {
    let s = setup(true);
    let lead = s.token(Role::Leadership).to_string();
    let analyst = s.token(Role::Analyst).to_string();
    let insp = s.token(Role::Inspectorate).to_string();
    // Leadership: aggregates only.
    let r = send(
        &s.state,
        sql(
            "SELECT count(*) AS n FROM league_table",
            Some(&lead),
            "json",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = send(&s.state, sql("SELECT * FROM cases", Some(&lead), "json")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("not found"), "{}", r.body);
    let r = send(&s.state, get("/plan/01?quarter=2026-Q4", Some(&lead))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Analysts: case level, denunciation content blanked.
    let q = "SELECT case_id, content_summary FROM cases ORDER BY case_id";
    let r = send(&s.state, sql(q, Some(&analyst), "json")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("khiếu nại về chế độ") && !r.body.contains("tố cáo cán bộ X"),
        "{}",
        r.body
    );
    let r = send(&s.state, sql(q, Some(&insp), "csv")).await;
    assert!(r.body.contains("tố cáo cán bộ X"), "{}", r.body);
    assert_eq!(r.headers["x-vigil-rows"], "2");
    let r = send(&s.state, sql(q, Some(&insp), "arrow")).await;
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/vnd.apache.arrow.stream"
    );
    // Refused statements come back as clear 4xx; the server still answers.
    for (q, status) in [
        ("DROP TABLE cases", StatusCode::FORBIDDEN),
        ("COPY (SELECT 1) TO '/tmp/vigil-x'", StatusCode::FORBIDDEN),
        ("SELECT requester_name FROM cases", StatusCode::BAD_REQUEST),
    ] {
        let r = send(&s.state, sql(q, Some(&analyst), "json")).await;
        assert_eq!(r.status, status, "{q}: {}", r.body);
        assert!(r.body.contains("\"error\""), "{}", r.body);
    }
    let big = "x".repeat(2 << 20);
    let r = send(
        &s.state,
        sql(&format!("SELECT '{big}'"), Some(&analyst), "json"),
    )
    .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(
        send(&s.state, get("/healthz", None)).await.status,
        StatusCode::OK
    );
    // Exports are audited too.
    assert_eq!(
        send(&s.state, get("/d/status/extracts.csv", Some(&analyst)))
            .await
            .status,
        StatusCode::OK
    );

    let lines = audit_lines(&s.audit);
    let sqls: Vec<&serde_json::Value> = lines.iter().filter(|l| l["action"] == "sql").collect();
    assert!(sqls.len() >= 8, "{}", sqls.len());
    let drop = sqls
        .iter()
        .find(|l| l["what"] == "DROP TABLE cases")
        .unwrap();
    assert_eq!(drop["user"], "analyst");
    assert_eq!(drop["role"], "analyst");
    assert_eq!(drop["outcome"], "not_allowed");
    assert_eq!(drop["sha256"].as_str().unwrap().len(), 64);
    let ok = sqls
        .iter()
        .find(|l| l["what"] == q && l["role"] == "inspectorate")
        .unwrap();
    assert_eq!(ok["rows"], 2);
    assert!(ok["duration_ms"].is_u64());
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "export" && l["what"] == "/d/status/extracts.csv")
    );
    // No raw identity in the audit log either.
    let text = std::fs::read_to_string(&s.audit).unwrap();
    assert!(!text.contains("Trần Thị Hoa") && !text.contains("079200001111"));
}

#[tokio::test]
async fn an_open_server_gives_sql_the_analyst_view_only() {
    let s = setup(false);
    let r = send(&s.state, get("/d/status", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        &s.state,
        sql(
            "SELECT content_summary FROM cases WHERE case_id = 'T1'",
            None,
            "json",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("tố cáo cán bộ X"), "{}", r.body);
    let console = send(&s.state, get("/sql", None)).await;
    assert_eq!(console.status, StatusCode::OK);
    assert!(console.body.contains("league_table"));
}
