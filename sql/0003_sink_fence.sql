-- The ClickHouse sink's fence: per Kafka partition, the highest offset the sink has begun to
-- insert. Written *before* each insert (write-ahead), so after any crash the fence is at or
-- above every offset in `user_behaviors`: messages above it cannot be there yet and skip the
-- duplicate lookup; only those at or below it (a redelivery) are looked up by event id.
-- ReplacingMergeTree keeps one row per partition after merges; readers take max(kafka_offset), so
-- rows not merged yet give the same answer. Valid on ClickHouse 18.16 and current releases.
CREATE TABLE IF NOT EXISTS sink_fence
(
    topic           String,
    kafka_partition Int32,
    kafka_offset    Int64,
    written_at      DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY (topic, kafka_partition);
