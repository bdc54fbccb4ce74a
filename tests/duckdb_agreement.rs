//! vigil and the independent DuckDB implementation (bench/duckdb_indicators.py)
//! must give identical numerators and denominators on the sample data.
//!
//! Needs python3 with the `duckdb` package. CI installs it and sets
//! VIGIL_REQUIRE_DUCKDB=1, which makes its absence a failure; elsewhere the
//! test says it did not run.

mod common;

use std::process::Command;

use common::*;
use vigil::score::scoring::Engine;

fn duckdb_available() -> bool {
    Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn numerators_and_denominators_agree_with_duckdb() {
    if !duckdb_available() {
        assert!(
            std::env::var("VIGIL_REQUIRE_DUCKDB").is_err(),
            "python3 with duckdb is required (pip install duckdb)"
        );
        eprintln!("SKIPPED: python3 with duckdb not found (pip install duckdb)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = sample_store_in(&tmp.path().join("store"));
    let engine = Engine::bundled(store.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (period, as_of) in [
        ("2026-Q3", None),
        ("2025", None),
        ("2024-02", None),
        ("2025", Some("2025-08-15")),
    ] {
        let scores = rt
            .block_on(engine.score(period, as_of.map(|d: &str| d.parse().unwrap())))
            .unwrap();
        let mut ours: Vec<String> = scores
            .indicators
            .iter()
            .map(|v| {
                format!(
                    "{},{},{},{},{}",
                    v.period, v.province_code, v.indicator, v.numerator, v.denominator
                )
            })
            .collect();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("bench/duckdb_indicators.py"))
            .arg("--store")
            .arg(store.root())
            .args(["--period", period]);
        if let Some(d) = as_of {
            cmd.args(["--as-of", d]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut theirs: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours.len(), 34 * 13);
        let differing: Vec<_> = ours.iter().zip(&theirs).filter(|(a, b)| a != b).collect();
        assert!(
            differing.is_empty(),
            "{period} as of {as_of:?}: vigil vs duckdb {differing:#?}"
        );
        // Not trivially equal: most provinces have data.
        let with_data = ours.iter().filter(|l| !l.ends_with(",0,0")).count();
        assert!(
            with_data > 34 * 8,
            "{period}: only {with_data} non-empty indicators"
        );
    }
}
