//! Reading an operator's item catalog or scenario list from a file: JSON (an array of
//! objects, or one object per line) or CSV (a header row naming the columns; `,`, `;` or tab).
//!
//! Each record is checked on its own ([`CatalogItem::new`], [`Scenario::new`]): a bad one is
//! reported with its position, code and message and the good ones around it are kept. Only
//! what makes the whole file unreadable (broken JSON syntax, no `item_id` column, not UTF-8)
//! fails the import as a whole. The CLI, the admin API and the dashboard's admin page use [`parse_items`] /
//! [`parse_scenarios`] and [`write`], so a file means the same thing either way.
//!
//! - `records`: a file's bytes → loose records (JSON or CSV), each with where it starts.
//! - `fields`: a loose record → a checked `CatalogItem` or `Scenario`.
//! - here: the report, the parse that keeps good records beside bad ones, and the chunked
//!   write.

use crate::catalog::{CatalogStore, Upserted};
use crate::StoreError;
use recoscope_core::catalog::{CatalogItem, Scenario};
use recoscope_core::FieldError;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use thiserror::Error;

mod fields;
mod records;

use fields::{item, scenario, text_field};
use records::parse_records;

/// Records written per store call (each call is one transaction or one `update` command).
pub const WRITE_CHUNK: usize = 1000;
/// Rejections listed in a report; beyond this only the count grows.
pub const MAX_LISTED_REJECTIONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of objects, or JSON Lines (one object per line).
    Json,
    /// A header row, then one record per row.
    Csv,
}

impl Format {
    /// From a file name's extension (`.json`, `.jsonl`, `.ndjson`, `.csv`, `.tsv`).
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            "csv" | "tsv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// From an HTTP `Content-Type` (`application/json`, `application/x-ndjson`, `text/csv`...).
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json"
            | "application/x-ndjson"
            | "application/jsonl"
            | "application/json-seq" => Some(Format::Json),
            "text/csv" | "text/tab-separated-values" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// What is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Items,
    Scenarios,
}

impl Kind {
    fn id_field(self) -> &'static str {
        match self {
            Kind::Items => "item_id",
            Kind::Scenarios => "scenario_id",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Items => &["item_id", "name", "category", "price", "url"],
            Kind::Scenarios => &["scenario_id", "name", "description"],
        }
    }
}

/// Why the file as a whole cannot be read; nothing of it is imported.
#[derive(Debug, Error, PartialEq)]
pub enum FileError {
    #[error("the file is not UTF-8 text (at byte {0})")]
    NotUtf8(usize),
    #[error("broken JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("JSON must be an array of objects or one object per line")]
    JsonShape,
    #[error("the CSV header has no {0} column (columns: {1})")]
    MissingColumn(&'static str, String),
    #[error("the CSV header names {0:?} twice")]
    RepeatedColumn(String),
    #[error("unreadable CSV at line {line}: {message}")]
    Csv { line: u64, message: String },
}

/// One record left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// 1-based position among the file's records.
    pub record: usize,
    /// 1-based line where the record starts (CSV and JSON Lines; not inside a JSON array).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The record's id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub code: &'static str,
    pub message: String,
}

/// A file read record by record.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub records: usize,
    pub accepted: Vec<T>,
    pub rejected: Vec<Rejected>,
    /// Columns or keys the file has that Recoscope does not use (reported, not an error).
    pub ignored_fields: Vec<String>,
}

/// What an import did, as the CLI prints it and the admin API answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    pub tenant: String,
    pub records: usize,
    pub inserted: usize,
    pub updated: usize,
    pub rejected_count: usize,
    /// The first [`MAX_LISTED_REJECTIONS`] rejections.
    pub rejected: Vec<Rejected>,
    pub ignored_fields: Vec<String>,
}

/// Checks every record of a file; `build` turns a record's fields into `T`, `id` reads its id.
fn parse_as<T>(
    bytes: &[u8],
    format: Format,
    kind: Kind,
    build: impl Fn(&Map<String, Value>) -> Result<T, FieldError>,
    id: impl Fn(&T) -> &str,
) -> Result<Parsed<T>, FileError> {
    let (records, mut ignored) = parse_records(bytes, format, kind)?;
    let mut parsed = Parsed {
        records: records.len(),
        accepted: Vec::new(),
        rejected: Vec::new(),
        ignored_fields: Vec::new(),
    };
    // Where each id was first seen: a second record with it is a mistake in the file.
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (index, record) in records.into_iter().enumerate() {
        let position = index + 1;
        let raw = match record {
            Ok(raw) => raw,
            Err(rejected) => {
                parsed.rejected.push(rejected);
                continue;
            }
        };
        if format == Format::Json {
            for key in raw.fields.keys() {
                if !kind.fields().contains(&key.as_str()) && !ignored.contains(key) {
                    ignored.push(key.clone());
                }
            }
        }
        let given_id = text_field(&raw.fields, kind.id_field()).ok().flatten();
        let reject = |code, message| Rejected {
            record: position,
            line: raw.line,
            id: given_id.clone(),
            code,
            message,
        };
        match build(&raw.fields) {
            Ok(value) => match first_seen.get(id(&value)) {
                Some(first) => parsed.rejected.push(reject(
                    "duplicate_id",
                    format!(
                        "{} {:?} is already given by record {first}",
                        kind.id_field(),
                        id(&value)
                    ),
                )),
                None => {
                    first_seen.insert(id(&value).to_string(), position);
                    parsed.accepted.push(value);
                }
            },
            Err(e) => parsed.rejected.push(reject(e.code, e.message)),
        }
    }
    ignored.sort();
    parsed.ignored_fields = ignored;
    Ok(parsed)
}

pub fn parse_items(bytes: &[u8], format: Format) -> Result<Parsed<CatalogItem>, FileError> {
    parse_as(bytes, format, Kind::Items, item, CatalogItem::item_id)
}

pub fn parse_scenarios(bytes: &[u8], format: Format) -> Result<Parsed<Scenario>, FileError> {
    parse_as(
        bytes,
        format,
        Kind::Scenarios,
        scenario,
        Scenario::scenario_id,
    )
}

/// Why an import stopped while writing (what was written before stays: writing is
/// idempotent, so running the import again completes it).
#[derive(Debug, Error)]
#[error("{error} (after writing {written} of {total} records)")]
pub struct WriteError {
    pub error: StoreError,
    pub written: usize,
    pub total: usize,
}

/// Writes what [`parse_items`] or [`parse_scenarios`] accepted, [`WRITE_CHUNK`] at a time.
pub fn write<T>(
    tenant: &str,
    parsed: Parsed<T>,
    mut store_chunk: impl FnMut(&[T]) -> Result<Upserted, StoreError>,
) -> Result<ImportReport, WriteError> {
    let mut written = Upserted::default();
    for chunk in parsed.accepted.chunks(WRITE_CHUNK) {
        written += store_chunk(chunk).map_err(|error| WriteError {
            error,
            written: written.inserted + written.updated,
            total: parsed.accepted.len(),
        })?;
    }
    let rejected_count = parsed.rejected.len();
    let mut rejected = parsed.rejected;
    rejected.truncate(MAX_LISTED_REJECTIONS);
    Ok(ImportReport {
        tenant: tenant.to_string(),
        records: parsed.records,
        inserted: written.inserted,
        updated: written.updated,
        rejected_count,
        rejected,
        ignored_fields: parsed.ignored_fields,
    })
}

/// Why an import failed as a whole.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Parses and writes an item file for `tenant`.
pub fn import_items(
    store: &dyn CatalogStore,
    tenant: &str,
    bytes: &[u8],
    format: Format,
) -> Result<ImportReport, ImportError> {
    let parsed = parse_items(bytes, format)?;
    Ok(write(tenant, parsed, |chunk| {
        store.upsert_items(tenant, chunk)
    })?)
}

/// Parses and writes a scenario file for `tenant`.
pub fn import_scenarios(
    store: &dyn CatalogStore,
    tenant: &str,
    bytes: &[u8],
    format: Format,
) -> Result<ImportReport, ImportError> {
    let parsed = parse_scenarios(bytes, format)?;
    Ok(write(tenant, parsed, |chunk| {
        store.upsert_scenarios(tenant, chunk)
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(parsed: &Parsed<CatalogItem>) -> Vec<(&str, &str)> {
        parsed
            .accepted
            .iter()
            .map(|i| (i.item_id(), i.name()))
            .collect()
    }

    #[test]
    fn csv_keeps_good_rows_next_to_bad_ones() {
        let file = "\u{feff}Item_ID,name,price,colour\n\
                    a,Ant,1.5,red\n\
                    b,,2,blue\n\
                    c,\"Cat, large\",abc,green\n\
                    \n\
                    d,Dog,,grey\n\
                    a,Again,1,red\n\
                    e,Eel\n";
        let parsed = parse_items(file.as_bytes(), Format::Csv).unwrap();
        assert_eq!(names(&parsed), [("a", "Ant"), ("d", "Dog")]);
        assert_eq!(parsed.accepted[0].price(), Some(1.5));
        assert_eq!(
            parsed.accepted[1].price(),
            None,
            "an empty cell is no price"
        );
        let why: Vec<_> = parsed
            .rejected
            .iter()
            .map(|r| (r.line, r.id.as_deref(), r.code))
            .collect();
        assert_eq!(
            why,
            [
                (Some(3), Some("b"), "missing_field"),
                (Some(4), Some("c"), "wrong_type"),
                (Some(7), Some("a"), "duplicate_id"),
                (Some(8), None, "wrong_column_count"),
            ]
        );
        assert!(parsed.rejected[2].message.contains("record 1"));
        assert_eq!(parsed.ignored_fields, ["colour"]);
        assert_eq!(parsed.records, 6);
    }

    #[test]
    fn csv_reads_semicolons_and_tabs_and_needs_the_id_column() {
        for file in ["item_id;name\nx;Ex\n", "item_id\tname\nx\tEx\n"] {
            let parsed = parse_items(file.as_bytes(), Format::Csv).unwrap();
            assert_eq!(names(&parsed), [("x", "Ex")], "{file:?}");
        }
        assert_eq!(
            parse_items(b"id,name\n1,a\n", Format::Csv).unwrap_err(),
            FileError::MissingColumn("item_id", "id, name".into())
        );
        assert!(matches!(
            parse_items(b"item_id,name,name\n1,a,b\n", Format::Csv),
            Err(FileError::RepeatedColumn(_))
        ));
        assert_eq!(
            parse_items(b"item_id,name\n\xff,a\n", Format::Csv).unwrap_err(),
            FileError::NotUtf8(13)
        );
    }

    #[test]
    fn json_arrays_and_lines_check_each_record() {
        let array = r#"[{"item_id": 42, "name": "Answer", "price": "9.99", "extra": 1},
                        {"item_id": "b", "name": ["not", "text"]},
                        "not an object",
                        {"item_id": "c", "name": "Cat", "url": "javascript:x"}]"#;
        let parsed = parse_items(array.as_bytes(), Format::Json).unwrap();
        assert_eq!(names(&parsed), [("42", "Answer")]);
        assert_eq!(parsed.accepted[0].price(), Some(9.99));
        let codes: Vec<_> = parsed.rejected.iter().map(|r| (r.record, r.code)).collect();
        assert_eq!(
            codes,
            [(2, "wrong_type"), (3, "not_an_object"), (4, "wrong_type")]
        );
        assert_eq!(parsed.ignored_fields, ["extra"]);

        let lines =
            "{\"item_id\":\"a\",\"name\":\"A\"}\n\n{broken\n{\"item_id\":\"b\",\"name\":\"B\"}\n";
        let parsed = parse_items(lines.as_bytes(), Format::Json).unwrap();
        assert_eq!(names(&parsed), [("a", "A"), ("b", "B")]);
        assert_eq!(parsed.rejected[0].line, Some(3));
        assert_eq!(parsed.rejected[0].code, "malformed_json");

        // Broken array syntax loses track of records: the whole file is refused.
        let broken = parse_items(b"[{\"item_id\":\"a\",\"name\":\"A\"},\n{", Format::Json);
        assert!(
            matches!(broken, Err(FileError::Json { line: 2, .. })),
            "{broken:?}"
        );
    }

    #[test]
    fn scenarios_parse_like_items() {
        let file = "scenario_id,name,description\nhome,Home feed,First screen\n,Nameless,\n";
        let parsed = parse_scenarios(file.as_bytes(), Format::Csv).unwrap();
        assert_eq!(parsed.accepted.len(), 1);
        assert_eq!(parsed.accepted[0].description(), Some("First screen"));
        assert_eq!(parsed.rejected[0].code, "missing_field");
    }

    #[test]
    fn formats_follow_names_and_content_types() {
        use std::path::Path;
        assert_eq!(
            Format::from_path(Path::new("a/items.CSV")),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_path(Path::new("x.jsonl")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("x.xlsx")), None);
        assert_eq!(
            Format::from_content_type("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
    }
}
