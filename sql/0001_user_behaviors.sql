-- Raw behaviour events, one row per accepted event.
-- Valid on ClickHouse 18.16 and current releases: DateTime('UTC') (no DateTime64), Enum8
-- (no LowCardinality), daily partitions so retention can drop whole days on servers
-- without TTL.
CREATE TABLE IF NOT EXISTS user_behaviors
(
    tenant_id        String,
    event_id         String,
    scenario_id      String,
    user_id          String,
    item_id          String,
    action_type      Enum8('impression' = 1, 'click' = 2, 'view' = 3, 'like' = 4,
                           'share' = 5, 'add_cart' = 6, 'order' = 7),
    event_time       DateTime('UTC'),
    event_ts_ms      UInt64,
    received_at      DateTime('UTC'),
    device_type      String,
    os               String,
    location         String,
    ip               String,
    request_id       String,
    position         Nullable(UInt32),
    session_id       String,
    experiment_id    String,
    experiment_group String,
    watch_duration   Nullable(Float64),
    completion_rate  Nullable(Float64),
    extra_data       String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (tenant_id, scenario_id, toStartOfHour(event_time), action_type, event_id)
