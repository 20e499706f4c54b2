-- One table of aggregate states for the metrics, hourly and daily rows together
-- (`grain`), with distinct users as HyperLogLog states. It replaces `metrics_hourly` and
-- `metrics_daily` for reading and writing; they stay as they are, no longer fed (a later
-- migration drops them).
--
-- Why (bench/queries, 10M events over 30 days):
-- - `uniq` states grow with the users they hold: a 30-day overview spent 20 of its 45 ms
--   merging 124 daily states of 3,000 users. `uniqHLL12` states are 2.5 KB whatever the
--   users (exact up to 16, about 1.6% standard error above) and merge in microseconds.
-- - ClickHouse reads whole granules: with 8,192-row granules every overview read all of a
--   month's hourly states (7 MB of HLL) to use the 200 of its partial first and last days.
--   Here granules are 32 rows.
-- - A range is whole days plus the hours around them; in one table that is one `SELECT`,
--   where three tables took a `UNION ALL` whose every branch costs 1-2 ms on 18.16.
-- Ranges still merge states, never add distinct counts.
--
-- Run migrations with the loaders stopped, as for 0004: the old views are dropped before
-- the new ones exist, and rows inserted in between would miss the rollups. Each step can
-- run again after an interruption: the copies of the old rollups only run into an empty
-- grain, and an HLL union of the same user twice is still one user.
CREATE TABLE IF NOT EXISTS rollup_states
(
    tenant_id   String,
    grain       Enum8('hour' = 1, 'day' = 2),
    scenario_id String,
    -- The start of the hour or the UTC day.
    t           DateTime('UTC'),
    events      AggregateFunction(sum, UInt64),
    impressions AggregateFunction(sum, UInt64),
    clicks      AggregateFunction(sum, UInt64),
    views       AggregateFunction(sum, UInt64),
    likes       AggregateFunction(sum, UInt64),
    shares      AggregateFunction(sum, UInt64),
    add_carts   AggregateFunction(sum, UInt64),
    orders      AggregateFunction(sum, UInt64),
    users       AggregateFunction(uniqHLL12, String),
    watch_time  AggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(t)
ORDER BY (tenant_id, grain, scenario_id, t)
SETTINGS index_granularity = 32;

DROP TABLE IF EXISTS metrics_hourly_mv;

DROP TABLE IF EXISTS metrics_daily_mv;

-- History of the counts: all of it, from the old rollups (their `uniq` users cannot become
-- HLL states; the users of hours older than raw retention are not carried over).
INSERT INTO rollup_states (tenant_id, grain, scenario_id, t, events, impressions, clicks,
    views, likes, shares, add_carts, orders, watch_time)
SELECT tenant_id, 'hour', scenario_id, hour, sumMergeState(events),
    sumMergeState(impressions), sumMergeState(clicks), sumMergeState(views),
    sumMergeState(likes), sumMergeState(shares), sumMergeState(add_carts),
    sumMergeState(orders), sumMergeState(watch_time)
FROM metrics_hourly
WHERE (SELECT count() FROM rollup_states WHERE grain = 'hour') = 0
GROUP BY tenant_id, scenario_id, hour;

INSERT INTO rollup_states (tenant_id, grain, scenario_id, t, events, impressions, clicks,
    views, likes, shares, add_carts, orders, watch_time)
SELECT tenant_id, 'day', scenario_id, toDateTime(day, 'UTC'), sumMergeState(events),
    sumMergeState(impressions), sumMergeState(clicks), sumMergeState(views),
    sumMergeState(likes), sumMergeState(shares), sumMergeState(add_carts),
    sumMergeState(orders), sumMergeState(watch_time)
FROM metrics_daily
WHERE (SELECT count() FROM rollup_states WHERE grain = 'day') = 0
GROUP BY tenant_id, scenario_id, day;

-- One view fills both grains: each event is counted in its hour and in its UTC day.
CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_states_mv TO rollup_states AS
SELECT
    tenant_id,
    grain_start.1 AS grain,
    scenario_id,
    grain_start.2 AS t,
    sumState(toUInt64(1)) AS events,
    sumState(toUInt64(action_type = 'impression')) AS impressions,
    sumState(toUInt64(action_type = 'click')) AS clicks,
    sumState(toUInt64(action_type = 'view')) AS views,
    sumState(toUInt64(action_type = 'like')) AS likes,
    sumState(toUInt64(action_type = 'share')) AS shares,
    sumState(toUInt64(action_type = 'add_cart')) AS add_carts,
    sumState(toUInt64(action_type = 'order')) AS orders,
    uniqHLL12State(user_id) AS users,
    sumState(ifNull(watch_duration, 0.)) AS watch_time
FROM user_behaviors
ARRAY JOIN [
    (CAST('hour' AS Enum8('hour' = 1, 'day' = 2)), toStartOfHour(event_time)),
    (CAST('day' AS Enum8('hour' = 1, 'day' = 2)), toDateTime(toDate(event_time), 'UTC'))
] AS grain_start
GROUP BY tenant_id, grain, scenario_id, t;

-- History of the users: HLL states from the raw events still kept (90 days). These rows
-- carry only `users`; the other columns take empty states, which merge as nothing.
INSERT INTO rollup_states (tenant_id, grain, scenario_id, t, users)
SELECT tenant_id, grain_start.1 AS grain, scenario_id, grain_start.2 AS t,
    uniqHLL12State(user_id)
FROM user_behaviors
ARRAY JOIN [
    (CAST('hour' AS Enum8('hour' = 1, 'day' = 2)), toStartOfHour(event_time)),
    (CAST('day' AS Enum8('hour' = 1, 'day' = 2)), toDateTime(toDate(event_time), 'UTC'))
] AS grain_start
GROUP BY tenant_id, grain, scenario_id, t
