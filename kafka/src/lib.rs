//! Kafka plumbing every Kafka client of ours shares: where the brokers are and which topics
//! carry events ([`KafkaConfig`]), the client settings ([`client_config`]) and creating the
//! topics at boot ([`ensure_topics`]). The ingest API's producer and the workers' consumers
//! are built on these in their own crates.

use envconfig::Envconfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use recoscope_core::config::{ensure, ConfigError};
use recoscope_core::names::is_topic_name;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Envconfig, Debug, Clone)]
pub struct KafkaConfig {
    /// Kafka bootstrap servers, comma-separated.
    #[envconfig(from = "KAFKA_BROKERS", default = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic behaviour events are written to and read from.
    #[envconfig(from = "KAFKA_TOPIC", default = "user-behaviors")]
    pub topic: String,
    /// Partitions of the topic when the server creates it (more partitions, more workers).
    #[envconfig(from = "KAFKA_TOPIC_PARTITIONS", default = "3")]
    pub topic_partitions: i32,
    /// How long the topic keeps events when the server creates it (replay window for the
    /// workers and for backfills).
    #[envconfig(from = "KAFKA_TOPIC_RETENTION_HOURS", default = "168")]
    pub topic_retention_hours: u64,
    /// Where messages the loader cannot load go, with the reason in a header.
    #[envconfig(
        from = "SINK_DEAD_LETTER_TOPIC",
        default = "user-behaviors-dead-letter"
    )]
    pub dead_letter_topic: String,
    /// How long the dead-letter topic keeps messages when the server creates it.
    #[envconfig(from = "SINK_DEAD_LETTER_RETENTION_HOURS", default = "720")]
    pub dead_letter_retention_hours: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig::init_from_hashmap(&HashMap::new()).expect("defaults parse")
    }
}

impl KafkaConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            !self.brokers.trim().is_empty(),
            "KAFKA_BROKERS",
            "must name at least one host:port",
        )?;
        ensure(
            is_topic_name(&self.topic),
            "KAFKA_TOPIC",
            "use letters, digits, '.', '_' and '-' only",
        )?;
        ensure(
            (1..=1024).contains(&self.topic_partitions),
            "KAFKA_TOPIC_PARTITIONS",
            "must be between 1 and 1024",
        )?;
        ensure(
            self.topic_retention_hours > 0,
            "KAFKA_TOPIC_RETENTION_HOURS",
            "must be positive",
        )?;
        ensure(
            self.dead_letter_retention_hours > 0,
            "SINK_DEAD_LETTER_RETENTION_HOURS",
            "must be positive",
        )?;
        ensure(
            is_topic_name(&self.dead_letter_topic) && self.dead_letter_topic != self.topic,
            "SINK_DEAD_LETTER_TOPIC",
            "must be a topic name (letters, digits, '.', '_', '-') other than KAFKA_TOPIC",
        )
    }

    /// Settings every client of ours starts from.
    pub fn client(&self) -> ClientConfig {
        client_config(&self.brokers)
    }
}

/// Settings every client of ours shares.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "recoscope")
        // Keep librdkafka's own logs quiet on broker restarts; our code reports errors.
        .set("log_level", "3");
    c
}

/// Creates the events topic and the dead-letter topic if they do not exist yet.
pub async fn ensure_topics(config: &KafkaConfig) -> anyhow::Result<()> {
    let hours = |h: u64| Duration::from_secs(h * 3600);
    ensure_topic(
        &config.brokers,
        &config.topic,
        config.topic_partitions,
        hours(config.topic_retention_hours),
    )
    .await?;
    ensure_topic(
        &config.brokers,
        &config.dead_letter_topic,
        config.topic_partitions,
        hours(config.dead_letter_retention_hours),
    )
    .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_topic_must_differ_from_the_events_topic() {
        KafkaConfig::default().validate().unwrap();
        let config = KafkaConfig {
            dead_letter_topic: "user-behaviors".into(),
            ..KafkaConfig::default()
        };
        let e = config.validate().unwrap_err();
        assert!(e.to_string().contains("SINK_DEAD_LETTER_TOPIC"), "{e}");
        assert_eq!(KafkaConfig::default().topic, recoscope_core::DEFAULT_TOPIC);
    }
}
