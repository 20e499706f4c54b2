//! Names that go into SQL, URLs and Kafka unquoted: tenants, databases, topics. Checked here
//! once for every crate that takes one.

/// A Kafka topic name: letters, digits, '.', '_' and '-', at most 249.
pub fn is_topic_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 249
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A ClickHouse database, table or tenant name that is safe to use unquoted.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_safe_unquoted() {
        assert!(is_identifier("demo_1"));
        assert!(!is_identifier("1demo"));
        assert!(!is_identifier("x; DROP"));
        assert!(!is_identifier(""));
        assert!(is_topic_name("user-behaviors.v2"));
        assert!(!is_topic_name("a b"));
    }
}
