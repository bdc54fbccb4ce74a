//! What tells one version of a fact from another: the hash of its content,
//! and the maps and sets keyed by it.
//!
//! Maintenance hashes every row it derives and looks each hash up in sets
//! of a million or more (the touched entities' current versions, the
//! versions a group closes, every row of a slot written again). The
//! hashes are already SHA-256 output, evenly spread: hashing them again
//! with the standard library's SipHash only costs time, so those maps use
//! [`ByPrefix`], which folds the bytes as they are.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use datafusion::arrow::array::{Array, ArrayRef, FixedSizeBinaryArray, RecordBatch};
use datafusion::arrow::row::{RowConverter, SortField};
use sha2::{Digest, Sha256};

/// 128 bits of SHA-256 over a version's content.
pub type VersionHash = [u8; 16];

/// A map keyed by version hashes (or keys that start with one).
pub type HashMapByPrefix<K, V> = HashMap<K, V, ByPrefix>;
/// A set of version hashes (or keys that start with one).
pub type HashSetByPrefix<K> = HashSet<K, ByPrefix>;

/// Builds [`PrefixHasher`]s.
#[derive(Default, Clone, Copy, Debug)]
pub struct ByPrefix;

impl BuildHasher for ByPrefix {
    type Hasher = PrefixHasher;

    fn build_hasher(&self) -> PrefixHasher {
        PrefixHasher(0)
    }
}

/// Folds the bytes it is given eight at a time with one multiplication
/// each: enough spread for keys that are already hashes, and nothing an
/// outside party could aim at (they would have to find SHA-256 inputs).
pub struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Column `c` of `batch`, a column of version hashes.
pub fn hash_column(batch: &RecordBatch, c: usize) -> Result<&FixedSizeBinaryArray> {
    batch
        .column(c)
        .as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .context("a column of version hashes")
}

/// Every hash of a column of version hashes.
pub fn hashes_in(column: &FixedSizeBinaryArray) -> impl Iterator<Item = VersionHash> + '_ {
    (0..column.len()).map(|i| {
        let mut h = [0u8; 16];
        h.copy_from_slice(column.value(i));
        h
    })
}

/// Rows converted to Arrow's row format at a time: the row format of a
/// whole fact's derived rows would hold about as much again as the rows.
const CHUNK: usize = 1 << 14;

/// 128 bits of SHA-256 over each row's content, per batch, in Arrow's row
/// format (which is the same for the same values of the same types),
/// leaving out the column named `skip`. The rows go to the cores a chunk
/// at a time: plain CPU work over batches already in memory.
pub fn row_hashes(batches: &[RecordBatch], skip: &str) -> Result<Vec<Vec<VersionHash>>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let content: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != skip)
        .collect();
    let fields: Vec<SortField> = content
        .iter()
        .map(|&i| SortField::new(schema.field(i).data_type().clone()))
        .collect();
    // (batch, first row, rows) of every chunk, in order.
    let chunks: Vec<(usize, usize, usize)> = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| {
            let n = batch.num_rows();
            (0..n)
                .step_by(CHUNK)
                .map(move |at| (b, at, CHUNK.min(n - at)))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, Vec<VersionHash>)>> {
        let converter = RowConverter::new(fields.clone())?;
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(b, at, len)) = chunks.get(k) else {
                return Ok(done);
            };
            let slice: Vec<ArrayRef> = content
                .iter()
                .map(|&i| batches[b].column(i).slice(at, len))
                .collect();
            let rows = converter.convert_columns(&slice)?;
            done.push((k, rows.iter().map(|r| digest(r.as_ref())).collect()));
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mut hashed: Vec<(usize, Vec<VersionHash>)> = match chunks.len() {
        0 | 1 => work()?,
        n => std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads.min(n)).map(|_| s.spawn(work)).collect();
            let mut all = Vec::new();
            for w in workers {
                all.extend(w.join().expect("a hashing thread")?);
            }
            Ok::<_, anyhow::Error>(all)
        })?,
    };
    hashed.sort_unstable_by_key(|(k, _)| *k);
    let mut out: Vec<Vec<VersionHash>> = batches
        .iter()
        .map(|b| Vec::with_capacity(b.num_rows()))
        .collect();
    for (k, hashes) in hashed {
        out[chunks[k].0].extend(hashes);
    }
    Ok(out)
}

fn digest(row: &[u8]) -> VersionHash {
    let d = Sha256::digest(row);
    let mut h = [0u8; 16];
    h.copy_from_slice(&d[..16]);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("extract_date", DataType::Int64, false),
        ]));
        let ids = Int64Array::from_iter_values(0..n);
        let names = StringArray::from_iter((0..n).map(|i| (i % 3 != 0).then(|| format!("n{i}"))));
        let dates = Int64Array::from_iter_values((0..n).map(|i| i * 7));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(ids), Arc::new(names), Arc::new(dates)],
        )
        .unwrap()
    }

    fn hashes(b: &RecordBatch, skip: &str) -> Vec<VersionHash> {
        row_hashes(std::slice::from_ref(b), skip).unwrap().concat()
    }

    #[test]
    fn a_row_hashes_alike_wherever_the_batch_is_split() {
        // Large enough to be split between threads; each row's hash must
        // be that of the row hashed on its own.
        let big = batch(50_000);
        let all = hashes(&big, "extract_date");
        assert_eq!(all.len(), 50_000);
        for at in [0, 16_383, 16_384, 25_000, 49_999] {
            let one = hashes(&big.slice(at, 1), "extract_date");
            assert_eq!(one[0], all[at], "row {at}");
        }
        let distinct: HashSetByPrefix<VersionHash> = all.iter().copied().collect();
        assert_eq!(distinct.len(), 50_000);
        // The same rows in batches of other sizes: the same hashes, each
        // batch's in its own list.
        let parts = [
            big.slice(0, 7),
            big.slice(7, 40_000),
            big.slice(40_007, 9_993),
        ];
        let by_batch = row_hashes(&parts, "extract_date").unwrap();
        assert_eq!(
            by_batch.iter().map(Vec::len).collect::<Vec<_>>(),
            [7, 40_000, 9_993]
        );
        assert_eq!(by_batch.concat(), all);
    }

    #[test]
    fn the_skipped_column_does_not_change_a_hash() {
        let a = batch(10);
        let mut columns = a.columns().to_vec();
        columns[2] = Arc::new(Int64Array::from_iter_values(100..110));
        let b = RecordBatch::try_new(a.schema(), columns).unwrap();
        assert_eq!(hashes(&a, "extract_date"), hashes(&b, "extract_date"));
        assert_ne!(hashes(&a, ""), hashes(&b, ""));
    }

    #[test]
    fn keys_hashed_by_prefix_find_their_values() {
        let mut m: HashMapByPrefix<(VersionHash, i32), u32> = HashMapByPrefix::default();
        for i in 0..1000u32 {
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&i.to_le_bytes());
            m.insert((h, i as i32 % 7), i);
        }
        for i in 0..1000u32 {
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&i.to_le_bytes());
            assert_eq!(m.get(&(h, i as i32 % 7)), Some(&i));
            assert_eq!(m.get(&(h, i as i32 % 7 + 1)), None);
        }
    }
}
