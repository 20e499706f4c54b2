//! A table's numbers to take away: a "Download CSV" link beside each table, its file built
//! where the page is rendered and carried in a `data:` URL (no extra request, no script, the
//! same numbers the table shows).
//!
//! The file is RFC 4180 (fields with a comma, quote or line break are quoted, quotes
//! doubled), counts without grouping commas and rates as percentages with two decimals, so
//! a spreadsheet reads them as numbers; an undefined rate is an empty field (the table's
//! "—"). A text field that starts like a formula (`=`, `+`, `-`, `@`) gets a leading `'`
//! so a spreadsheet shows it instead of running it: item names come from tenants' catalogs.

use leptos::prelude::*;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// A table as CSV: a header row, then one row per line of the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsvTable {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl CsvTable {
    pub fn new(header: Vec<&'static str>) -> Self {
        CsvTable {
            header,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The file: CRLF line ends, as RFC 4180 has them.
    pub fn to_csv(&self) -> String {
        let line = |fields: Vec<String>| {
            fields
                .iter()
                .map(|f| field(f))
                .collect::<Vec<_>>()
                .join(",")
        };
        std::iter::once(line(self.header.iter().map(|h| h.to_string()).collect()))
            .chain(self.rows.iter().cloned().map(line))
            .map(|l| l + "\r\n")
            .collect()
    }
}

/// A text cell: defused if a spreadsheet would read it as a formula.
pub fn text(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

/// A count cell.
pub fn count(n: u64) -> String {
    n.to_string()
}

/// A rate cell: the ratio as a percentage to two decimals; empty when undefined.
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(String::new, |r| format!("{:.2}", r * 100.0))
}

fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// The download link for `table`, saved as `filename`.
#[component]
pub fn CsvDownload(table: CsvTable, filename: String) -> impl IntoView {
    let href = format!(
        "data:text/csv;charset=utf-8,{}",
        utf8_percent_encode(&table.to_csv(), NON_ALPHANUMERIC)
    );
    view! { <a class="csv-download" href=href download=filename>{crate::i18n::t(crate::i18n::Msg::DownloadCsv)}</a> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_formulas_defused_and_rates_in_percent() {
        let mut table = CsvTable::new(vec!["item", "clicks", "ctr_percent"]);
        table.push(vec![
            text("Lamp, \"large\""),
            count(1234),
            percent(Some(0.05123)),
        ]);
        table.push(vec![text("=HYPERLINK(\"x\")"), count(0), percent(None)]);
        assert_eq!(
            table.to_csv(),
            "item,clicks,ctr_percent\r\n\
             \"Lamp, \"\"large\"\"\",1234,5.12\r\n\
             \"'=HYPERLINK(\"\"x\"\")\",0,\r\n"
        );
    }
}
