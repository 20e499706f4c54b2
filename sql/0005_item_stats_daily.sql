-- Per item and UTC day: counts of each action, for "top items" over any range of days.
-- Plain sums (SummingMergeTree): every column is additive, so rows of a day that are not
-- merged yet still add up at query time with sum(). Valid on 18.16 and current releases.
CREATE TABLE IF NOT EXISTS item_stats_daily
(
    tenant_id   String,
    scenario_id String,
    day         Date,
    item_id     String,
    impressions UInt64,
    clicks      UInt64,
    views       UInt64,
    add_carts   UInt64,
    orders      UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, scenario_id, item_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS item_stats_daily_mv TO item_stats_daily AS
SELECT
    tenant_id,
    scenario_id,
    toDate(event_time) AS day,
    item_id,
    toUInt64(countIf(action_type = 'impression')) AS impressions,
    toUInt64(countIf(action_type = 'click')) AS clicks,
    toUInt64(countIf(action_type = 'view')) AS views,
    toUInt64(countIf(action_type = 'add_cart')) AS add_carts,
    toUInt64(countIf(action_type = 'order')) AS orders
FROM user_behaviors
GROUP BY tenant_id, scenario_id, day, item_id;

-- History from before this migration (raw events are kept 90 days). Run migrations with the
-- loaders stopped, as for 0004.
INSERT INTO item_stats_daily
SELECT
    tenant_id,
    scenario_id,
    toDate(event_time) AS day,
    item_id,
    toUInt64(countIf(action_type = 'impression')),
    toUInt64(countIf(action_type = 'click')),
    toUInt64(countIf(action_type = 'view')),
    toUInt64(countIf(action_type = 'add_cart')),
    toUInt64(countIf(action_type = 'order'))
FROM user_behaviors
GROUP BY tenant_id, scenario_id, day, item_id
