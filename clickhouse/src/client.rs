//! The HTTP client: queries, inserts and DDL against one database.

use crate::error::ClickHouseError;
use crate::query::{ExternalTable, Query};
use crate::row_binary::{RowBinary, RowBinaryWriter};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where and how to reach ClickHouse.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseConfig {
    /// Base URL of the HTTP interface, e.g. `http://localhost:8123`.
    pub url: String,
    /// Other servers holding the same data (a shard's other replicas), tried in turn when
    /// the current one cannot be reached; the client stays with the one that answered.
    pub failover: Vec<String>,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Upper bound for one request, including a large insert.
    pub timeout: Duration,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            failover: Vec::new(),
            database: "recoscope".into(),
            user: "default".into(),
            password: String::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A cheap-to-clone handle; clones share one connection pool and the choice of server.
#[derive(Debug, Clone)]
pub struct ClickHouse {
    http: reqwest::Client,
    config: ClickHouseConfig,
    /// Which of `url`, then `failover`, requests go to now.
    current: Arc<AtomicUsize>,
}

impl ClickHouse {
    pub fn new(config: ClickHouseConfig) -> Result<Self, ClickHouseError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(ClickHouse {
            http,
            config,
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The server requests go to now.
    pub fn current_url(&self) -> &str {
        self.url_at(self.current.load(Ordering::Relaxed))
    }

    fn url_at(&self, index: usize) -> &str {
        match index {
            0 => &self.config.url,
            i => self.config.failover.get(i - 1).unwrap_or(&self.config.url),
        }
    }

    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    pub fn database(&self) -> &str {
        &self.config.database
    }

    /// The same server and pool, another database.
    pub fn with_database(&self, database: impl Into<String>) -> Self {
        let mut config = self.config.clone();
        config.database = database.into();
        ClickHouse {
            http: self.http.clone(),
            config,
            current: self.current.clone(),
        }
    }

    /// Sends one statement; `use_database` is off for statements that create or drop the
    /// database itself.
    async fn send(
        &self,
        sql: String,
        body_after_sql: Option<Vec<u8>>,
        use_database: bool,
        settings: &[(&'static str, String)],
        tables: &[ExternalTable],
    ) -> Result<String, ClickHouseError> {
        let mut params: Vec<(&str, &str)> = vec![
            // Numbers as JSON numbers on every version (18.16 quotes 64-bit ints by default).
            ("output_format_json_quote_64bit_integers", "0"),
        ];
        params.extend(settings.iter().map(|(k, v)| (*k, v.as_str())));
        if use_database {
            params.push(("database", &self.config.database));
        }
        let rows = body_after_sql.map(bytes::Bytes::from);
        let build = |url: &str| {
            let mut request = self
                .http
                .post(url)
                .query(&params)
                .header("X-ClickHouse-User", &self.config.user);
            if !self.config.password.is_empty() {
                request = request.header("X-ClickHouse-Key", &self.config.password);
            }
            match (&rows, tables) {
                // For inserts the statement goes in the URL and the rows are the body, so a
                // large batch is streamed as data rather than parsed as SQL.
                (Some(rows), _) => request.query(&[("query", &sql)]).body(rows.clone()),
                (None, []) => request.body(sql.clone()),
                // External tables: the statement in the URL, each table a part of a multipart
                // body named after it, its structure and format as URL parameters.
                (None, tables) => {
                    let mut request = request.query(&[("query", &sql)]);
                    let mut form = reqwest::multipart::Form::new();
                    for table in tables {
                        request = request.query(&[
                            (
                                format!("{}_structure", table.name),
                                table.structure.as_str(),
                            ),
                            (format!("{}_format", table.name), "TSV"),
                        ]);
                        form = form.part(
                            table.name.clone(),
                            reqwest::multipart::Part::text(table.tsv.clone())
                                .file_name(table.name.clone()),
                        );
                    }
                    request.multipart(form)
                }
            }
        };
        // The current server first, then each other one once. Only a server that could not
        // be reached is left: the request never got there, so sending it elsewhere cannot
        // apply it twice (a timeout might have, and is returned as it is).
        let servers = 1 + self.config.failover.len();
        let first = self.current.load(Ordering::Relaxed) % servers;
        let mut attempt = 0;
        let response = loop {
            let index = (first + attempt) % servers;
            match build(self.url_at(index)).send().await {
                Err(e) if e.is_connect() && attempt + 1 < servers => attempt += 1,
                Err(e) => return Err(e.into()),
                Ok(response) => {
                    if index != first {
                        self.current.store(index, Ordering::Relaxed);
                    }
                    break response;
                }
            }
        };
        let status = response.status();
        let header_code = response
            .headers()
            .get("X-ClickHouse-Exception-Code")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = response.text().await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(ClickHouseError::from_answer(
                status.as_u16(),
                header_code,
                text,
            ))
        }
    }

    /// Runs a statement that returns nothing worth reading (DDL, `ALTER`, ...).
    pub async fn execute(&self, query: Query) -> Result<(), ClickHouseError> {
        self.send(
            query.render()?,
            None,
            true,
            query.settings(),
            query.tables(),
        )
        .await
        .map(drop)
    }

    /// Runs a statement outside any database (`CREATE DATABASE`, `DROP DATABASE`).
    pub async fn execute_on_server(&self, query: Query) -> Result<(), ClickHouseError> {
        self.send(
            query.render()?,
            None,
            false,
            query.settings(),
            query.tables(),
        )
        .await
        .map(drop)
    }

    /// Runs a `SELECT` and decodes each row; `FORMAT JSONEachRow` is appended here.
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        query: Query,
    ) -> Result<Vec<T>, ClickHouseError> {
        let sql = format!("{} FORMAT JSONEachRow", query.render()?);
        let text = self
            .send(sql, None, true, query.settings(), query.tables())
            .await?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).map_err(ClickHouseError::from))
            .collect()
    }

    /// Runs a `SELECT` expected to return exactly one row.
    pub async fn fetch_one<T: DeserializeOwned>(&self, query: Query) -> Result<T, ClickHouseError> {
        let mut rows = self.fetch(query).await?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(ClickHouseError::Bind(format!("expected one row, got {n}"))),
        }
    }

    /// Inserts rows as `RowBinary` in one request (one insert block per call, which is what
    /// ClickHouse wants: few large inserts). The statement names the row type's columns.
    pub async fn insert<'r, T: RowBinary + 'r>(
        &self,
        table: &str,
        rows: impl ExactSizeIterator<Item = &'r T>,
    ) -> Result<(), ClickHouseError> {
        if rows.len() == 0 {
            return Ok(());
        }
        let is_name = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        };
        if !is_name(table) || !T::COLUMNS.iter().all(|c| is_name(c)) {
            return Err(ClickHouseError::Bind(format!(
                "bad table or column name in {table:?} {:?}",
                T::COLUMNS
            )));
        }
        let mut body = RowBinaryWriter::with_capacity(rows.len() * 192);
        for row in rows {
            row.write(&mut body);
        }
        let sql = format!(
            "INSERT INTO {table} ({}) FORMAT RowBinary",
            T::COLUMNS.join(", ")
        );
        self.send(sql, Some(body.into_bytes()), true, &[], &[])
            .await
            .map(drop)
    }

    /// Whether the server answers at all.
    pub async fn ping(&self) -> Result<(), ClickHouseError> {
        self.send("SELECT 1".into(), None, false, &[], &[])
            .await
            .map(drop)
    }

    /// The server's version string, e.g. `18.16.1`.
    pub async fn server_version(&self) -> Result<String, ClickHouseError> {
        let text = self
            .send("SELECT version()".into(), None, false, &[], &[])
            .await?;
        Ok(text.trim().to_string())
    }
}
