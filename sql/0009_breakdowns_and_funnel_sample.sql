-- The last dashboard views that scanned raw events get tables of their own, so that their
-- cost no longer grows with traffic (issue 17):
-- - `breakdown_states`: per hour and per UTC day, aggregate states of each value of a
--   dimension (device, os, location, list position) and of each experiment group. The
--   distributions and the experiments merge them like `rollup_states` (sums, HLL users).
-- - `funnel_events`: the funnel's five actions of each user, ordered by a hash bucket of
--   the user, so that the funnel reads a bounded sample of users (all of them when the range
--   is small enough) instead of every event.
--
-- Run migrations with the loaders stopped, as for 0004-0006: rows inserted between a view's
-- creation and its backfill would be counted twice. Each backfill runs only into an empty
-- table, so the migration can run again after an interruption.
CREATE TABLE IF NOT EXISTS breakdown_states
(
    tenant_id   String,
    dimension   Enum8('device' = 1, 'os' = 2, 'location' = 3, 'position' = 4,
                      'experiment' = 5),
    grain       Enum8('hour' = 1, 'day' = 2),
    scenario_id String,
    -- The start of the hour or the UTC day.
    t           DateTime('UTC'),
    -- The dimension's value ('' when the event did not say); the experiment's id.
    value       String,
    -- The experiment's group; '' for the other dimensions.
    variant     String,
    events      AggregateFunction(sum, UInt64),
    impressions AggregateFunction(sum, UInt64),
    clicks      AggregateFunction(sum, UInt64),
    orders      AggregateFunction(sum, UInt64),
    users       AggregateFunction(uniqHLL12, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(t)
ORDER BY (tenant_id, dimension, grain, scenario_id, t, value, variant)
SETTINGS index_granularity = 256;

-- Each event counts once per dimension, in its hour and in its UTC day: 8 rows before the
-- block is grouped.
CREATE MATERIALIZED VIEW IF NOT EXISTS breakdown_states_mv TO breakdown_states AS
SELECT
    tenant_id,
    split.1 AS dimension,
    split.2 AS grain,
    scenario_id,
    split.3 AS t,
    split.4 AS value,
    '' AS variant,
    sumState(toUInt64(1)) AS events,
    sumState(toUInt64(action_type = 'impression')) AS impressions,
    sumState(toUInt64(action_type = 'click')) AS clicks,
    sumState(toUInt64(action_type = 'order')) AS orders,
    uniqHLL12State(user_id) AS users
FROM user_behaviors
ARRAY JOIN arrayMap(
    d -> (CAST(d.1 AS Enum8('device' = 1, 'os' = 2, 'location' = 3, 'position' = 4,
                            'experiment' = 5)),
          CAST(d.2 AS Enum8('hour' = 1, 'day' = 2)), d.3, d.4),
    [('device', 'hour', toStartOfHour(event_time), device_type),
     ('device', 'day', toDateTime(toDate(event_time), 'UTC'), device_type),
     ('os', 'hour', toStartOfHour(event_time), os),
     ('os', 'day', toDateTime(toDate(event_time), 'UTC'), os),
     ('location', 'hour', toStartOfHour(event_time), location),
     ('location', 'day', toDateTime(toDate(event_time), 'UTC'), location),
     ('position', 'hour', toStartOfHour(event_time), ifNull(toString(position), '')),
     ('position', 'day', toDateTime(toDate(event_time), 'UTC'), ifNull(toString(position), ''))]
) AS split
GROUP BY tenant_id, dimension, grain, scenario_id, t, value, variant;

CREATE MATERIALIZED VIEW IF NOT EXISTS experiment_states_mv TO breakdown_states AS
SELECT
    tenant_id,
    CAST('experiment' AS Enum8('device' = 1, 'os' = 2, 'location' = 3, 'position' = 4,
                               'experiment' = 5)) AS dimension,
    split.1 AS grain,
    scenario_id,
    split.2 AS t,
    experiment_id AS value,
    experiment_group AS variant,
    sumState(toUInt64(1)) AS events,
    sumState(toUInt64(action_type = 'impression')) AS impressions,
    sumState(toUInt64(action_type = 'click')) AS clicks,
    sumState(toUInt64(action_type = 'order')) AS orders,
    uniqHLL12State(user_id) AS users
FROM user_behaviors
ARRAY JOIN [
    (CAST('hour' AS Enum8('hour' = 1, 'day' = 2)), toStartOfHour(event_time)),
    (CAST('day' AS Enum8('hour' = 1, 'day' = 2)), toDateTime(toDate(event_time), 'UTC'))
] AS split
WHERE experiment_id != ''
GROUP BY tenant_id, dimension, grain, scenario_id, t, value, variant;

-- The funnel's actions only, ordered so that `sample < k` reads about k/1024 of the users
-- (`cityHash64` is the same function on every release). Daily partitions, like the raw
-- table, for the same retention.
CREATE TABLE IF NOT EXISTS funnel_events
(
    tenant_id   String,
    sample      UInt16,
    scenario_id String,
    user_id     String,
    event_time  DateTime('UTC'),
    action_type Enum8('impression' = 1, 'click' = 2, 'view' = 3, 'like' = 4,
                      'share' = 5, 'add_cart' = 6, 'order' = 7, 'dwell' = 8)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (tenant_id, sample, scenario_id, user_id, event_time);

CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_events_mv TO funnel_events AS
SELECT tenant_id, toUInt16(cityHash64(user_id) % 1024) AS sample, scenario_id, user_id,
    event_time, action_type
FROM user_behaviors
WHERE action_type IN ('impression', 'click', 'view', 'add_cart', 'order');

-- History from the raw events kept (90 days).
INSERT INTO breakdown_states
SELECT
    tenant_id,
    split.1 AS dimension,
    split.2 AS grain,
    scenario_id,
    split.3 AS t,
    split.4 AS value,
    split.5 AS variant,
    sumState(toUInt64(1)),
    sumState(toUInt64(action_type = 'impression')),
    sumState(toUInt64(action_type = 'click')),
    sumState(toUInt64(action_type = 'order')),
    uniqHLL12State(user_id)
FROM user_behaviors
ARRAY JOIN arrayFilter(
    d -> d.1 != 'experiment' OR d.4 != '',
    arrayMap(
        d -> (CAST(d.1 AS Enum8('device' = 1, 'os' = 2, 'location' = 3, 'position' = 4,
                                'experiment' = 5)),
              CAST(d.2 AS Enum8('hour' = 1, 'day' = 2)), d.3, d.4, d.5),
        [('device', 'hour', toStartOfHour(event_time), device_type, ''),
         ('device', 'day', toDateTime(toDate(event_time), 'UTC'), device_type, ''),
         ('os', 'hour', toStartOfHour(event_time), os, ''),
         ('os', 'day', toDateTime(toDate(event_time), 'UTC'), os, ''),
         ('location', 'hour', toStartOfHour(event_time), location, ''),
         ('location', 'day', toDateTime(toDate(event_time), 'UTC'), location, ''),
         ('position', 'hour', toStartOfHour(event_time), ifNull(toString(position), ''), ''),
         ('position', 'day', toDateTime(toDate(event_time), 'UTC'),
          ifNull(toString(position), ''), ''),
         ('experiment', 'hour', toStartOfHour(event_time), experiment_id, experiment_group),
         ('experiment', 'day', toDateTime(toDate(event_time), 'UTC'), experiment_id,
          experiment_group)]
    )
) AS split
WHERE (SELECT count() FROM breakdown_states) = 0
GROUP BY tenant_id, dimension, grain, scenario_id, t, value, variant;

INSERT INTO funnel_events
SELECT tenant_id, toUInt16(cityHash64(user_id) % 1024), scenario_id, user_id, event_time,
    action_type
FROM user_behaviors
WHERE action_type IN ('impression', 'click', 'view', 'add_cart', 'order')
    AND (SELECT count() FROM funnel_events) = 0
