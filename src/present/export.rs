//! Table exports: one Arrow batch as CSV, JSON, Parquet or a text table.

use anyhow::{Result, bail};
use datafusion::arrow::array::RecordBatch;

/// The formats a table can be exported in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

/// Encodes a batch in the requested format.
pub fn encode(batch: &RecordBatch, format: TableFormat) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        TableFormat::Table => {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(
                std::slice::from_ref(batch),
            )?;
            buf.extend_from_slice(text.to_string().as_bytes());
            buf.push(b'\n');
        }
        TableFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut buf);
            w.write(batch)?;
        }
        TableFormat::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
            w.write(batch)?;
            w.finish()?;
            buf.push(b'\n');
        }
        TableFormat::Parquet => {
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
                &mut buf,
                batch.schema(),
                Some(crate::store::writer_properties()),
            )?;
            w.write(batch)?;
            w.close()?;
        }
    }
    if buf.is_empty() {
        bail!("nothing to write");
    }
    Ok(buf)
}
