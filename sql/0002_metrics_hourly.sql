-- Hourly metrics per tenant and scenario, fed by a materialized view.
--
-- A materialized view sees one insert block at a time, so each block contributes partial
-- aggregates. Columns therefore hold aggregate *states* (AggregatingMergeTree): queries
-- combine them with sumMerge/uniqMerge, which is exact across blocks, parts and hours.
-- Ratios (CTR, conversion rate) are never stored: they are sums divided at query time.
CREATE TABLE IF NOT EXISTS metrics_hourly
(
    tenant_id   String,
    scenario_id String,
    hour        DateTime('UTC'),
    events      AggregateFunction(sum, UInt64),
    impressions AggregateFunction(sum, UInt64),
    clicks      AggregateFunction(sum, UInt64),
    views       AggregateFunction(sum, UInt64),
    likes       AggregateFunction(sum, UInt64),
    shares      AggregateFunction(sum, UInt64),
    add_carts   AggregateFunction(sum, UInt64),
    orders      AggregateFunction(sum, UInt64),
    users       AggregateFunction(uniq, String),
    watch_time  AggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, scenario_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_hourly_mv TO metrics_hourly AS
SELECT
    tenant_id,
    scenario_id,
    toStartOfHour(event_time) AS hour,
    sumState(toUInt64(1)) AS events,
    sumState(toUInt64(action_type = 'impression')) AS impressions,
    sumState(toUInt64(action_type = 'click')) AS clicks,
    sumState(toUInt64(action_type = 'view')) AS views,
    sumState(toUInt64(action_type = 'like')) AS likes,
    sumState(toUInt64(action_type = 'share')) AS shares,
    sumState(toUInt64(action_type = 'add_cart')) AS add_carts,
    sumState(toUInt64(action_type = 'order')) AS orders,
    uniqState(user_id) AS users,
    sumState(ifNull(watch_duration, 0.)) AS watch_time
FROM user_behaviors
GROUP BY tenant_id, scenario_id, hour
