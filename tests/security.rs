//! Users, roles, the SQL endpoint and the audit log of the web app, with
//! `oneshot` on the real router over a real store.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigil::present::dashboards::Catalog;
use vigil::score::scoring::Engine;
use vigil::serve::auth::{Auth, UsersFile};
use vigil::serve::sqlguard::{Guard, Limits, Role};
use vigil::serve::web::{AppState, Security, app};

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
        audit: Some(Arc::new(vigil::serve::audit::AuditLog::new(
            &audit,
            vigil::serve::audit::Retention::default(),
        ))),
        secure_cookies: false,
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
    // The answer says what data it was computed from.
    let fingerprint = r.headers["x-vigil-store"].to_str().unwrap().to_string();
    assert!(fingerprint.len() == 12 && fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
    let json: serde_json::Value =
        serde_json::from_str(&send(&s.state, sql(q, Some(&insp), "json")).await.body).unwrap();
    assert_eq!(json["store_fingerprint"], fingerprint.as_str());
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

#[tokio::test]
async fn redirects_stay_on_this_site_after_decoding() {
    let s = setup(true);
    for back in [
        "/%09/evil.example",
        "/%0A/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "https://evil.example",
        "%09//evil.example",
    ] {
        let r = send(&s.state, get(&format!("/lang/en?back={back}"), None)).await;
        assert_eq!(r.headers[header::LOCATION], "/", "back={back}");
    }
    let ok = send(
        &s.state,
        get("/lang/en?back=/d/league%3Fperiod%3D2026", None),
    )
    .await;
    assert_eq!(ok.headers[header::LOCATION], "/d/league?period=2026");
    let pw = s.password(Role::Analyst).to_string();
    let req = Request::builder()
        .method("POST")
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "name=analyst&password={pw}&next=/%09/evil.example"
        )))
        .unwrap();
    let r = send(&s.state, req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/");
}

#[tokio::test]
async fn every_response_carries_the_browser_security_headers() {
    let s = setup(true);
    let token = s.token(Role::Admin).to_string();
    for (uri, auth) in [
        ("/login", None),
        ("/d/league", Some(token.as_str())),
        ("/static/app.js", None),
        ("/no/such/page", Some(token.as_str())),
    ] {
        let r = send(&s.state, get(uri, auth)).await;
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline"),
            "{uri}: {csp}"
        );
        assert_eq!(
            r.headers[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "{uri}"
        );
        assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        assert_eq!(r.headers[header::REFERRER_POLICY], "same-origin", "{uri}");
    }
    // The pages carry nothing the policy would block.
    let page = send(&s.state, get("/d/league", Some(&token))).await.body;
    for inline in ["onclick=", "onchange=", "style=\"", "<style", "<script>"] {
        assert!(!page.contains(inline), "inline {inline} in the league page");
    }
}

#[tokio::test]
async fn failed_logins_lock_the_user_with_429_and_are_audited() {
    let s = setup(true);
    let pw = s.password(Role::Analyst).to_string();
    for _ in 0..5 {
        let r = send(&s.state, login("analyst", "wrong")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let hashed = std::time::Instant::now();
    let r = send(&s.state, login("analyst", "wrong")).await;
    let hashed = hashed.elapsed();
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the sixth failure sets the lock"
    );
    // Locked: the right password too is refused before any hashing (in
    // well under the time a hashed attempt takes).
    let started = std::time::Instant::now();
    let r = send(&s.state, login("analyst", &pw)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(
        started.elapsed() < hashed / 2,
        "{:?} locked against {hashed:?} hashed",
        started.elapsed()
    );
    let wait: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Another user is not locked by it.
    let other = s.password(Role::Inspectorate).to_string();
    assert_eq!(
        send(&s.state, login("inspectorate", &other)).await.status,
        StatusCode::SEE_OTHER
    );
    let log = audit_lines(&s.audit);
    let outcomes: Vec<(&str, &str)> = log
        .iter()
        .filter(|l| l["action"] == "login")
        .map(|l| (l["user"].as_str().unwrap(), l["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == ("analyst", "wrong"))
            .count(),
        6
    );
    assert!(outcomes.contains(&("analyst", "throttled")));
    assert!(outcomes.contains(&("inspectorate", "ok")));
}

#[tokio::test]
async fn an_unknown_user_costs_what_a_known_one_does() {
    let s = setup(true);
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    // Alternating, three of each (under the lock threshold per name).
    for i in 0..3 {
        let t = std::time::Instant::now();
        send(&s.state, login("analyst", &format!("wrong{i}"))).await;
        known.push(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        send(&s.state, login(&format!("nobody{i}"), "wrong")).await;
        unknown.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[1]
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    // argon2 dominates both; without the dummy hash the unknown name is
    // answered about thirty times faster.
    assert!(
        u > k / 3.0 && u < k * 3.0,
        "known {k:.4} s, unknown {u:.4} s"
    );
}

#[tokio::test]
async fn explain_names_no_file_and_errors_of_casts_are_the_callers() {
    let s = setup(true);
    let token = s.token(Role::Analyst).to_string();
    let r = send(
        &s.state,
        sql("EXPLAIN SELECT count(*) FROM cases", Some(&token), "json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("DataSourceExec"), "{}", r.body);
    for hidden in [".parquet", "_history", "_facts", "/facts/", "store/"] {
        assert!(!r.body.contains(hidden), "{hidden} in {}", r.body);
    }
    for q in [
        "select cast(2147483647 as date)",
        "select arrow_cast(9223372036854775807, 'Timestamp(Microsecond, None)')",
        "select cast('x' as int)",
    ] {
        // Arrow carries any 64-bit timestamp as it is; text cannot show it.
        let formats: &[&str] = if q.contains("Timestamp") {
            &["json", "csv"]
        } else {
            &["json", "csv", "arrow"]
        };
        for format in formats {
            let r = send(&s.state, sql(q, Some(&token), format)).await;
            assert!(
                r.status.is_client_error(),
                "{q} ({format}): {} {}",
                r.status,
                r.body
            );
            assert!(r.body.contains("error"), "{q} ({format}): {}", r.body);
        }
    }
    let log = audit_lines(&s.audit);
    assert!(
        log.iter()
            .any(|l| l["what"] == "select cast(2147483647 as date)" && l["outcome"] == "failed"),
        "the failure is audited as one"
    );
}
