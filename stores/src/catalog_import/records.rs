//! A file's bytes → loose records: JSON (an array, or one object per line) or CSV (a
//! header row; `,`, `;` or tab), each record with the line it starts on. A record that cannot
//! be read is rejected on its own; only what makes the whole file unreadable is a
//! `FileError`.

use super::{FileError, Format, Kind, Rejected};
use serde_json::{Map, Value};

/// A record as loose JSON fields, with where it starts.
pub(super) struct RawRecord {
    pub(super) line: Option<u64>,
    pub(super) fields: Map<String, Value>,
}

/// A file's records (each read, or rejected on its own) and the fields it has that are not
/// used.
pub(super) type Records = (Vec<Result<RawRecord, Rejected>>, Vec<String>);

/// Reads `bytes` as `format` and checks every record as `kind`.
pub(super) fn parse_records(
    bytes: &[u8],
    format: Format,
    kind: Kind,
) -> Result<Records, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FileError::NotUtf8(e.valid_up_to()))?;
    // Spreadsheet programs start their exports with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Json => json_records(text),
        Format::Csv => csv_records(text, kind),
    }
}

fn json_error(e: serde_json::Error) -> FileError {
    FileError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

fn json_records(text: &str) -> Result<Records, FileError> {
    let record = |position: usize, line: Option<u64>, value: Value| match value {
        Value::Object(fields) => Ok(RawRecord { line, fields }),
        other => Err(Rejected {
            record: position,
            line,
            id: None,
            code: "not_an_object",
            message: format!("a record must be a JSON object, got {}", kind_of(&other)),
        }),
    };
    if text.trim_start().starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(text).map_err(json_error)?;
        let records = values
            .into_iter()
            .enumerate()
            .map(|(i, value)| record(i + 1, None, value))
            .collect();
        return Ok((records, Vec::new()));
    }
    // JSON Lines: one value per non-blank line. A line that is not JSON is that record's
    // problem, not the file's.
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let position = records.len() + 1;
        let line_number = Some(index as u64 + 1);
        records.push(match serde_json::from_str::<Value>(line) {
            Ok(value) => record(position, line_number, value),
            Err(e) => Err(Rejected {
                record: position,
                line: line_number,
                id: None,
                code: "malformed_json",
                message: format!("not a JSON value: {e}"),
            }),
        });
    }
    if records.is_empty() && !text.trim().is_empty() {
        return Err(FileError::JsonShape);
    }
    Ok((records, Vec::new()))
}

pub(super) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The header decides the delimiter: a comma unless the header has none and has `;` or tab.
fn delimiter(header: &str) -> u8 {
    if header.contains(',') {
        b','
    } else if header.contains('\t') {
        b'\t'
    } else if header.contains(';') {
        b';'
    } else {
        b','
    }
}

fn csv_records(text: &str, kind: Kind) -> Result<Records, FileError> {
    let header_line = text.lines().next().unwrap_or("");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(header_line))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| FileError::Csv {
        line: e.position().map(|p| p.line()).unwrap_or(1),
        message: e.to_string(),
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let id_field = kind.id_field();
    for required in [id_field, "name"] {
        if !headers.iter().any(|h| h == required) {
            return Err(FileError::MissingColumn(required, headers.join(", ")));
        }
    }
    for (i, header) in headers.iter().enumerate() {
        if headers[..i].contains(header) {
            return Err(FileError::RepeatedColumn(header.clone()));
        }
    }
    let ignored = headers
        .iter()
        .filter(|h| !kind.fields().contains(&h.as_str()))
        .cloned()
        .collect();

    let mut records = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(csv_error)?;
        let line = row.position().map(|p| p.line());
        if row.iter().all(str::is_empty) {
            continue; // a blank line
        }
        if row.len() != headers.len() {
            records.push(Err(Rejected {
                record: index + 1,
                line,
                id: None,
                code: "wrong_column_count",
                message: format!(
                    "the row has {} cells, the header {} columns",
                    row.len(),
                    headers.len()
                ),
            }));
            continue;
        }
        let fields = headers
            .iter()
            .zip(row.iter())
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(h, cell)| (h.clone(), Value::String(cell.to_string())))
            .collect();
        records.push(Ok(RawRecord { line, fields }));
    }
    Ok((records, ignored))
}
