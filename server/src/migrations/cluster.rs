//! The migrations on a ClickHouse cluster (`CLICKHOUSE_CLUSTER`): the same files in `sql/`,
//! applied node by node, each statement placed for the node it runs on.
//!
//! On a node, each table of ours becomes two:
//! - `<table>_local`, a `Replicated*MergeTree` of the node's shard (its ZooKeeper path names
//!   the database, the shard and the table; the replica is the node's number in its shard),
//!   where the sink writes and the materialized views read and write;
//! - `<table>`, a `Distributed` table over every shard's `<table>_local`, which the
//!   dashboard's queries read under the same name as on a single server. It has no sharding
//!   key, so an insert into it fails instead of spreading rows behind the sink's back.
//!
//! Statements are placed by kind: a `CREATE TABLE` gives both tables, an `ALTER` changes
//! both, a `DROP` drops both, a materialized view is created between local tables, and a
//! backfill (`INSERT ... SELECT`) runs on the first replica of each shard only (replication
//! brings it to the others; running it on each would insert it once per replica).
//!
//! Why node by node and not `ON CLUSTER`: each node keeps its own `schema_migrations` (so a
//! node that was down catches up at the next boot of any role) and no distributed-DDL queue
//! has to be configured in the servers; `ON CLUSTER` would need both.

use super::{migrate_on, MigrationError};
use recoscope_clickhouse::{ClickHouse, ClickHouseConfig, Query};
use serde::Deserialize;

/// Every table the migrations create (the ones later dropped included).
const TABLES: [&str; 8] = [
    "user_behaviors",
    "metrics_hourly",
    "sink_fence",
    "metrics_daily",
    "item_stats_daily",
    "rollup_states",
    "breakdown_states",
    "funnel_events",
];

/// Where a migration's statements run.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// One server: the statements as written.
    Single,
    /// Node `replica` (from 0) of shard `shard` (from 0) of cluster `cluster`.
    Node {
        cluster: String,
        shard: usize,
        replica: usize,
    },
}

impl Placement {
    /// The statements to run for one statement of a migration file, in order.
    pub fn place(&self, statement: &str, database: &str) -> Vec<String> {
        let Placement::Node {
            cluster,
            shard,
            replica,
        } = self
        else {
            return vec![statement.to_string()];
        };
        let local = to_local_names(statement);
        let head = local.trim_start().to_ascii_uppercase();
        if head.starts_with("INSERT") {
            return if *replica == 0 {
                vec![local]
            } else {
                Vec::new()
            };
        }
        if let Some(table) = created_table(&local) {
            let replicated = replicated_engine(
                &local,
                &format!("/clickhouse/recoscope/{database}/{shard}/{table}"),
                &format!("r{replica}"),
            );
            let distributed = table.trim_end_matches("_local");
            return vec![
                replicated,
                format!(
                    "CREATE TABLE IF NOT EXISTS {distributed} AS {table} \
                     ENGINE = Distributed({cluster}, {database}, {table})"
                ),
            ];
        }
        // `ALTER TABLE x_local ...` / `DROP TABLE IF EXISTS x_local`: the Distributed table
        // too (a changed column type must be the same on both).
        for verb in ["ALTER TABLE ", "DROP TABLE IF EXISTS "] {
            if let Some(rest) = local.trim_start().strip_prefix(verb) {
                let name: String = rest.chars().take_while(|c| is_word(*c)).collect();
                if let Some(distributed) = name.strip_suffix("_local") {
                    if TABLES.contains(&distributed) {
                        let on_distributed = format!("{verb}{distributed}{}", &rest[name.len()..]);
                        return if verb.starts_with("DROP") {
                            vec![on_distributed, local]
                        } else {
                            vec![local, on_distributed]
                        };
                    }
                }
            }
        }
        vec![local]
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `statement` with each of our tables named `<table>_local` (whole words only, so
/// `rollup_states_mv` stays).
fn to_local_names(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len() + 64);
    let mut rest = statement;
    'scan: while !rest.is_empty() {
        let at_word_start = out.chars().last().is_none_or(|c| !is_word(c));
        if at_word_start {
            for table in TABLES {
                if let Some(after) = rest.strip_prefix(table) {
                    if after.chars().next().is_none_or(|c| !is_word(c)) {
                        out.push_str(table);
                        out.push_str("_local");
                        rest = after;
                        continue 'scan;
                    }
                }
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The table a `CREATE TABLE IF NOT EXISTS <name>` statement creates, if it is one of ours.
fn created_table(statement: &str) -> Option<String> {
    let rest = statement
        .trim_start()
        .strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
    let name: String = rest.chars().take_while(|c| is_word(*c)).collect();
    let base = name.strip_suffix("_local")?;
    TABLES.contains(&base).then_some(name)
}

/// `ENGINE = XMergeTree(args)` → `ENGINE = ReplicatedXMergeTree('path', 'replica', args)`.
fn replicated_engine(statement: &str, path: &str, replica: &str) -> String {
    let Some(at) = statement.find("ENGINE = ") else {
        return statement.to_string();
    };
    let engine_start = at + "ENGINE = ".len();
    let rest = &statement[engine_start..];
    let Some(open) = rest.find('(') else {
        return statement.to_string();
    };
    let engine = &rest[..open];
    if !engine.ends_with("MergeTree") {
        return statement.to_string();
    }
    let Some(close) = rest[open..].find(')') else {
        return statement.to_string();
    };
    let args = rest[open + 1..open + close].trim();
    let mut replicated = format!("Replicated{engine}('{path}', '{replica}'");
    if !args.is_empty() {
        replicated.push_str(", ");
        replicated.push_str(args);
    }
    replicated.push(')');
    format!(
        "{}{replicated}{}",
        &statement[..engine_start],
        &rest[open + close + 1..]
    )
}

/// Applies the migrations on every node of the cluster (`nodes` by shard, in the cluster's
/// order), after checking the servers' own definition of `cluster` has the same shape. A node
/// that cannot be reached is skipped with a warning (it catches up at the next boot of any
/// role); a shard none of whose replicas can be reached is an error.
pub async fn migrate_cluster(
    cluster: &str,
    nodes: &[Vec<ClickHouseConfig>],
) -> Result<(), MigrationError> {
    // The nodes that answer, each with its placement, by shard.
    let mut reachable: Vec<Vec<(ClickHouse, Placement)>> = Vec::new();
    for (shard, replicas) in nodes.iter().enumerate() {
        let mut live = Vec::new();
        for (replica, config) in replicas.iter().enumerate() {
            let ch = ClickHouse::new(config.clone())?;
            match ch.ping().await {
                Ok(()) => live.push((
                    ch,
                    Placement::Node {
                        cluster: cluster.to_string(),
                        shard,
                        replica,
                    },
                )),
                Err(error) => tracing::warn!(
                    %error,
                    node = config.url,
                    "ClickHouse node unreachable: its schema catches up at a later boot"
                ),
            }
        }
        if live.is_empty() {
            return Err(MigrationError::Cluster(format!(
                "no replica of shard {} of cluster {cluster} answers",
                shard + 1
            )));
        }
        reachable.push(live);
    }
    let (first, _) = &reachable[0][0];
    // The check reads a system table, with the client's database set.
    first
        .execute_on_server(Query::new(format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            first.database()
        )))
        .await?;
    check_shape(first, cluster, nodes).await?;
    // One version at a time on every node: a replicated table's replicas must be created
    // with the columns its first replica has in ZooKeeper, so no node may run ahead (an
    // `ALTER` of version 7 on one replica before version 1 created the table on another
    // makes the second creation fail).
    for migration in super::MIGRATIONS {
        for (ch, placement) in reachable.iter().flatten() {
            migrate_on(ch, placement, migration.version).await?;
        }
    }
    Ok(())
}

/// `CLICKHOUSE_SHARDS` and the servers' `remote_servers` must agree on the shards and their
/// replicas: the sink sends a partition to a shard by its place in the list.
async fn check_shape(
    ch: &ClickHouse,
    cluster: &str,
    nodes: &[Vec<ClickHouseConfig>],
) -> Result<(), MigrationError> {
    #[derive(Deserialize)]
    struct Shard {
        replicas: u64,
    }
    let shards: Vec<Shard> = ch
        .fetch(
            Query::new(
                "SELECT count() AS replicas FROM system.clusters WHERE cluster = ? \
                 GROUP BY shard_num ORDER BY shard_num",
            )
            .bind(cluster),
        )
        .await?;
    let theirs: Vec<u64> = shards.iter().map(|s| s.replicas).collect();
    let ours: Vec<u64> = nodes.iter().map(|r| r.len() as u64).collect();
    if theirs != ours {
        return Err(MigrationError::Cluster(format!(
            "CLICKHOUSE_SHARDS lists {ours:?} replicas per shard, but cluster {cluster} in \
             the servers' remote_servers has {theirs:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(shard: usize, replica: usize) -> Placement {
        Placement::Node {
            cluster: "c".into(),
            shard,
            replica,
        }
    }

    #[test]
    fn a_table_becomes_a_replicated_local_table_and_a_distributed_one() {
        let placed = node(1, 0).place(
            "CREATE TABLE IF NOT EXISTS sink_fence\n(topic String)\n\
             ENGINE = ReplacingMergeTree(kafka_offset)\nORDER BY (topic)",
            "db",
        );
        assert_eq!(
            placed,
            [
                "CREATE TABLE IF NOT EXISTS sink_fence_local\n(topic String)\n\
                 ENGINE = ReplicatedReplacingMergeTree('/clickhouse/recoscope/db/1/sink_fence_local', 'r0', kafka_offset)\n\
                 ORDER BY (topic)",
                "CREATE TABLE IF NOT EXISTS sink_fence AS sink_fence_local \
                 ENGINE = Distributed(c, db, sink_fence_local)"
            ]
        );
        let engine = &node(0, 1).place(
            "CREATE TABLE IF NOT EXISTS rollup_states (x UInt8) ENGINE = AggregatingMergeTree() ORDER BY x",
            "db",
        )[0];
        assert!(
            engine.contains("ReplicatedAggregatingMergeTree('/clickhouse/recoscope/db/0/rollup_states_local', 'r1') ORDER BY x"),
            "{engine}"
        );
    }

    #[test]
    fn views_alters_drops_and_backfills_are_placed_by_kind() {
        let view = node(0, 0).place(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_states_mv TO rollup_states AS \
             SELECT tenant_id FROM user_behaviors",
            "db",
        );
        assert_eq!(
            view,
            ["CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_states_mv TO rollup_states_local AS \
              SELECT tenant_id FROM user_behaviors_local"]
        );
        let alter = node(0, 0).place(
            "ALTER TABLE user_behaviors MODIFY COLUMN action_type Enum8('a' = 1)",
            "db",
        );
        assert_eq!(
            alter,
            [
                "ALTER TABLE user_behaviors_local MODIFY COLUMN action_type Enum8('a' = 1)",
                "ALTER TABLE user_behaviors MODIFY COLUMN action_type Enum8('a' = 1)"
            ]
        );
        let drop = node(0, 0).place("DROP TABLE IF EXISTS metrics_hourly", "db");
        assert_eq!(
            drop,
            [
                "DROP TABLE IF EXISTS metrics_hourly",
                "DROP TABLE IF EXISTS metrics_hourly_local"
            ]
        );
        // A view's own name is not a table of ours.
        assert_eq!(
            node(0, 0).place("DROP TABLE IF EXISTS metrics_hourly_mv", "db"),
            ["DROP TABLE IF EXISTS metrics_hourly_mv"]
        );
        let backfill = "INSERT INTO funnel_events SELECT * FROM user_behaviors \
                        WHERE (SELECT count() FROM funnel_events) = 0";
        assert_eq!(
            node(1, 0).place(backfill, "db"),
            [
                "INSERT INTO funnel_events_local SELECT * FROM user_behaviors_local \
              WHERE (SELECT count() FROM funnel_events_local) = 0"
            ]
        );
        assert!(node(1, 1).place(backfill, "db").is_empty());
        // One server: as written.
        assert_eq!(Placement::Single.place(backfill, "db"), [backfill]);
    }

    #[test]
    fn every_migration_places_on_a_node() {
        for migration in super::super::MIGRATIONS {
            for statement in super::super::statements(migration.sql) {
                for placed in node(0, 0).place(&statement, "db") {
                    // The Distributed table's own statements name it; nothing else may.
                    let names_distributed = placed.contains("Distributed(")
                        || ["ALTER TABLE ", "DROP TABLE IF EXISTS "]
                            .iter()
                            .any(|verb| {
                                placed.strip_prefix(verb).is_some_and(|rest| {
                                    let name: String =
                                        rest.chars().take_while(|c| is_word(*c)).collect();
                                    TABLES.contains(&name.as_str())
                                })
                            });
                    if !names_distributed {
                        assert_eq!(to_local_names(&placed), placed, "{}", migration.name);
                    }
                }
            }
        }
    }
}
