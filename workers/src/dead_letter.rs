//! The dead-letter topic: messages the loader cannot load (undecodable, or rows ClickHouse
//! refuses as bad data) are produced there unchanged, with why and where from in headers, so
//! the sink keeps going and nothing disappears silently. Never retried as data; an operator
//! can inspect and replay them.

use super::batch::Source;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use recoscope_kafka::KafkaConfig;
use std::time::Duration;

/// One message that could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub source: Source,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason: String,
}

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(kafka: &KafkaConfig) -> anyhow::Result<Self> {
        let producer = kafka
            .client()
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(DeadLetters {
            producer,
            topic: kafka.dead_letter_topic.clone(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces every letter and waits for the broker's acks; an error leaves the batch
    /// uncommitted, so the letters are produced again after a retry.
    pub async fn send(&self, letters: &[DeadLetter]) -> Result<(), String> {
        let deliveries = letters.iter().map(|letter| {
            let source = format!(
                "{}/{}/{}",
                letter.source.topic, letter.source.partition, letter.source.offset
            );
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "recoscope-reason",
                    value: Some(letter.reason.as_bytes()),
                })
                .insert(Header {
                    key: "recoscope-source",
                    value: Some(source.as_bytes()),
                });
            let mut record = FutureRecord::to(&self.topic)
                .payload(&letter.payload)
                .headers(headers);
            if let Some(key) = &letter.key {
                record = record.key(key);
            }
            self.producer.send(record, Duration::from_secs(5))
        });
        for result in futures::future::join_all(deliveries).await {
            result.map_err(|(e, _)| e.to_string())?;
        }
        metrics::counter!("recoscope_sink_dead_letters_total").increment(letters.len() as u64);
        Ok(())
    }
}
