//! Versions maintained for extracts whose current-tier files are not yet
//! written: what a group of extracts committed together adds and closes.
//!
//! Writing a slot again costs the whole slot (decoding and encoding every
//! version in it), and each extract touches most slots of the last year.
//! Extracts ingested in one run are therefore maintained one after the
//! other in memory, and each touched slot is written once for the group:
//! the versions an extract adds wait here, and the committed versions it
//! closes are marked by hash. The next extract's maintenance reads the
//! committed files less the marked versions plus the waiting ones, so it
//! sees exactly what it would after a commit of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, FixedSizeBinaryArray, RecordBatch,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use super::version::{HashMapByPrefix, HashSetByPrefix, VersionHash, hashes_in};
use super::{HASH, Slot, VALID_FROM, VALID_TO};

/// A version's identity: its hash and the extract day it is valid from
/// (the same content can come back after it was superseded).
type Version = (VersionHash, i32);

/// What a group of extracts changed in one fact.
#[derive(Default, Clone)]
pub struct PendingFact {
    /// Versions added by the group and still current (`version_to` null).
    pub added: Vec<RecordBatch>,
    /// Committed versions the group closed: their slot and the day of the
    /// extract that closed them.
    pub closing: HashMapByPrefix<Version, (Slot, i32)>,
    /// Versions the group added and closed again, `version_to` set.
    pub closed: Vec<RecordBatch>,
}

impl PendingFact {
    /// Closes `versions` (slot, hash, valid from) on `day`: a version this
    /// group added leaves `added` for `closed`; a committed one is marked.
    pub fn close(&mut self, versions: Vec<(Slot, VersionHash, i32)>, day: i32) -> Result<()> {
        if versions.is_empty() {
            return Ok(());
        }
        let mut wanted: HashMapByPrefix<Version, Slot> = versions
            .into_iter()
            .map(|(slot, h, from)| ((h, from), slot))
            .collect();
        let mut kept = Vec::with_capacity(self.added.len());
        for batch in std::mem::take(&mut self.added) {
            let ids = versions_of(&batch)?;
            let goes: BooleanArray = ids
                .iter()
                .map(|v| Some(wanted.remove(v).is_some()))
                .collect();
            if goes.true_count() == 0 {
                kept.push(batch);
                continue;
            }
            let stays = datafusion::arrow::compute::not(&goes)?;
            kept.push(filter_record_batch(&batch, &stays)?);
            self.closed
                .push(with_valid_to(&filter_record_batch(&batch, &goes)?, day)?);
        }
        self.added = kept;
        for (v, slot) in wanted {
            self.closing.insert(v, (slot, day));
        }
        Ok(())
    }

    /// Memory held by the waiting versions.
    pub fn bytes(&self) -> usize {
        let batches: usize = self
            .added
            .iter()
            .chain(&self.closed)
            .map(RecordBatch::get_array_memory_size)
            .sum();
        batches + self.closing.len() * 64
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.closing.is_empty() && self.closed.is_empty()
    }

    /// The committed versions the group closed, per slot: hash to day.
    pub fn closing_by_slot(&self) -> BTreeMap<Slot, HashMapByPrefix<VersionHash, i32>> {
        let mut out: BTreeMap<Slot, HashMapByPrefix<VersionHash, i32>> = BTreeMap::new();
        for ((h, _), (slot, day)) in &self.closing {
            out.entry(slot.clone()).or_default().insert(*h, *day);
        }
        out
    }

    /// A function `name(vigil_hash, version_from)`, true for a committed
    /// version the group has not closed: the filter that makes the
    /// committed files read as the group left them.
    pub fn still_open_udf(&self, name: &str) -> ScalarUDF {
        let closed: Arc<HashSetByPrefix<Version>> =
            Arc::new(self.closing.keys().copied().collect());
        create_udf(
            name,
            vec![DataType::FixedSizeBinary(16), DataType::Date32],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let hashes = arrays[0]
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .ok_or_else(|| datafusion::error::DataFusionError::Internal("a hash".into()))?;
                let from = arrays[1]
                    .as_any()
                    .downcast_ref::<Date32Array>()
                    .ok_or_else(|| datafusion::error::DataFusionError::Internal("a date".into()))?;
                let open: BooleanArray = hashes_in(hashes)
                    .zip(from.values().iter())
                    .map(|(h, &from)| Some(!closed.contains(&(h, from))))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(open)))
            }),
        )
    }
}

/// Every fact's pending changes.
#[derive(Default, Clone)]
pub struct Pending {
    pub facts: BTreeMap<&'static str, PendingFact>,
}

impl Pending {
    pub fn fact(&mut self, name: &'static str) -> &mut PendingFact {
        self.facts.entry(name).or_default()
    }

    pub fn get(&self, name: &str) -> Option<&PendingFact> {
        self.facts.get(name).filter(|f| !f.is_empty())
    }

    /// Memory held by the waiting versions of every fact.
    pub fn bytes(&self) -> usize {
        self.facts.values().map(PendingFact::bytes).sum()
    }
}

/// Each row's (hash, valid from).
fn versions_of(batch: &RecordBatch) -> Result<Vec<Version>> {
    let hashes = batch
        .column_by_name(HASH)
        .and_then(|c| c.as_any().downcast_ref::<FixedSizeBinaryArray>())
        .context("vigil_hash")?;
    let from = batch
        .column_by_name(VALID_FROM)
        .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
        .context("version_from")?;
    Ok(hashes_in(hashes)
        .zip(from.values().iter().copied())
        .collect())
}

/// The batch with `version_to` set to `day` on every row.
pub fn with_valid_to(batch: &RecordBatch, day: i32) -> Result<RecordBatch> {
    let at = batch.schema().index_of(VALID_TO)?;
    let mut columns = batch.columns().to_vec();
    columns[at] = Arc::new(Date32Array::from(vec![day; batch.num_rows()]));
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
