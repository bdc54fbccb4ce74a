//! A run of ingests under one lock: the extracts of a folder, validated
//! and maintained one after the other and committed in groups.
//!
//! Each extract is read, validated and staged as on its own, then placed
//! in the store's extract folder (where the next extract's validation finds
//! its units and cases) and its facts maintained in memory
//! ([`crate::facts::Group`]). A group is committed, one catalog
//! replacement for all its extracts and their facts, when its versions
//! reach the group's memory or extract bound, when the run ends, or before
//! a rejected extract is reported. A run killed before a commit leaves the
//! store as after the last one: the placed folders and the files of the
//! uncommitted generation are leftovers the next ingest removes, and the
//! next run ingests those extracts again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::ingest::{Outcome, Stage, Staged, stage};
use super::pseudonym::Key;
use crate::facts::{Derivation, Group, Sources};
use crate::reference::Reference;
use crate::store::{Catalog, ExtractEntry, Store, StoreLock};

/// Validates and commits one extract folder: a run of one.
pub fn ingest_extract(
    store: &Store,
    dir: &Path,
    key: &Key,
    reference: &Reference,
) -> Result<Outcome> {
    let mut run = Run::open(store, reference)?;
    let outcome = run.add(dir, key)?;
    run.commit()?;
    Ok(outcome)
}

pub struct Run<'a> {
    store: &'a Store,
    lock: StoreLock,
    derivation: Derivation,
    /// The committed catalog with the extracts placed since.
    catalog: Catalog,
    /// Extracts placed and maintained, not yet committed.
    placed: Vec<ExtractEntry>,
    facts: Option<Group>,
    /// An extract failed after it was placed: what the group holds in
    /// memory is not whole, and nothing more is committed.
    broken: bool,
}

impl<'a> Run<'a> {
    /// Locks the store and removes what a killed ingest left behind.
    pub fn open(store: &'a Store, reference: &Reference) -> Result<Run<'a>> {
        let lock = store.lock()?;
        store.clean_leftovers(&lock)?;
        let catalog = store.catalog()?;
        Ok(Run {
            store,
            lock,
            derivation: Derivation {
                reference: reference.clone(),
                ..Derivation::bundled()
            },
            catalog,
            placed: Vec::new(),
            facts: None,
            broken: false,
        })
    }

    /// Validates one extract folder and maintains its facts; it is
    /// committed with its group (at the latest by [`Run::commit`]).
    pub fn add(&mut self, dir: &Path, key: &Key) -> Result<Outcome> {
        match self.stage(dir, key)? {
            Stage::AlreadyIngested(extract_date) => Ok(Outcome::AlreadyIngested { extract_date }),
            Stage::Written(s) => Ok(self.land(*s, None)?.0),
        }
    }

    /// Adds the extract folders `dirs` in order, as [`Run::add`] one after
    /// the other would, and tells `landed` each outcome. Each next extract
    /// is read, validated and staged on a second thread while the facts of
    /// the one before are maintained: staging is one thread's work, and
    /// maintenance leaves much of a second core idle. On an error (naming
    /// its folder) the extracts before it are maintained and not yet
    /// committed.
    pub fn add_all(
        &mut self,
        dirs: &[PathBuf],
        key: &Key,
        mut landed: impl FnMut(Outcome),
    ) -> Result<()> {
        let mut next = dirs.first().map(|d| self.stage(d, key));
        for (i, dir) in dirs.iter().enumerate() {
            let Some(staged) = next.take() else { break };
            let named = || dir.display().to_string();
            let following = dirs.get(i + 1).map(|d| (d.as_path(), key));
            let (outcome, ahead) = match staged.with_context(named)? {
                Stage::AlreadyIngested(extract_date) => {
                    let ahead = following.map(|(d, k)| self.stage(d, k));
                    (Outcome::AlreadyIngested { extract_date }, ahead)
                }
                Stage::Written(s) => self.land(*s, following).with_context(named)?,
            };
            landed(outcome);
            next = ahead;
        }
        Ok(())
    }

    /// Reads, validates and stages one extract folder against the catalog
    /// of the run so far; nothing after an extract of the run failed.
    fn stage(&self, dir: &Path, key: &Key) -> Result<Stage> {
        if self.broken {
            bail!("an earlier extract of this run failed; nothing more is ingested");
        }
        let reference = &self.derivation.reference;
        stage(self.store, &self.lock, &self.catalog, dir, key, reference)
    }

    /// Places a staged extract, maintains its facts and commits its group
    /// when full; meanwhile stages `next` (a folder and the key), if any,
    /// on another thread, against the catalog that includes this extract.
    fn land(
        &mut self,
        staged: Staged,
        next: Option<(&Path, &Key)>,
    ) -> Result<(Outcome, Option<Result<Stage>>)> {
        self.broken = true;
        let entry = staged.entry;
        staged.staging.place(&entry)?;
        if self.facts.is_none() {
            self.facts = Some(Group::open(
                self.store,
                &self.lock,
                &self.catalog,
                entry.extract_date,
                entry.accepted(),
                &self.derivation,
            )?);
        }
        self.catalog.extracts.push(entry.clone());
        self.placed.push(entry.clone());
        let Run {
            store,
            lock,
            derivation,
            catalog,
            placed,
            facts: Some(group),
            ..
        } = self
        else {
            bail!("no group to maintain the facts in");
        };
        let store: &Store = store;
        let sources = Sources::of(store, &entry);
        let (landed, ahead) = std::thread::scope(|s| {
            let (lock, catalog) = (&*lock, &*catalog);
            let reference = &derivation.reference;
            let ahead = next.map(|(dir, key)| {
                s.spawn(move || stage(store, lock, catalog, dir, key, reference))
            });
            let landed = group
                .maintain(store, entry.extract_date, &sources, derivation)
                .and_then(|()| match group.is_full() {
                    true => commit_group(store, lock, group, placed),
                    false => Ok(()),
                });
            let ahead = ahead.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (landed, ahead)
        });
        landed?;
        self.broken = false;
        let outcome = Outcome::Ingested {
            entry,
            tables: staged.tables,
            quarantined: staged.quarantined,
            warnings: staged.warnings,
        };
        Ok((outcome, ahead))
    }

    /// How many extracts are placed and not yet committed.
    pub fn uncommitted(&self) -> usize {
        self.placed.len()
    }

    /// Commits the extracts placed since the last commit, with their facts.
    pub fn commit(&mut self) -> Result<()> {
        if self.placed.is_empty() {
            return Ok(());
        }
        if self.broken {
            bail!("an extract of this run failed; its group is not committed");
        }
        let Some(group) = &mut self.facts else {
            bail!("extracts placed without their facts");
        };
        self.broken = true;
        commit_group(self.store, &self.lock, group, &mut self.placed)?;
        self.broken = false;
        Ok(())
    }
}

/// Writes the group's files and commits them with the extracts placed.
fn commit_group(
    store: &Store,
    lock: &StoreLock,
    group: &mut Group,
    placed: &mut Vec<ExtractEntry>,
) -> Result<()> {
    let state = group.write(store)?;
    let entries = std::mem::take(placed);
    store.commit_extracts(lock, entries, state)
}
