//! Indicator counts kept in the store once computed, so that a period
//! scored as of a date is counted once, not on every read.
//!
//! Scoring a quarter at ten million cases takes seconds; the alerts an
//! ingest evaluates score the last complete quarters as of the extract it
//! landed, which are also what the league page shows first. Keeping those
//! counts makes the first page after an ingest a read of a small file.
//!
//! A file holds one period's numerators and denominators (never the
//! values, which are computed again from them, so that nothing depends on
//! how a float is written), and is named by a digest of everything the
//! counts are computed from (see `Engine::kept_key`): the extracts up to
//! the as-of date, the rules, calendar, reference data, the SQL and the
//! version of vigil. Anything else gives another name, so a kept file is
//! never out of date: it is used, or it is not found.
//!
//! `cache/indicators/<digest>.json`, written through a temporary file and
//! a rename; the oldest beyond [`KEEP`] are removed. A file that cannot be
//! read or written costs a computation, never a result.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Files kept at most: a year of as-of dates for a few periods each.
const KEEP: usize = 256;

/// One province's count of one indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub province_code: String,
    pub indicator: String,
    pub numerator: i64,
    pub denominator: i64,
}

#[derive(Serialize, Deserialize)]
struct File {
    /// Written for a reader of the file; the name is what is checked.
    period: String,
    as_of: String,
    counts: Vec<Count>,
}

fn dir(store: &Path) -> PathBuf {
    store.join("cache").join("indicators")
}

fn path(store: &Path, key: &str) -> PathBuf {
    dir(store).join(format!("{key}.json"))
}

/// The counts kept under `key`, if any.
pub fn load(store: &Path, key: &str) -> Option<Vec<Count>> {
    let path = path(store, key);
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str::<File>(&text) {
        Ok(f) => Some(f.counts),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

/// Keeps `counts` under `key`; a failure is logged, not returned (a store
/// that cannot be written to, say, only scores again next time).
pub fn save(store: &Path, key: &str, period: &str, as_of: &str, counts: Vec<Count>) {
    let file = File {
        period: period.to_string(),
        as_of: as_of.to_string(),
        counts,
    };
    if let Err(e) = write(store, key, &file) {
        // A store the reader may not write to is expected (an analyst's
        // read-only copy); anything else is worth a look.
        let denied = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                )
            })
        });
        match denied {
            true => tracing::debug!("indicator counts not kept: {e:#}"),
            false => tracing::warn!("indicator counts not kept: {e:#}"),
        }
    }
}

fn write(store: &Path, key: &str, file: &File) -> Result<()> {
    let dir = dir(store);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = path(store, key);
    // A name of its own per writer: the server and an ingest may keep the
    // same counts at once.
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(file)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &target).with_context(|| format!("writing {}", target.display()))?;
    prune(&dir)
}

/// Removes the oldest files beyond [`KEEP`].
fn prune(dir: &Path) -> Result<()> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= KEEP {
        return Ok(());
    }
    files.sort();
    for (_, p) in &files[..files.len() - KEEP] {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(p: &str, n: i64) -> Count {
        Count {
            province_code: p.into(),
            indicator: "r1_head_reception".into(),
            numerator: n,
            denominator: 10,
        }
    }

    #[test]
    fn counts_are_found_under_their_key_only() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load(d.path(), "abc"), None);
        save(
            d.path(),
            "abc",
            "2026-Q3",
            "2026-10-31",
            vec![count("01", 3)],
        );
        assert_eq!(load(d.path(), "abc"), Some(vec![count("01", 3)]));
        assert_eq!(load(d.path(), "abd"), None);
    }

    #[test]
    fn a_damaged_file_is_not_found_and_the_oldest_go() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir(d.path())).unwrap();
        std::fs::write(path(d.path(), "bad"), "{\"period\":").unwrap();
        assert_eq!(load(d.path(), "bad"), None);
        for i in 0..KEEP + 3 {
            save(d.path(), &format!("k{i:04}"), "2026", "2026-10-31", vec![]);
        }
        let left = std::fs::read_dir(dir(d.path())).unwrap().count();
        assert_eq!(left, KEEP);
        assert!(load(d.path(), &format!("k{:04}", KEEP + 2)).is_some());
    }
}
