//! The audit log: every user query and every export, as one JSON line
//! each (who, role, when, SQL text and its SHA-256, rows, duration,
//! outcome), in a file that rotates by size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::sqlguard::{GuardError, Outcome, Role};

/// Files kept besides the current one: `audit.jsonl.1` … `.5`.
const KEEP: usize = 5;

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
    pub fn query(
        user: &'a str,
        role: Role,
        sql: &'a str,
        started: Instant,
        result: &Result<Outcome, GuardError>,
    ) -> Entry<'a> {
        Entry {
            user,
            role: role.name(),
            action: "sql",
            what: sql,
            rows: result.as_ref().ok().map(|o| o.rows),
            duration_ms: started.elapsed().as_millis(),
            outcome: match result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            },
        }
    }
}

pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    lock: Mutex<()>,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>, max_bytes: u64) -> AuditLog {
        AuditLog {
            path: path.into(),
            max_bytes,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
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
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= self.max_bytes) {
            self.rotate()?;
        }
        let line = serde_json::json!({
            "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "user": e.user,
            "role": e.role,
            "action": e.action,
            "what": e.what,
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

    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |i: usize| PathBuf::from(format!("{}.{i}", self.path.display()));
        for i in (1..KEEP).rev() {
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
        let log = AuditLog::new(dir.path().join("audit.jsonl"), 400);
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
}
