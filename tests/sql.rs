//! The guarded SQL path: an attack corpus, each refused with a clear
//! message or bounded, the roles' views, and the guard still answering.

mod common;

use std::time::{Duration, Instant};

use vigil::score::scoring::Engine;
use vigil::serve::sqlguard::{Guard, GuardError, Limits, Role};

use common::*;

fn guard(root: &std::path::Path, limits: Limits) -> Guard {
    Guard::new(Engine::bundled(small_store_with_content(root)), limits).unwrap()
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(3),
        score_quarters: 1,
        score_years: 0,
        ..Limits::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_attack_corpus_is_refused_or_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let g = guard(dir.path(), limits());
    let rt = rt();
    let run = |sql: &str| rt.block_on(g.run(Role::Admin, sql, None));
    let refused = |sql: &str, kind: &str, words: &str| {
        let e = run(sql).expect_err(sql);
        assert_eq!(e.kind(), kind, "{sql}: {e}");
        assert!(e.to_string().contains(words), "{sql}: {e}");
    };
    refused(
        "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
        "not_allowed",
        "CREATE EXTERNAL TABLE is not allowed",
    );
    let target = dir.path().join("copied.csv");
    refused(
        &format!("COPY (SELECT * FROM units) TO '{}'", target.display()),
        "not_allowed",
        "COPY",
    );
    assert!(!target.exists(), "COPY wrote nothing");
    refused(
        "SET datafusion.execution.batch_size = 1",
        "not_allowed",
        "SET is not allowed",
    );
    refused(
        "INSERT INTO units SELECT * FROM units",
        "not_allowed",
        "INSERT is not allowed",
    );
    refused("DROP TABLE cases", "not_allowed", "DROP is not allowed");
    refused(
        "CREATE VIEW v AS SELECT 1",
        "not_allowed",
        "CREATE is not allowed",
    );
    refused("SELECT 1; DROP TABLE cases", "not_allowed", "2 statements");
    refused("SELECT * FROM '/etc/passwd'", "invalid", "not found");
    refused(
        "SELECT * FROM read_csv('/etc/passwd')",
        "invalid",
        "read_csv",
    );
    // A deeply nested expression stops at the parser's recursion limit.
    let nested = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
    refused(&nested, "invalid", "ecursion");
    // A 1 MB text is refused before parsing.
    let huge = format!("SELECT 1 -- {}", "x".repeat(1 << 20));
    refused(&huge, "too_long", "limit");
    // A 20,000-term OR chain: over the length cap by default...
    let terms: Vec<String> = (0..20_000).map(|i| format!("unit_code = 'U{i}'")).collect();
    let or_chain = format!("SELECT count(*) FROM units WHERE {}", terms.join(" OR "));
    refused(&or_chain, "too_long", "limit");
    // ...and bounded by the timeout when the cap allows it.
    let wide = guard(
        dir.path().join("wide").as_path(),
        Limits {
            max_sql_bytes: 2 << 20,
            ..limits()
        },
    );
    let t = Instant::now();
    let r = rt.block_on(wide.run(Role::Admin, &or_chain, None));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    if let Err(e) = &r {
        assert!(
            matches!(
                e,
                GuardError::Timeout(_) | GuardError::Invalid(_) | GuardError::Failed(_)
            ),
            "{e}"
        );
    }
    // An endless series: the row cap stops a streaming result, the
    // timeout an aggregation over it.
    let capped = run("SELECT * FROM generate_series(1, 1000000000000)").unwrap();
    assert!(capped.truncated);
    assert_eq!(capped.rows, g.limits.max_rows);
    let t = Instant::now();
    refused(
        "SELECT count(*) FROM generate_series(1, 1000000000000)",
        "timeout",
        "cancelled",
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    // A cross join of the largest tables, made large.
    let t = Instant::now();
    let e = run(
        "SELECT count(*) FROM generate_series(1, 100000000) a CROSS JOIN cases b CROSS JOIN case_events c CROSS JOIN generate_series(1, 1000000) d",
    );
    assert!(e.is_err() || t.elapsed() < Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // Still answering.
    let ok = run("SELECT count(*) AS n FROM cases").unwrap();
    assert_eq!(ok.rows, 1);
}

#[test]
fn each_role_reads_only_what_it_may() {
    let dir = tempfile::tempdir().unwrap();
    let g = guard(dir.path(), limits());
    let rt = rt();
    let run = |role, sql: &str| rt.block_on(g.run(role, sql, None));
    let text = |o: vigil::serve::sqlguard::Outcome| {
        let b = datafusion::arrow::compute::concat_batches(&o.schema, &o.batches).unwrap();
        datafusion::arrow::util::pretty::pretty_format_batches(&[b])
            .unwrap()
            .to_string()
    };
    // Leadership: scores only.
    assert!(run(Role::Leadership, "SELECT count(*) FROM league_table").is_ok());
    for t in [
        "cases",
        "case_events",
        "stages",
        "reception_sessions",
        "officials",
    ] {
        let e = run(Role::Leadership, &format!("SELECT * FROM {t}")).unwrap_err();
        assert!(e.to_string().contains("not found"), "{t}: {e}");
    }
    // Analysts: case level, but no denunciation content or result.
    let a = text(
        run(
            Role::Analyst,
            "SELECT case_id, content_summary, result_summary FROM cases ORDER BY case_id",
        )
        .unwrap(),
    );
    assert!(a.contains("khiếu nại về chế độ"), "{a}");
    assert!(
        !a.contains("tố cáo cán bộ X") && !a.contains("kết luận Y"),
        "{a}"
    );
    // The inspectorate sees it.
    let i = text(
        run(
            Role::Inspectorate,
            "SELECT content_summary FROM cases WHERE case_id = 'T1'",
        )
        .unwrap(),
    );
    assert!(i.contains("tố cáo cán bộ X"), "{i}");
    // Nobody reads a raw identity: it is not stored.
    for role in [Role::Analyst, Role::Inspectorate, Role::Admin] {
        let e = run(role, "SELECT requester_name FROM cases").unwrap_err();
        assert!(e.to_string().contains("requester_name"), "{e}");
        let all = text(run(role, "SELECT * FROM cases").unwrap());
        assert!(
            !all.contains("Trần Thị Hoa") && !all.contains("079200001111"),
            "{all}"
        );
    }
    // The catalog lists what each role sees.
    let names: Vec<String> = rt
        .block_on(g.catalog(Role::Leadership, None))
        .unwrap()
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert!(names.contains(&"league_table".to_string()) && !names.contains(&"cases".to_string()));
}

#[test]
fn vigil_sql_runs_a_script_through_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    small_store_with_content(dir.path());
    let script = dir.path().join("q.sql");
    std::fs::write(
        &script,
        "-- two queries; the second is refused\nSELECT count(*) AS n FROM units;\nDROP TABLE units;\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["sql", "--format", "csv", "--store"])
        .arg(dir.path().join("store"))
        .arg("-f")
        .arg(&script)
        .arg("--audit-log")
        .arg(dir.path().join("audit.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.starts_with("n\n2\n"), "{stdout}");
    assert!(stderr.contains("DROP is not allowed"), "{stderr}");
    assert!(!out.status.success(), "a refused query fails the script");
    // Both queries are audited, with their outcome, under the OS account.
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines
            .iter()
            .all(|l| l["user"].as_str().unwrap().starts_with("cli:"))
    );
    assert_eq!(lines[0]["outcome"], "ok");
    assert_eq!(lines[0]["rows"], 1);
    assert_eq!(lines[1]["outcome"], "not_allowed");
    assert!(
        lines[1]["what"]
            .as_str()
            .is_some_and(|s| s.contains("DROP TABLE units")),
        "{log}"
    );
}
