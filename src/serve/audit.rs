//! The audit log: every user query, every export and every login, as one
//! JSON line each (who, role, when, SQL text and its SHA-256, rows,
//! duration, outcome), in a file that rotates by size.
//!
//! Users cannot erase it. What a user sends is written as a bounded
//! prefix plus the SHA-256 and length of the whole text, so a flood of
//! huge queries adds little. A rotated file is deleted only once its last
//! entry is older than the retention age; while every file is younger and
//! the log has reached its size limit, [`AuditLog::room`] says so and the
//! service refuses new queries with that message rather than lose an
//! entry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::serve::sqlguard::{GuardError, Outcome, Role};

/// How much of a user's text an entry keeps (the SHA-256 and length name
/// the whole).
pub const WHAT_PREFIX_BYTES: usize = 2048;

/// How long and how much the log keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The current file is rotated when it reaches this size.
    pub rotate_bytes: u64,
    /// Rotated files younger than this are never deleted.
    pub keep_for: Duration,
    /// All files together; beyond it, with nothing old enough to delete,
    /// queries are refused.
    pub max_total_bytes: u64,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            rotate_bytes: 10 << 20,
            keep_for: Duration::from_secs(400 * 24 * 3600),
            max_total_bytes: 2 << 30,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry<'a> {
    pub user: &'a str,
    pub role: &'a str,
    /// `sql` or `export`.
    pub action: &'a str,
    /// The SQL text, or the exported resource.
    pub what: &'a str,
    pub rows: Option<usize>,
    pub duration_ms: u128,
    /// `ok` or the kind of failure.
    pub outcome: &'a str,
}

impl<'a> Entry<'a> {
    /// The entry of one query through the guard, with its outcome: the
    /// same fields whichever door (web, Postgres, CLI) the query came in by.
    pub fn query<T: Rows>(
        user: &'a str,
        role: Role,
        sql: &'a str,
        started: Instant,
        result: &Result<T, GuardError>,
    ) -> Entry<'a> {
        Entry {
            user,
            role: role.name(),
            action: "sql",
            what: sql,
            rows: result.as_ref().ok().map(|o| o.rows()),
            duration_ms: started.elapsed().as_millis(),
            outcome: match result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            },
        }
    }
}

/// What a query's audit entry counts as its rows.
pub trait Rows {
    fn rows(&self) -> usize;
}

impl Rows for Outcome {
    fn rows(&self) -> usize {
        self.rows
    }
}

impl<T> Rows for (Outcome, T) {
    fn rows(&self) -> usize {
        self.0.rows
    }
}

impl<'a> Entry<'a> {
    /// The entry of one login attempt: `ok`, `wrong` or `throttled`;
    /// `door` says where from (`web from 192.0.2.7`, `postgres from …`).
    pub fn login(
        name: &'a str,
        door: &'a str,
        started: Instant,
        result: &Result<crate::serve::auth::Principal, crate::serve::auth::Refusal>,
    ) -> Entry<'a> {
        use crate::serve::auth::Refusal;
        Entry {
            user: name,
            role: result.as_ref().map_or("", |p| p.role.name()),
            action: "login",
            what: door,
            rows: None,
            duration_ms: started.elapsed().as_millis(),
            outcome: match result {
                Ok(_) => "ok",
                Err(Refusal::Wrong) => "wrong",
                Err(Refusal::Throttled(_)) => "throttled",
            },
        }
    }
}

/// Where a login came from, for its audit entry.
pub fn door(protocol: &str, addr: Option<std::net::IpAddr>) -> String {
    match addr {
        Some(a) => format!("{protocol} from {a}"),
        None => protocol.to_string(),
    }
}

pub struct AuditLog {
    path: PathBuf,
    retention: Retention,
    lock: Mutex<()>,
}

/// `what` cut to at most `max` bytes at a character boundary.
fn prefix(what: &str, max: usize) -> &str {
    if what.len() <= max {
        return what;
    }
    let mut end = max;
    while !what.is_char_boundary(end) {
        end -= 1;
    }
    &what[..end]
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>, retention: Retention) -> AuditLog {
        AuditLog {
            path: path.into(),
            retention,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current file and every rotated one (`<name>.<n>`), with their
    /// sizes and last-written times, oldest rotation last.
    fn files(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let dir = match self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d.to_path_buf(),
            None => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut out: Vec<(u64, PathBuf, u64, SystemTime)> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().to_string();
                let n = if file == name {
                    0
                } else {
                    file.strip_prefix(&format!("{name}."))?.parse().ok()?
                };
                let m = e.metadata().ok()?;
                Some((n, e.path(), m.len(), m.modified().ok()?))
            })
            .collect();
        out.sort_by_key(|(n, ..)| *n);
        out.into_iter().map(|(_, p, l, t)| (p, l, t)).collect()
    }

    /// Whether the log can take more entries: `Err` with the reason when
    /// it is full of entries younger than the retention age.
    pub fn room(&self) -> Result<(), String> {
        let _g = self.lock.lock().expect("lock");
        self.prune();
        let total: u64 = self.files().iter().map(|(_, l, _)| l).sum();
        if total >= self.retention.max_total_bytes {
            return Err(format!(
                "the audit log {} holds {} MB of entries younger than {} days, its limit; \
                 queries are refused until an administrator archives it",
                self.path.display(),
                total >> 20,
                self.retention.keep_for.as_secs() / 86_400
            ));
        }
        Ok(())
    }

    /// Deletes rotated files whose last entry is older than the retention
    /// age, oldest first; never the current file, never a younger one.
    fn prune(&self) {
        let now = SystemTime::now();
        for (path, _, modified) in self.files().into_iter().skip(1).rev() {
            let age = now.duration_since(modified).unwrap_or_default();
            if age <= self.retention.keep_for {
                break;
            }
            let _ = std::fs::remove_file(path);
        }
    }

    /// Appends one entry; an entry that cannot be written is reported on
    /// standard error, never silently lost.
    pub fn record(&self, e: &Entry) {
        let _g = self.lock.lock().expect("lock");
        if let Err(err) = self.append(e) {
            eprintln!(
                "vigil: cannot write the audit log {}: {err}",
                self.path.display()
            );
        }
    }

    fn append(&self, e: &Entry) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= self.retention.rotate_bytes) {
            self.rotate()?;
            self.prune();
        }
        let what = prefix(e.what, WHAT_PREFIX_BYTES);
        let line = serde_json::json!({
            "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "user": prefix(e.user, 256),
            "role": e.role,
            "action": e.action,
            "what": what,
            "what_bytes": e.what.len(),
            "what_truncated": what.len() < e.what.len(),
            "sha256": hex::encode(Sha256::digest(e.what.as_bytes())),
            "rows": e.rows,
            "duration_ms": e.duration_ms,
            "outcome": e.outcome,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(f, "{line}")?;
        f.flush()
    }

    /// The current file becomes `.1`, `.1` becomes `.2`, and so on: no
    /// file is dropped here (only [`Self::prune`] deletes, by age).
    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |i: usize| PathBuf::from(format!("{}.{i}", self.path.display()));
        let last = self.files().len().saturating_sub(1);
        for i in (1..=last).rev() {
            if numbered(i).exists() {
                std::fs::rename(numbered(i), numbered(i + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_json_lines_and_the_file_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(
            dir.path().join("audit.jsonl"),
            Retention {
                rotate_bytes: 400,
                ..Retention::default()
            },
        );
        for i in 0..10 {
            log.record(&Entry {
                user: "lan",
                role: "analyst",
                action: "sql",
                what: &format!("SELECT {i}"),
                rows: Some(1),
                duration_ms: 3,
                outcome: "ok",
            });
        }
        let current = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        let last: serde_json::Value =
            serde_json::from_str(current.lines().last().unwrap()).unwrap();
        assert_eq!(last["what"], "SELECT 9");
        assert_eq!(last["sha256"].as_str().unwrap().len(), 64);
        assert!(dir.path().join("audit.jsonl.1").exists(), "rotated");
        let total: usize = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| {
                std::fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .lines()
                    .count()
            })
            .sum();
        assert_eq!(total, 10, "nothing lost in rotation");
    }

    fn lines_in(dir: &Path) -> Vec<serde_json::Value> {
        std::fs::read_dir(dir)
            .unwrap()
            .flat_map(|e| {
                std::fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_flood_of_huge_queries_erases_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(
            dir.path().join("audit.jsonl"),
            Retention {
                rotate_bytes: 64 << 10,
                keep_for: Duration::from_secs(3600),
                max_total_bytes: 512 << 10,
            },
        );
        for i in 0..5 {
            log.record(&Entry {
                user: "an",
                role: "inspectorate",
                action: "sql",
                what: &format!("SELECT {i} AS earlier"),
                rows: Some(1),
                duration_ms: 1,
                outcome: "ok",
            });
        }
        let huge = format!("SELECT '{}'", "x".repeat(5 << 20));
        let mut refused = 0;
        for _ in 0..400 {
            if log.room().is_err() {
                refused += 1;
                continue;
            }
            log.record(&Entry {
                user: "mallory",
                role: "analyst",
                action: "sql",
                what: &huge,
                rows: None,
                duration_ms: 1,
                outcome: "too_long",
            });
        }
        let all = lines_in(dir.path());
        for i in 0..5 {
            let what = format!("SELECT {i} AS earlier");
            assert!(
                all.iter().any(|l| l["what"] == what.as_str()),
                "{what} kept"
            );
        }
        let big = all.iter().find(|l| l["user"] == "mallory").unwrap();
        assert_eq!(big["what_bytes"], huge.len());
        assert_eq!(big["what_truncated"], true);
        assert!(big["what"].as_str().unwrap().len() <= WHAT_PREFIX_BYTES);
        assert_eq!(
            big["sha256"],
            hex::encode(Sha256::digest(huge.as_bytes())).as_str()
        );
        // 400 entries of ~2.3 KB pass 512 KB: the rest is refused, not rotated away.
        assert!(refused > 0, "the full log refuses instead of dropping");
        let e = log.room().unwrap_err();
        assert!(e.contains("archives"), "{e}");
    }
}
