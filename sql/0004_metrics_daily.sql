-- Daily metrics per tenant and scenario (UTC days): the same aggregate states as
-- metrics_hourly, one row per day instead of 24. Long ranges read whole days from here and
-- only their partial first and last days from the hourly rollup. Distinct users is why:
-- merging 24 hourly `uniq` states per day costs about as much as the events themselves when
-- users come back every hour, while one daily state holds each user once (bench/queries).
-- States of both tables merge with each other (same functions), so a range may mix them.
CREATE TABLE IF NOT EXISTS metrics_daily
(
    tenant_id   String,
    scenario_id String,
    day         Date,
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
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, scenario_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS metrics_daily_mv TO metrics_daily AS
SELECT
    tenant_id,
    scenario_id,
    toDate(event_time) AS day,
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
GROUP BY tenant_id, scenario_id, day;

-- History from before this migration, folded from the hourly rollup. Run migrations with the
-- loaders stopped (`recoscope migrate`, or the boot of `recoscope all`, which migrates before
-- its workers start): a row inserted between the view's creation and this backfill would be
-- counted twice.
INSERT INTO metrics_daily
SELECT
    tenant_id,
    scenario_id,
    toDate(hour) AS day,
    sumMergeState(events),
    sumMergeState(impressions),
    sumMergeState(clicks),
    sumMergeState(views),
    sumMergeState(likes),
    sumMergeState(shares),
    sumMergeState(add_carts),
    sumMergeState(orders),
    uniqMergeState(users),
    sumMergeState(watch_time)
FROM metrics_hourly
GROUP BY tenant_id, scenario_id, day
