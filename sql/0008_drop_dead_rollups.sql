-- metrics_hourly and metrics_daily (0002, 0004) have been neither fed nor read since
-- rollup_states (0006) copied their history and replaced them. Dropped, so that the schema
-- shows only what the product uses (issue 14).
DROP TABLE IF EXISTS metrics_hourly;
DROP TABLE IF EXISTS metrics_daily;
