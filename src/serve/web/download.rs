//! Table downloads (CSV, XLSX, JSON) and chart files, each marked with
//! where its figures come from: the as-of date and the store fingerprint
//! (`scoring::Provenance`) travel in the file itself and in the
//! `X-Vigil-As-Of` / `X-Vigil-Store` headers.
//!
//! - CSV: two last columns, `as_of` and `store_fingerprint`, on every row
//!   (a comment line would break the readers analysts use);
//! - XLSX: a source line under the table;
//! - JSON: `as_of` and `store_fingerprint` beside `columns` and `rows`.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::render;
use super::{ApiResult, AppError};
use crate::present::i18n::Lang;
use crate::present::table::{Cell, Table};
use crate::score::scoring::Provenance;

/// The table with its provenance as two more columns.
pub fn with_provenance(table: &Table, prov: &Provenance) -> Table {
    let mut columns = table.columns.clone();
    columns.extend(["as_of".to_string(), "store_fingerprint".to_string()]);
    let rows = table
        .rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.push(Cell::Date(prov.as_of));
            r.push(Cell::Text(prov.store_fingerprint.clone()));
            r
        })
        .collect();
    Table { columns, rows }
}

/// A table as a file to download: `stem.ext`, ext one of csv, xlsx, json.
pub fn table_file(
    lang: Lang,
    title: &str,
    stem: &str,
    ext: &str,
    table: &Table,
    prov: &Provenance,
) -> ApiResult<Response> {
    let (ct, body) = match ext {
        "csv" => (
            "text/csv; charset=utf-8",
            render::csv(&with_provenance(table, prov))?,
        ),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            render::xlsx(lang, title, table, Some(prov))?,
        ),
        "json" => (
            "application/json",
            serde_json::to_vec(&serde_json::json!({
                "columns": table.columns,
                "rows": table.rows,
                "as_of": prov.as_of.to_string(),
                "store_fingerprint": prov.store_fingerprint,
            }))
            .map_err(anyhow::Error::from)?,
        ),
        _ => {
            return Err(AppError::not_found(format!(
                "no format '{ext}' (csv, xlsx or json)"
            )));
        }
    };
    Ok(attachment(ct, &format!("{stem}.{ext}"), body, prov))
}

/// Bytes as an attachment named `file`, with the provenance headers.
pub fn attachment(ct: &str, file: &str, body: Vec<u8>, prov: &Provenance) -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, ct.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response();
    mark(&mut resp, prov);
    resp
}

/// Adds the provenance headers to a response.
pub fn mark(resp: &mut Response, prov: &Provenance) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&prov.as_of.to_string()) {
        h.insert("x-vigil-as-of", v);
    }
    if let Ok(v) = HeaderValue::from_str(&prov.store_fingerprint) {
        h.insert("x-vigil-store", v);
    }
}
