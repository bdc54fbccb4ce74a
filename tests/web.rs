//! Routes of the web application, called with `oneshot` on the real router
//! over a real store built from the sample extracts.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigil::present::dashboards::Catalog;
use vigil::score::scoring::Engine;
use vigil::serve::web::{AppState, app};
use vigil::store::Store;

use common::*;

/// The sample series ingested once for every test of this file.
fn sample_store() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("vigil-web-")
            .tempdir()
            .unwrap()
            .keep();
        sample_store_in(&dir.join("store"));
        dir.join("store")
    })
}

fn state_for(root: &Path) -> AppState {
    let store = Store::open_existing(root).unwrap();
    AppState::new(Engine::bundled(store), Catalog::load(None, None).unwrap()).unwrap()
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

async fn get(state: &AppState, uri: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::builder().uri(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = app(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// The page's HTML with the entities the templates escape decoded, so
/// that assertions read like the page.
async fn page(state: &AppState, uri: &str, cookie: Option<&str>) -> String {
    let r = get(state, uri, cookie).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    r.text()
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[tokio::test]
async fn every_page_renders_in_vietnamese_by_default() {
    let state = state_for(sample_store());
    let league = page(&state, "/d/league?period=2026-Q3", None).await;
    assert!(league.contains("<html lang=\"vi\">"));
    assert!(league.contains("Bảng xếp hạng các tỉnh, thành phố"));
    assert!(league.contains("Quý 3/2026"));
    assert!(
        league.contains("Thành phố Hồ Chí Minh"),
        "province names keep diacritics"
    );
    assert!(
        league.contains("class=\"interval\""),
        "rank intervals are drawn"
    );
    assert_eq!(
        league.matches("data-province=").count(),
        34,
        "one row per province"
    );
    assert!(league.contains("/d/province?province=01&amp;period=2026-Q3"));
    assert!(!league.contains("<script>"), "no injected markup");

    let national = page(&state, "/d/national?period=2026-Q3", None).await;
    assert_eq!(national.matches("class=\"tile tier-").count(), 34);
    assert!(
        national.matches("<svg").count() >= 2,
        "distribution and funnel"
    );
    assert!(national.contains("Biểu đồ phễu"));

    let province = page(&state, "/d/province?province=24&period=2026-Q3", None).await;
    assert!(province.contains("Bắc Ninh"));
    assert!(province.contains("class=\"reasons\""));
    assert!(province.contains("Điểm tổng hợp"), "the tier reason");
    assert!(
        province.matches("<svg").count() >= 4,
        "line charts and funnel"
    );
    assert!(province.contains("Giải quyết đúng hạn"));

    let status = page(&state, "/d/status", None).await;
    assert!(status.contains("Các bản trích xuất đã nạp"));
    assert!(
        status.contains("31/10/2026"),
        "the latest extract date, as a Vietnamese date"
    );

    let indicators = page(&state, "/d/indicators?period=2026", None).await;
    assert!(indicators.contains("Năm 2026"));
    // The default period is the last whole quarter before the as-of date.
    let default = page(&state, "/d/league", None).await;
    assert!(default.contains("Quý 3/2026"));
}

#[tokio::test]
async fn the_language_switch_persists_in_a_cookie() {
    let state = state_for(sample_store());
    let r = get(&state, "/lang/en?back=/d/league%3Fperiod%3D2026-Q2", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/d/league?period=2026-Q2");
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("lang=en;"), "{cookie}");
    let en = page(&state, "/d/league?period=2026-Q2", Some("lang=en")).await;
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Province league table"));
    assert!(en.contains("Q2 2026"));
    assert!(
        en.contains("Thành phố Hồ Chí Minh"),
        "names keep diacritics in English"
    );
    assert!(!en.contains("Bảng xếp hạng các tỉnh"));
    // Numbers follow the language: a decimal comma in Vietnamese, a point in English.
    let vi = page(&state, "/d/league?period=2026-Q2", Some("lang=vi")).await;
    let composite = |html: &str| {
        let at = html.find("<table class=\"sortable league").unwrap();
        html[at..]
            .split("<strong>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    assert!(composite(&vi).contains(','), "{}", composite(&vi));
    assert!(composite(&en).contains('.'), "{}", composite(&en));
    // Never a redirect off the site.
    let r = get(&state, "/lang/vi?back=//evil.example/", None).await;
    assert_eq!(r.headers[header::LOCATION], "/");
    assert_eq!(
        get(&state, "/lang/fr", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_parameters_are_clear_client_errors() {
    let state = state_for(sample_store());
    for (uri, status, words) in [
        (
            "/d/league?period=2026-Q5",
            StatusCode::BAD_REQUEST,
            "2026-Q5",
        ),
        (
            "/d/league?period=2031-Q1",
            StatusCode::NOT_FOUND,
            "after the as-of",
        ),
        ("/d/league?period=2019", StatusCode::NOT_FOUND, "before"),
        (
            "/d/league?as_of=yesterday",
            StatusCode::BAD_REQUEST,
            "not a date",
        ),
        (
            "/d/league?as_of=2001-01-01",
            StatusCode::NOT_FOUND,
            "no extract",
        ),
        (
            "/d/province?province=99&period=2026-Q3",
            StatusCode::NOT_FOUND,
            "99",
        ),
        (
            "/d/province?period=2026-Q3",
            StatusCode::BAD_REQUEST,
            "province",
        ),
        ("/d/nope", StatusCode::NOT_FOUND, "nope"),
        ("/d/league/nopanel.csv", StatusCode::NOT_FOUND, "nopanel"),
        ("/d/league/league.doc", StatusCode::NOT_FOUND, "doc"),
        ("/d/league/league.svg", StatusCode::NOT_FOUND, "not a chart"),
        (
            "/api/league?period=2026-Q3&format=xml",
            StatusCode::BAD_REQUEST,
            "xml",
        ),
        ("/api/league?period=Q3", StatusCode::BAD_REQUEST, "Q3"),
        ("/api/d/province?province=XX", StatusCode::NOT_FOUND, "XX"),
        ("/static/../Cargo.toml", StatusCode::NOT_FOUND, ""),
        ("/nothing/here", StatusCode::NOT_FOUND, ""),
    ] {
        let r = get(&state, uri, None).await;
        assert_eq!(r.status, status, "{uri}: {}", r.text());
        assert!(r.text().contains(words), "{uri}: {}", r.text());
    }
    // The server still answers.
    assert_eq!(get(&state, "/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn api_serves_the_scores_the_engine_computes() {
    let state = state_for(sample_store());
    let engine = Engine::bundled(Store::open_existing(sample_store()).unwrap());
    let expected = engine.score("2026-Q3", None).await.unwrap();
    let r = get(&state, "/api/league?period=2026-Q3", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-vigil-as-of"], "2026-10-31");
    let rows = r.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 34);
    for want in &expected.league {
        let got = rows
            .iter()
            .find(|r| r["province_code"] == want.province_code.as_str())
            .unwrap();
        assert_eq!(
            got["composite"].as_f64(),
            want.composite,
            "{}",
            want.province_code
        );
        assert_eq!(got["tier"], want.tier.as_str());
        assert_eq!(got["rank_lo"].as_u64(), want.rank_lo.map(u64::from));
    }
    let csv = get(&state, "/api/indicators?period=2026-Q3&format=csv", None).await;
    assert!(
        csv.text()
            .starts_with("period,province_code,indicator,numerator,denominator,value")
    );
    assert_eq!(csv.text().lines().count(), 1 + 34 * 13);
    let pq = get(&state, "/api/league?period=2026-Q3&format=parquet", None).await;
    assert_eq!(&pq.body[..4], b"PAR1");

    let d = get(&state, "/api/d/national?period=2026-Q3", None)
        .await
        .json();
    assert_eq!(d["period"], "2026-Q3");
    assert_eq!(d["panels"]["map"]["rows"].as_array().unwrap().len(), 34);
    let dist: i64 = d["panels"]["distribution"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_i64().unwrap())
        .sum();
    let scored = expected
        .league
        .iter()
        .filter(|r| r.composite.is_some())
        .count() as i64;
    assert_eq!(dist, scored, "every scored province is in one band");

    let list = get(&state, "/api/dashboards", None).await.json();
    assert!(list["dashboards"].as_array().unwrap().len() >= 4);
    let provinces = get(&state, "/api/provinces", None).await.json();
    assert_eq!(provinces["provinces"].as_array().unwrap().len(), 34);
    let status = get(&state, "/api/status", None).await.json();
    assert_eq!(status["as_of"], "2026-10-31");
    let health = get(&state, "/healthz", None).await.json();
    assert_eq!(health["status"], "ok");
}

/// The text of one member of a zip file (an XLSX), by Debian's `unzip`.
fn unzip_member(zip: &[u8], member: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.zip");
    std::fs::write(&path, zip).unwrap();
    let out = std::process::Command::new("unzip")
        .arg("-p")
        .arg(&path)
        .arg(member)
        .output()
        .expect("unzip (apt-get install unzip)");
    assert!(out.status.success(), "unzip {member}");
    String::from_utf8(out.stdout).unwrap()
}

/// Every download says the as-of date and the store fingerprint; the
/// fingerprint depends on the data up to the as-of date only, so a store
/// holding just the extracts up to 2026-09-30 has the fingerprint the full
/// store shows as of that date, and a later extract changes it.
#[tokio::test]
async fn exports_carry_the_as_of_date_and_the_store_fingerprint() {
    let state = state_for(sample_store());
    let csv = get(&state, "/d/league/league.csv?period=2026-Q3", None).await;
    let fp = csv.headers["x-vigil-store"].to_str().unwrap().to_string();
    assert_eq!(csv.headers["x-vigil-as-of"], "2026-10-31");
    assert!(
        fp.len() == 12 && fp.chars().all(|c| c.is_ascii_hexdigit()),
        "{fp}"
    );
    let text = csv.text();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with(",as_of,store_fingerprint")
    );
    for line in text.lines().skip(1) {
        assert!(line.ends_with(&format!(",2026-10-31,{fp}")), "{line}");
    }
    let json = get(&state, "/d/league/league.json?period=2026-Q3", None)
        .await
        .json();
    assert_eq!(
        (json["as_of"].as_str(), json["store_fingerprint"].as_str()),
        (Some("2026-10-31"), Some(fp.as_str()))
    );
    let api = get(&state, "/api/d/league?period=2026-Q3", None)
        .await
        .json();
    assert_eq!(api["store_fingerprint"], fp.as_str());
    let xlsx = get(&state, "/plan/export.xlsx?quarter=2026-Q4", None).await;
    let strings = unzip_member(&xlsx.body, "xl/sharedStrings.xml");
    assert!(
        strings.contains(&format!(
            "Dữ liệu đến ngày 31/10/2026 · dấu vân tay dữ liệu {fp}"
        )),
        "{strings}"
    );

    let earlier = get(
        &state,
        "/d/league/league.csv?period=2026-Q3&as_of=2026-09-30",
        None,
    )
    .await;
    let earlier_fp = earlier.headers["x-vigil-store"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(earlier_fp, fp, "a later extract changes the fingerprint");
    let dir = tempfile::tempdir().unwrap();
    let partial = Store::open(dir.path().join("store")).unwrap();
    for (date, d) in
        vigil::extract::ingest::extract_dirs(&repo().join("sample-data/extracts")).unwrap()
    {
        if date <= chrono::NaiveDate::from_ymd_opt(2026, 9, 30).unwrap() {
            ingest(&partial, &d).unwrap();
        }
    }
    let other = state_for(&dir.path().join("store"));
    let csv = get(&other, "/d/league/league.csv?period=2026-Q3", None).await;
    assert_eq!(
        csv.headers["x-vigil-store"].to_str().unwrap(),
        earlier_fp,
        "same data, same fingerprint"
    );
}

#[tokio::test]
async fn every_table_downloads_as_csv_and_xlsx_and_charts_as_svg_and_png() {
    let state = state_for(sample_store());
    let csv = get(&state, "/d/league/league.csv?period=2026-Q3", None).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("league-league-2026-Q3.csv")
    );
    let text = csv.text();
    assert!(text.starts_with("province_code,province_name,composite,tier,"));
    assert_eq!(text.lines().count(), 35);
    let xlsx = get(&state, "/d/status/extracts.xlsx", None).await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(&xlsx.body[..2], b"PK", "an xlsx file is a zip");
    let svg = get(&state, "/d/national/funnel.svg?period=2026-Q3", None).await;
    assert_eq!(svg.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.text().contains("Biểu đồ phễu"));
    let png = get(
        &state,
        "/d/province/scores.png?period=2026-Q3&province=01",
        None,
    )
    .await;
    assert_eq!(&png.body[..4], b"\x89PNG");
    let json = get(&state, "/d/national/flags.json?period=2026-Q3", None)
        .await
        .json();
    assert!(
        json["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "lower_998")
    );
    let font = get(&state, "/static/NotoSans-Regular.ttf", None).await;
    assert_eq!(font.body, vigil::present::charts::FONT_REGULAR);
}

#[tokio::test]
async fn an_ingest_that_lands_empties_the_caches() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let extracts =
        vigil::extract::ingest::extract_dirs(&repo().join("sample-data/extracts")).unwrap();
    let (last, rest) = extracts.split_last().unwrap();
    for (_, d) in rest.iter().rev().take(3).rev() {
        ingest(&store, d).unwrap();
    }
    let state = state_for(&root);
    let before = page(&state, "/d/status", None).await;
    assert!(before.contains("30/09/2026") && !before.contains("31/10/2026"));
    let before_api = get(&state, "/api/d/status", None).await.json();
    let league = "/api/league?period=2026-Q3&format=csv";
    let before_league = get(&state, league, None).await;
    assert_eq!(before_league.headers["x-vigil-as-of"], "2026-09-30");
    ingest(&store, &last.1).unwrap();
    // The encoded answer was cached; the ingest empties that cache too.
    let after_league = get(&state, league, None).await;
    assert_eq!(after_league.headers["x-vigil-as-of"], "2026-10-31");
    let after = page(&state, "/d/status", None).await;
    assert!(
        after.contains("31/10/2026"),
        "the new extract shows without a restart"
    );
    let after_api = get(&state, "/api/d/status", None).await.json();
    assert_ne!(before_api["as_of"], after_api["as_of"]);
    // An as-of before the new extract still gives the earlier picture.
    let pinned = get(&state, "/api/d/status?as_of=2026-09-30", None)
        .await
        .json();
    assert_eq!(
        pinned["panels"]["extracts"]["rows"],
        before_api["panels"]["extracts"]["rows"]
    );
}

#[tokio::test]
async fn a_dashboard_file_whose_query_lacks_a_column_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "title = { vi = \"Hỏng\", en = \"Broken\" }\nparams = [\"period\"]\n\
         [[panels]]\nid = \"t\"\ntitle = { vi = \"x\", en = \"x\" }\n\
         query = \"dashboards/extracts\"\nkind = \"line\"\nx = \"period\"\ny = [\"composite\"]\n",
    )
    .unwrap();
    let store = Store::open_existing(sample_store()).unwrap();
    let catalog = Catalog::load(Some(dir.path()), None).unwrap();
    let state = AppState::new(Engine::bundled(store), catalog).unwrap();
    let e = format!("{:#}", state.check_dashboards().await.unwrap_err());
    assert!(e.contains("bad.toml") && e.contains("composite"), "{e}");
    // The good ones pass the same check.
    state_for(sample_store()).check_dashboards().await.unwrap();
}

#[tokio::test]
async fn the_plan_and_evidence_pages() {
    let state = state_for(sample_store());
    let engine = Engine::bundled(Store::open_existing(sample_store()).unwrap());
    let plan = engine.plan("2026-Q4", None, None).await.unwrap();
    let html = page(&state, "/plan", None).await;
    assert!(html.contains("Kế hoạch thanh tra trách nhiệm"));
    assert!(
        html.contains("Quý 4/2026"),
        "the default quarter follows the as-of"
    );
    for c in plan.chosen() {
        assert!(html.contains(&c.province_name), "{}", c.province_name);
    }
    let api = get(&state, "/api/plan?quarter=2026-Q4", None).await.json();
    let chosen: Vec<&str> = api["provinces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "chosen")
        .map(|c| c["province_code"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = plan.chosen().map(|c| c.province_code.as_str()).collect();
    assert_eq!(chosen, want);
    assert_eq!(api["as_of"], "2026-10-31");
    let three = get(&state, "/api/plan?quarter=2026-Q4&capacity=3", None)
        .await
        .json();
    assert_eq!(three["capacity"], 3);
    let csv = get(&state, "/plan/export.csv?quarter=2026-Q4", None).await;
    assert!(
        csv.text()
            .starts_with("quarter,as_of,status,order,province_code")
    );
    assert_eq!(csv.text().lines().count(), 35);

    let code = want[0];
    let ev = page(
        &state,
        &format!("/plan/{code}?quarter=2026-Q4"),
        Some("lang=en"),
    )
    .await;
    assert!(ev.contains("Evidence pack"));
    assert!(ev.contains("Open overdue cases"));
    assert!(ev.contains("Composite and inspections"));
    assert!(ev.contains("<svg"));
    let list = get(
        &state,
        &format!("/plan/{code}/overdue_cases.csv?quarter=2026-Q4"),
        None,
    )
    .await;
    assert!(list.text().starts_with("case_id,case_type,unit_code,stage"));
    let xlsx = get(
        &state,
        &format!("/plan/{code}/stale_accounts.xlsx?quarter=2026-Q4"),
        None,
    )
    .await;
    assert_eq!(&xlsx.body[..2], b"PK");
    let api = get(&state, &format!("/api/plan/{code}?quarter=2026-Q4"), None)
        .await
        .json();
    assert_eq!(api["province_code"], code);

    for (uri, status) in [
        ("/plan?quarter=2026-10", StatusCode::BAD_REQUEST),
        ("/plan?quarter=2027-Q3", StatusCode::NOT_FOUND),
        ("/plan?capacity=0", StatusCode::BAD_REQUEST),
        ("/plan/99?quarter=2026-Q4", StatusCode::NOT_FOUND),
        ("/plan/01/nolist.csv?quarter=2026-Q4", StatusCode::NOT_FOUND),
        ("/plan/export.pdf?quarter=2026-Q4", StatusCode::NOT_FOUND),
        ("/api/plan?quarter=Q4", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(get(&state, uri, None).await.status, status, "{uri}");
    }
}

#[tokio::test]
async fn why_a_score_moved_adds_up_to_the_change_shown() {
    let state = state_for(sample_store());
    let engine = Engine::bundled(Store::open_existing(sample_store()).unwrap());
    let r = get(
        &state,
        "/api/province/24/change?from=2026-Q2&to=2026-Q3",
        Some("lang=en"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let c = &v["change"];
    // The composites are those the league table shows for both periods.
    for (period, key) in [("2026-Q2", "composite_from"), ("2026-Q3", "composite_to")] {
        let scores = engine.score(period, None).await.unwrap();
        let row = scores
            .league
            .iter()
            .find(|r| r.province_code == "24")
            .unwrap();
        assert_eq!(c[key].as_f64(), row.composite, "{period}");
    }
    let cents = |x: &serde_json::Value| (x.as_f64().unwrap() * 100.0).round() as i64;
    let lines: i64 = c["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| cents(&k["points"]))
        .sum();
    assert_eq!(lines + cents(&c["residue"]), cents(&c["change"]), "{c:#}");
    assert!(cents(&c["residue"]).abs() <= 10, "{c:#}");
    assert_eq!(
        cents(&c["change"]),
        ((c["composite_to"].as_f64().unwrap() - c["composite_from"].as_f64().unwrap()) * 100.0)
            .round() as i64
    );
    let words: Vec<&str> = v["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(words[0].starts_with("Composite from"), "{words:?}");
    assert!(words.last().unwrap().starts_with("Rounding"), "{words:?}");
    // The default is the last complete quarter against the one before.
    let d = get(&state, "/api/province/24/change", None).await;
    assert_eq!(d.status, StatusCode::OK);
    assert!(
        d.json()["change"]["period_to"]
            .as_str()
            .unwrap()
            .contains("-Q")
    );
    let bad = get(&state, "/api/province/99/change", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("no province"), "{}", bad.text());
}

#[tokio::test]
async fn alerts_on_the_sample_data_name_the_provinces_made_to_behave_badly() {
    let state = state_for(sample_store());
    let engine = Engine::bundled(Store::open_existing(sample_store()).unwrap());
    vigil::score::alerts::run(&engine, &vigil::score::alerts::Alerts::bundled())
        .await
        .unwrap();
    let r = get(&state, "/api/alerts", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let alerted: std::collections::BTreeSet<String> = v["open"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["province_code"].as_str().map(String::from))
        .collect();
    // The generator's profiles: every "worst" province is alerted, no
    // exemplary one is.
    let profiles: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample-data/extracts/profiles.json")).unwrap(),
    )
    .unwrap();
    for p in profiles.as_array().unwrap() {
        let code = p["code"].as_str().unwrap();
        match p["behaviour"]["profile"].as_str().unwrap() {
            "worst" => assert!(
                alerted.contains(code),
                "{code} (worst) not alerted: {alerted:?}"
            ),
            "exemplary" => assert!(!alerted.contains(code), "{code} (exemplary) alerted"),
            _ => {}
        }
    }
    // The page in both languages, and the league marks the alerted.
    let vi = page(&state, "/alerts", None).await;
    assert!(vi.contains("Cảnh báo") && vi.contains("Đang mở"), "{vi}");
    let en = page(&state, "/alerts", Some("lang=en")).await;
    assert!(en.contains("Alerts") && en.contains("Open"), "{en}");
    let league = page(&state, "/d/league", None).await;
    assert!(league.matches("class=\"alert-mark\"").count() >= 3);
}

#[test]
fn an_invalid_alerts_file_stops_the_start_with_its_file_rule_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("alerts.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nid = \"low\"\nkind = \"below\"\nmeasure = \"composite\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("store"))
        .arg("--alerts")
        .arg(&bad)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("alerts.toml: rule 'low': key 'value' is required"),
        "{err}"
    );
}
