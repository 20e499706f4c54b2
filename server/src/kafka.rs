//! Kafka plumbing shared by the API and the workers: client settings, topic creation and the
//! producer behind the ingest API ([`KafkaEventSink`]).

use crate::config::Config;
use crate::ingest::sink::{EventSink, SinkError};
use futures::future::{BoxFuture, FutureExt};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use recoscope_core::BehaviorRecord;
use std::time::Duration;

/// Settings every client of ours shares.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "recoscope")
        // Keep librdkafka's own logs quiet on broker restarts; our code reports errors.
        .set("log_level", "3");
    c
}

/// Creates the topic with `partitions` and a retention of `retention` if it does not exist
/// yet. An existing topic is left as it is (its partitions can only grow, with the broker's
/// tools; see docs/ARCHITECTURE.md "Scaling the workers").
pub async fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    retention: Duration,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers).create()?;
    let retention_ms = retention.as_millis().to_string();
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1))
        .set("retention.ms", &retention_ms);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new_topic], &options).await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// The ingest API's producer: answers only after the broker acknowledged (acks=all).
#[derive(Clone)]
pub struct KafkaEventSink {
    producer: FutureProducer,
    topic: String,
    queue_max: usize,
}

impl KafkaEventSink {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let producer: FutureProducer = client_config(&config.kafka_brokers)
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                config.kafka_produce_timeout_ms.to_string(),
            )
            // Each request waits for its acks, so linger is request latency: 1 ms doubled the
            // API's throughput over 5 ms in bench/ingest (8 connections, batches of 50).
            .set("linger.ms", "1")
            .set("compression.type", "lz4")
            .set(
                "queue.buffering.max.messages",
                config.kafka_queue_max_messages.to_string(),
            )
            .create()?;
        Ok(KafkaEventSink {
            producer,
            topic: config.kafka_topic.clone(),
            queue_max: config.kafka_queue_max_messages,
        })
    }

    /// Whether the broker answers a metadata request for our topic.
    pub async fn check_broker(&self) -> Result<(), SinkError> {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
                .map(drop)
                .map_err(|e| SinkError::Retryable(format!("broker unreachable: {e}")))
        })
        .await
        .map_err(|e| SinkError::Retryable(e.to_string()))?
    }
}

fn classify(error: KafkaError) -> SinkError {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge)
        | Some(RDKafkaErrorCode::InvalidMessageSize)
        | Some(RDKafkaErrorCode::InvalidMessage) => SinkError::Permanent(error.to_string()),
        // Broker down, timed out, queue full, leader moving: try again later.
        _ => SinkError::Retryable(error.to_string()),
    }
}

impl EventSink for KafkaEventSink {
    fn send_batch<'a>(
        &'a self,
        records: &'a [BehaviorRecord],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        async move {
            // Refuse the whole batch up front when it does not fit in the producer's queue, so
            // a full queue (broker slow or away) answers 503 at once and nothing of the batch
            // is half enqueued. Concurrent requests can still race past this check; then the
            // enqueue below fails fast (no queue wait) and the client's retry is de-duplicated
            // downstream by event id.
            let in_flight = usize::try_from(self.producer.in_flight_count()).unwrap_or(0);
            if in_flight + records.len() > self.queue_max {
                metrics::counter!("recoscope_producer_queue_full_total").increment(1);
                return Err(SinkError::Retryable(format!(
                    "producer queue full: {in_flight} events waiting for the broker, room for {}",
                    self.queue_max
                )));
            }
            let encoded = records
                .iter()
                .map(|record| {
                    serde_json::to_vec(record)
                        .map(|payload| (record.partition_key(), payload))
                        .map_err(|e| SinkError::Permanent(format!("cannot encode event: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // All sends are in flight at once; the batch is acknowledged when the last is.
            let deliveries = encoded.iter().map(|(key, payload)| {
                self.producer.send(
                    FutureRecord::to(&self.topic).key(key).payload(payload),
                    Duration::ZERO,
                )
            });
            for result in futures::future::join_all(deliveries).await {
                result.map_err(|(e, _)| classify(e))?;
            }
            Ok(())
        }
        .boxed()
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        self.check_broker().boxed()
    }
}
