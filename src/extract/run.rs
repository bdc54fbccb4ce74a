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

use std::path::Path;

use anyhow::{Result, bail};

use super::ingest::{Outcome, Stage, stage};
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
        if self.broken {
            bail!("an earlier extract of this run failed; nothing more is ingested");
        }
        let reference = &self.derivation.reference;
        let staged = match stage(self.store, &self.lock, &self.catalog, dir, key, reference)? {
            Stage::AlreadyIngested(extract_date) => {
                return Ok(Outcome::AlreadyIngested { extract_date });
            }
            Stage::Written(s) => *s,
        };
        self.broken = true;
        let entry = staged.entry;
        let date = entry.extract_date;
        staged.staging.place(&entry)?;
        let group = match &mut self.facts {
            Some(g) => g,
            None => self.facts.insert(Group::open(
                self.store,
                &self.lock,
                &self.catalog,
                date,
                entry.accepted(),
                &self.derivation,
            )?),
        };
        let sources = Sources::of(self.store, &entry);
        group.maintain(self.store, date, &sources, &self.derivation)?;
        let full = group.is_full();
        self.catalog.extracts.push(entry.clone());
        self.placed.push(entry.clone());
        self.broken = false;
        if full {
            self.commit()?;
        }
        Ok(Outcome::Ingested {
            entry,
            tables: staged.tables,
            quarantined: staged.quarantined,
            warnings: staged.warnings,
        })
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
        let state = group.write(self.store)?;
        let entries = std::mem::take(&mut self.placed);
        self.store.commit_extracts(&self.lock, entries, state)?;
        self.broken = false;
        Ok(())
    }
}
