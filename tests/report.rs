//! The quarterly report as a PDF: `vigil report` (the real binary) on a
//! store of the sample extracts, printed by headless Chromium, read back
//! with `pdftotext` and `pdfinfo` (Debian's poppler-utils). Without them
//! the test is skipped, unless `VIGIL_REQUIRE_BROWSER=1` (as in CI).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn tools_present() -> bool {
    let chromium = vigil::serve::report::chromium().is_some();
    let poppler = Command::new("pdftotext").arg("-v").output().is_ok();
    if chromium && poppler {
        return true;
    }
    if std::env::var("VIGIL_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!(
            "VIGIL_REQUIRE_BROWSER=1 but chromium or pdftotext is missing (apt-get install chromium poppler-utils)"
        );
    }
    eprintln!("skipped: no chromium or pdftotext");
    false
}

fn vigil(store: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .arg("--store")
        .arg(store)
        .env("VIGIL_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vigil {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn pdf_pages(pdf: &Path) -> usize {
    let out = Command::new("pdfinfo").arg(pdf).output().unwrap();
    let info = String::from_utf8(out.stdout).unwrap();
    let line = info.lines().find(|l| l.starts_with("Pages:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Names of the provinces in tier D, from `vigil score` itself.
fn tier_d(store: &Path) -> Vec<String> {
    let csv = vigil(store, &["score", "--period", "2026-Q3", "--format", "csv"]);
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let (name, tier) = (
        head.iter().position(|h| *h == "province_name").unwrap(),
        head.iter().position(|h| *h == "tier").unwrap(),
    );
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[tier] == "D")
        .map(|c| c[name].to_string())
        .collect()
}

#[test]
fn quarterly_report_prints_to_a4_pdf_with_every_part() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    sample_store_in(&root);
    let status = vigil(&root, &["status"]);
    let fingerprint = status
        .lines()
        .find_map(|l| l.strip_prefix("store fingerprint as of 2026-10-31: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{status}"))
        .to_string();

    let pdf = dir.path().join("q3.pdf");
    let out = vigil(
        &root,
        &[
            "report",
            "--quarter",
            "2026-Q3",
            "--out",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(out.contains("wrote"), "{out}");
    let text = pdf_text(&pdf);
    // The cover: title, period, as-of date and the store fingerprint.
    assert!(text.contains("Báo cáo quý"), "{text}");
    assert!(text.contains("Quý 3/2026"));
    assert!(text.contains("31/10/2026"));
    assert!(
        text.contains(&fingerprint),
        "fingerprint {fingerprint} on the cover"
    );
    assert!(text.contains("Mục lục"));
    // The summary in words, the league, the national picture.
    assert!(text.contains("Tóm tắt") && text.contains("Cao nhất:") && text.contains("Thấp nhất:"));
    assert!(text.contains("Bảng xếp hạng") && text.contains("Toàn cảnh cả nước"));
    // A page for every province in tier D, saying why.
    let d = tier_d(&root);
    assert!(!d.is_empty());
    for name in &d {
        assert!(text.contains(name.as_str()), "{name}");
    }
    assert!(
        text.matches("Đưa vào báo cáo vì: D — Kém").count() >= d.len(),
        "{text}"
    );
    assert!(text.contains("Bắc Ninh"));
    // The next quarter's plan, the method and the caveats.
    assert!(text.contains("Kế hoạch thanh tra trách nhiệm — Quý 4/2026"));
    assert!(text.contains("Phương pháp và lưu ý về dữ liệu"));
    let pages = pdf_pages(&pdf);
    assert!((8..=60).contains(&pages), "{pages} pages");

    // In English, as of an earlier extract: another fingerprint.
    let pdf_en = dir.path().join("q2-en.pdf");
    vigil(
        &root,
        &[
            "report",
            "--quarter",
            "2026-Q2",
            "--as-of",
            "2026-07-31",
            "--lang",
            "en",
            "--out",
            pdf_en.to_str().unwrap(),
        ],
    );
    let text = pdf_text(&pdf_en);
    assert!(
        text.contains("Quarterly report") && text.contains("Q2 2026"),
        "{text}"
    );
    assert!(
        !text.contains(&fingerprint),
        "an earlier as-of has its own fingerprint"
    );
    assert!(text.contains("Bắc Ninh"), "names keep their diacritics");
}

#[test]
fn a_report_that_cannot_be_made_says_why_and_writes_nothing() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = small_store_with_content(dir.path()).root().to_path_buf();
    let pdf = dir.path().join("x.pdf");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["report", "--quarter", "2026", "--out"])
        .arg(&pdf)
        .arg("--store")
        .arg(&root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the report covers a quarter"), "{err}");
    assert!(!pdf.exists());
}
