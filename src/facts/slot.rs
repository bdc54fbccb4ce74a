//! Writing one current-tier slot again: its committed versions less those
//! an extract closes, merged with the versions it adds, in the slot's
//! order.
//!
//! A slot's file is already in order (province, date, entity, hash), so
//! only the added rows are sorted and the two runs are merged; every
//! column is then copied once, from the decoded file and the added rows
//! straight into the new file's arrays. Sorting the whole slot again, as
//! a plain `concat` + `lexsort` would, compares every row's key strings
//! and copies each column four more times, and most slots gain or lose a
//! small share of their rows.

use std::cmp::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, DynComparator, FixedSizeBinaryArray, RecordBatch, UInt32Array,
    make_comparator,
};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat, interleave, lexsort_to_indices, take,
};

use super::version::{HashMapByPrefix, VersionHash};

/// The rows of `batch` in the order of `keys` (ascending, nulls first).
pub fn sorted(batch: &RecordBatch, keys: &[&str]) -> Result<RecordBatch> {
    let columns = keys
        .iter()
        .map(|k| {
            Ok(SortColumn {
                values: batch.column_by_name(k).context("sort column")?.clone(),
                options: Some(SortOptions::default()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let order = lexsort_to_indices(&columns, None)?;
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c, &order, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// A row as (batch, row): the old batches first, then `added`.
type At = (usize, usize);

/// One slot's merge: the committed rows (`old`, as decoded, possibly
/// none) and the rows of `added` the slot gains, ordered by `keys`.
pub struct SlotMerge<'a> {
    pub old: &'a [RecordBatch],
    pub added: &'a RecordBatch,
    pub gaining: &'a [u32],
    /// The sort columns, most significant first; the last ones together
    /// tell every two rows apart.
    pub keys: &'a [&'a str],
    /// The column of each version's hash.
    pub hash: &'a str,
}

/// A slot's new content and the versions it closed.
pub struct Merged {
    pub current: RecordBatch,
    pub closed: RecordBatch,
}

impl SlotMerge<'_> {
    /// The slot without the versions whose hashes `closing` names, plus the
    /// gained rows; and the closed versions, with `valid_to` (a column
    /// name) set to the day `closing` gives each. Every hash in `closing`
    /// must be in the slot.
    pub fn run(
        &self,
        closing: Option<&HashMapByPrefix<VersionHash, i32>>,
        valid_to: &str,
    ) -> Result<Merged> {
        let (stays, goes, days) = self.split(closing)?;
        let order = self.merge_order(&stays)?;
        let current = self.gather(&order)?;
        let mut closed = self.gather(&goes)?;
        if closed.num_rows() > 0 {
            let at = closed.schema().index_of(valid_to)?;
            let mut columns = closed.columns().to_vec();
            columns[at] = Arc::new(Date32Array::from(days));
            closed = RecordBatch::try_new(closed.schema(), columns)?;
        }
        Ok(Merged { current, closed })
    }

    /// The old rows that stay and those that go, as (batch, row) pairs,
    /// and the day each that goes is closed on.
    fn split(
        &self,
        closing: Option<&HashMapByPrefix<VersionHash, i32>>,
    ) -> Result<(Vec<At>, Vec<At>, Vec<i32>)> {
        let mut stays = Vec::new();
        let mut goes = Vec::new();
        let mut days = Vec::new();
        for (b, batch) in self.old.iter().enumerate() {
            let hashes = batch
                .column_by_name(self.hash)
                .and_then(|c| c.as_any().downcast_ref::<FixedSizeBinaryArray>())
                .context("vigil_hash")?;
            for r in 0..batch.num_rows() {
                match closing.and_then(|c| c.get(hashes.value(r))) {
                    Some(day) => {
                        goes.push((b, r));
                        days.push(*day);
                    }
                    None => stays.push((b, r)),
                }
            }
        }
        let wanted = closing.map_or(0, HashMapByPrefix::len);
        if goes.len() != wanted {
            bail!(
                "the slot holds {} of the {wanted} versions to close; rebuild the facts (`vigil rebuild`)",
                goes.len()
            );
        }
        Ok((stays, goes, days))
    }

    /// The staying old rows and the gained rows merged in key order.
    fn merge_order(&self, stays: &[At]) -> Result<Vec<At>> {
        let gained = self.gained_in_order()?;
        let added_at = self.old.len();
        if stays.is_empty() {
            return Ok(gained.into_iter().map(|r| (added_at, r)).collect());
        }
        // Each old row's position in the old rows taken together, where
        // the comparators look their keys up.
        let starts: Vec<usize> = self
            .old
            .iter()
            .scan(0, |n, b| {
                let at = *n;
                *n += b.num_rows();
                Some(at)
            })
            .collect();
        let compare = self.comparators()?;
        let key_order = |old: At, new: usize| -> Ordering {
            let i = starts[old.0] + old.1;
            compare
                .iter()
                .map(|c| c(i, new))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        let mut out = Vec::with_capacity(stays.len() + gained.len());
        let (mut i, mut j) = (0, 0);
        while i < stays.len() || j < gained.len() {
            let old_first = j == gained.len()
                || (i < stays.len() && key_order(stays[i], gained[j]) != Ordering::Greater);
            if old_first {
                out.push(stays[i]);
                i += 1;
            } else {
                out.push((added_at, gained[j]));
                j += 1;
            }
        }
        Ok(out)
    }

    /// The gained rows of `added`, sorted by the keys.
    fn gained_in_order(&self) -> Result<Vec<usize>> {
        let rows = UInt32Array::from(self.gaining.to_vec());
        let columns = self
            .keys
            .iter()
            .map(|k| {
                let c = self.added.column_by_name(k).context("sort column")?;
                Ok(SortColumn {
                    values: take(c, &rows, None)?,
                    options: Some(SortOptions::default()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let order = lexsort_to_indices(&columns, None)?;
        Ok(order
            .values()
            .iter()
            .map(|&p| self.gaining[p as usize] as usize)
            .collect())
    }

    /// Per key, a comparison of an old row (by its position in the old
    /// rows taken together) with a row of `added`, in the order `lexsort`
    /// gives (ascending, nulls first).
    fn comparators(&self) -> Result<Vec<DynComparator>> {
        self.keys
            .iter()
            .map(|k| {
                let parts: Vec<&dyn Array> = self
                    .old
                    .iter()
                    .map(|b| b.column_by_name(k).map(|c| c.as_ref()))
                    .collect::<Option<_>>()
                    .context("sort column")?;
                let old: ArrayRef = concat(&parts)?;
                let new = self.added.column_by_name(k).context("sort column")?;
                Ok(make_comparator(
                    old.as_ref(),
                    new.as_ref(),
                    SortOptions::default(),
                )?)
            })
            .collect()
    }

    /// The rows at `order` ((batch, row); the batch after the old ones is
    /// `added`), in the added rows' schema.
    fn gather(&self, order: &[At]) -> Result<RecordBatch> {
        let schema = self.added.schema();
        let columns = (0..schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn Array> = self
                    .old
                    .iter()
                    .chain([self.added])
                    .map(|b| b.column(c).as_ref())
                    .collect();
                Ok(interleave(&arrays, order)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new_with_options(
            schema,
            columns,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(order.len())),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch(days: Vec<Option<i32>>, ids: Vec<&str>, hashes: Vec<u8>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Int32, true),
            Field::new("id", DataType::Utf8, true),
            Field::new("h", DataType::FixedSizeBinary(16), false),
            Field::new("to", DataType::Date32, true),
        ]));
        let n = ids.len();
        let h = FixedSizeBinaryArray::try_from_iter(hashes.into_iter().map(|b| [b; 16])).unwrap();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(days)),
                Arc::new(StringArray::from(ids)),
                Arc::new(h),
                Arc::new(Date32Array::from(vec![None; n])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_merged_slot_is_the_slot_sorted_again_without_its_closed_versions() {
        let keys = ["day", "id", "h"];
        // The committed file, in order, over two batches; a null date first.
        let old = vec![
            batch(
                vec![None, Some(1), Some(3)],
                vec!["c", "a", "b"],
                vec![1, 2, 3],
            ),
            batch(vec![Some(3), Some(7)], vec!["d", "a"], vec![4, 5]),
        ];
        // Gained rows fall before, between, among and after the old ones;
        // the rows at 1 and 4 of `added` are not this slot's.
        let added = batch(
            vec![Some(9), Some(0), Some(3), None, Some(2), Some(3), Some(0)],
            vec!["z", "x", "c", "a", "q", "a", "y"],
            vec![10, 11, 12, 13, 14, 15, 16],
        );
        let gaining = [0, 2, 3, 5, 6];
        let closing: HashMapByPrefix<VersionHash, i32> =
            [([2u8; 16], 42), ([5u8; 16], 43)].into_iter().collect();
        let merge = SlotMerge {
            old: &old,
            added: &added,
            gaining: &gaining,
            keys: &keys,
            hash: "h",
        };
        let merged = merge.run(Some(&closing), "to").unwrap();

        // What sorting the whole slot again gives.
        let stays = |b: &RecordBatch| {
            let h = b
                .column(2)
                .as_any()
                .downcast_ref::<FixedSizeBinaryArray>()
                .unwrap();
            let keep: datafusion::arrow::array::BooleanArray = (0..b.num_rows())
                .map(|i| Some(!closing.contains_key(h.value(i))))
                .collect();
            datafusion::arrow::compute::filter_record_batch(b, &keep).unwrap()
        };
        let rows = UInt32Array::from(gaining.to_vec());
        let gained = RecordBatch::try_new(
            added.schema(),
            added
                .columns()
                .iter()
                .map(|c| take(c, &rows, None).unwrap())
                .collect(),
        )
        .unwrap();
        let parts = [stays(&old[0]), stays(&old[1]), gained];
        let expected = sorted(&concat_batches(&added.schema(), &parts).unwrap(), &keys).unwrap();
        assert_eq!(merged.current, expected);

        let ids = merged
            .closed
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(ids.iter().collect::<Vec<_>>(), [Some("a"), Some("a")]);
        let to = merged
            .closed
            .column(3)
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap();
        assert_eq!(to.iter().collect::<Vec<_>>(), [Some(42), Some(43)]);

        // A version to close that the slot does not hold is an error.
        let missing: HashMapByPrefix<VersionHash, i32> = [([99u8; 16], 42)].into_iter().collect();
        assert!(merge.run(Some(&missing), "to").is_err());
    }
}
