//! SQL with `?` placeholders and values bound as escaped ClickHouse literals.

use crate::error::ClickHouseError;

/// A value that can be bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Str(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Seconds since the Unix epoch, rendered as `toDateTime(n, 'UTC')`.
    DateTime(i64),
    /// A list, rendered as `[a, b, ...]` for `has()` and `IN` on a scalar.
    Array(Vec<SqlValue>),
    /// Rendered as `(a, b, ...)`: a row of a tuple `IN`, or the whole set of rows (a tuple of
    /// tuples), since ClickHouse does not take arrays of tuples on the right of `IN`.
    Tuple(Vec<SqlValue>),
}

impl SqlValue {
    fn render(&self, out: &mut String) {
        match self {
            SqlValue::Str(s) => {
                out.push('\'');
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\'' => out.push_str("\\'"),
                        '\0' => out.push_str("\\0"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c => out.push(c),
                    }
                }
                out.push('\'');
            }
            SqlValue::Int(v) => out.push_str(&v.to_string()),
            SqlValue::UInt(v) => out.push_str(&v.to_string()),
            SqlValue::Float(v) if v.is_finite() => out.push_str(&format!("{v:?}")),
            SqlValue::Float(_) => out.push_str("nan"),
            SqlValue::DateTime(secs) => out.push_str(&format!("toDateTime({secs}, 'UTC')")),
            SqlValue::Array(items) => render_list(out, '[', items, ']'),
            SqlValue::Tuple(items) => render_list(out, '(', items, ')'),
        }
    }
}

fn render_list(out: &mut String, open: char, items: &[SqlValue], close: char) {
    out.push(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.render(out);
    }
    out.push(close);
}

macro_rules! from_value {
    ($($t:ty => $variant:ident as $conv:ty),* $(,)?) => {
        $(impl From<$t> for SqlValue {
            fn from(v: $t) -> Self { SqlValue::$variant(v as $conv) }
        })*
    };
}
from_value!(i64 => Int as i64, i32 => Int as i64, u64 => UInt as u64, u32 => UInt as u64,
    u16 => UInt as u64, f64 => Float as f64);

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Str(v.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Str(v)
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Str(v.clone())
    }
}
impl<T: Into<SqlValue>> From<Vec<T>> for SqlValue {
    fn from(v: Vec<T>) -> Self {
        SqlValue::Array(v.into_iter().map(Into::into).collect())
    }
}

/// A table sent along with a query (ClickHouse's "external data"), readable in the statement
/// by its name. Its rows travel as TSV data, so a large key set costs the server a data parse,
/// not a SQL parse (statements are limited to 50,000 syntax-tree elements and parse slowly).
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalTable {
    pub name: String,
    /// Columns as ClickHouse writes them, e.g. `id String, hour DateTime('UTC')`.
    pub structure: String,
    /// TSV, one line per row.
    pub tsv: String,
}

impl ExternalTable {
    pub fn new(name: impl Into<String>, structure: impl Into<String>) -> Self {
        ExternalTable {
            name: name.into(),
            structure: structure.into(),
            tsv: String::new(),
        }
    }

    /// Appends a row; each field is escaped for TSV.
    pub fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) {
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                self.tsv.push('\t');
            }
            push_tsv_escaped(&mut self.tsv, field);
        }
        self.tsv.push('\n');
    }

    pub fn is_empty(&self) -> bool {
        self.tsv.is_empty()
    }
}

/// ClickHouse's TSV escaping: backslash, tab, newline, carriage return and NUL.
fn push_tsv_escaped(out: &mut String, field: &str) {
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
}

/// A statement with `?` placeholders, filled in order by [`Query::bind`].
///
/// `?` inside a quoted literal of the statement itself is left alone.
#[derive(Debug, Clone)]
pub struct Query {
    sql: String,
    values: Vec<SqlValue>,
    settings: Vec<(&'static str, String)>,
    tables: Vec<ExternalTable>,
}

impl Query {
    pub fn new(sql: impl Into<String>) -> Self {
        Query {
            sql: sql.into(),
            values: Vec::new(),
            settings: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Sends `table` along (see [`ExternalTable`]).
    pub fn with_table(mut self, table: ExternalTable) -> Self {
        self.tables.push(table);
        self
    }

    pub fn tables(&self) -> &[ExternalTable] {
        &self.tables
    }

    pub fn bind(mut self, value: impl Into<SqlValue>) -> Self {
        self.values.push(value.into());
        self
    }

    /// A ClickHouse setting for this statement only (sent as a URL parameter).
    pub fn setting(mut self, name: &'static str, value: impl ToString) -> Self {
        self.settings.push((name, value.to_string()));
        self
    }

    pub fn settings(&self) -> &[(&'static str, String)] {
        &self.settings
    }

    /// The statement with every placeholder replaced by its escaped literal.
    pub fn render(&self) -> Result<String, ClickHouseError> {
        let mut out = String::with_capacity(self.sql.len() + 16 * self.values.len());
        let mut values = self.values.iter();
        let mut in_literal = false;
        let mut escaped = false;
        for c in self.sql.chars() {
            if in_literal {
                out.push(c);
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '\'') => in_literal = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '\'' => {
                    in_literal = true;
                    out.push(c);
                }
                '?' => match values.next() {
                    Some(v) => v.render(&mut out),
                    None => {
                        return Err(ClickHouseError::Bind(format!(
                            "more placeholders than the {} bound values",
                            self.values.len()
                        )))
                    }
                },
                c => out.push(c),
            }
        }
        if values.next().is_some() {
            return Err(ClickHouseError::Bind(format!(
                "{} values bound but fewer placeholders",
                self.values.len()
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_table_rows_are_escaped_tsv() {
        let mut t = ExternalTable::new("keys", "a String, b String");
        t.row(["plain", "tab\there"]);
        t.row(["new\nline\r", "back\\slash\0"]);
        assert_eq!(
            t.tsv,
            "plain\ttab\\there\nnew\\nline\\r\tback\\\\slash\\0\n"
        );
    }

    #[test]
    fn strings_are_escaped_so_input_cannot_end_the_literal() {
        let q = Query::new("SELECT * FROM t WHERE a = ? AND b = ?")
            .bind("x' OR 1=1 --")
            .bind("back\\slash");
        assert_eq!(
            q.render().unwrap(),
            r"SELECT * FROM t WHERE a = 'x\' OR 1=1 --' AND b = 'back\\slash'"
        );
    }

    #[test]
    fn numbers_times_and_arrays_render_as_literals() {
        let q = Query::new("SELECT ?, ?, ?, ?, ?")
            .bind(-3i64)
            .bind(7u32)
            .bind(0.25)
            .bind(SqlValue::DateTime(1_700_000_000))
            .bind(vec!["a", "b"]);
        assert_eq!(
            q.render().unwrap(),
            "SELECT -3, 7, 0.25, toDateTime(1700000000, 'UTC'), ['a', 'b']"
        );
    }

    #[test]
    fn tuples_render_as_sets_of_rows() {
        let row = |id: &str| SqlValue::Tuple(vec!["t".into(), SqlValue::DateTime(60), id.into()]);
        let q = Query::new("SELECT 1 WHERE (a, b, c) IN ?")
            .bind(SqlValue::Tuple(vec![row("x"), row("it's")]))
            .setting("max_query_size", 1 << 20);
        assert_eq!(
            q.render().unwrap(),
            "SELECT 1 WHERE (a, b, c) IN (('t', toDateTime(60, 'UTC'), 'x'), \
             ('t', toDateTime(60, 'UTC'), 'it\\'s'))"
        );
        assert_eq!(q.settings(), [("max_query_size", "1048576".to_string())]);
    }

    #[test]
    fn question_marks_inside_literals_are_not_placeholders() {
        let q = Query::new("SELECT 'why?', 'it\\'s?', ?").bind(1u32);
        assert_eq!(q.render().unwrap(), "SELECT 'why?', 'it\\'s?', 1");
    }

    #[test]
    fn placeholder_and_value_counts_must_match() {
        assert!(Query::new("SELECT ?").render().is_err());
        assert!(Query::new("SELECT 1").bind(1u32).render().is_err());
    }
}
