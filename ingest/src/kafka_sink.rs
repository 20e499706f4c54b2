//! The producer behind the ingest API: the Kafka [`EventSink`].

use crate::config::IngestConfig;
use crate::sink::{EventSink, SinkError};
use futures::future::{BoxFuture, FutureExt};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use recoscope_core::BehaviorRecord;
use recoscope_kafka::KafkaConfig;
use std::time::Duration;

/// The ingest API's producer: answers only after the broker acknowledged (acks=all).
#[derive(Clone)]
pub struct KafkaEventSink {
    producer: FutureProducer,
    topic: String,
    queue_max: usize,
}

impl KafkaEventSink {
    pub fn new(kafka: &KafkaConfig, config: &IngestConfig) -> anyhow::Result<Self> {
        let producer: FutureProducer = kafka
            .client()
            .set("acks", "all")
            .set("message.timeout.ms", config.produce_timeout_ms.to_string())
            // Each request waits for its acks, so linger is request latency: 1 ms doubled the
            // API's throughput over 5 ms in bench/ingest (8 connections, batches of 50).
            .set("linger.ms", "1")
            .set("compression.type", "lz4")
            .set(
                "queue.buffering.max.messages",
                config.queue_max_messages.to_string(),
            )
            .create()?;
        Ok(KafkaEventSink {
            producer,
            topic: kafka.topic.clone(),
            queue_max: config.queue_max_messages,
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
