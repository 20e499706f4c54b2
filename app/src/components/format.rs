//! Formatting shared by the views.

/// `12345` → `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A ratio as a percentage, or an em dash when it is undefined (nothing to divide by).
pub fn percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) => format!("{:.2}%", r * 100.0),
        None => "—".to_string(),
    }
}

/// Start of an hour (epoch seconds) as `MM-DD HH:00`, UTC.
pub fn hour_label(epoch_secs: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_secs, 0)
        .map(|t| t.format("%m-%d %H:00").to_string())
        .unwrap_or_default()
}

/// Start of a day (epoch seconds) as `MM-DD`, UTC.
pub fn day_label(epoch_secs: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_secs, 0)
        .map(|t| t.format("%m-%d").to_string())
        .unwrap_or_default()
}

/// Start of a minute (epoch seconds) as `HH:MM`, UTC.
pub fn minute_label(epoch_secs: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_secs, 0)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// An instant (epoch milliseconds) as `HH:MM:SS UTC`.
pub fn clock(epoch_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .map(|t| t.format("%H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A range end as `YYYY-MM-DD HH:00 UTC`.
pub fn datetime(epoch_secs: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_undefined_ratios_are_not_zero() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(percent(Some(0.0512)), "5.12%");
        assert_eq!(percent(None), "—");
        assert_eq!(hour_label(3600), "01-01 01:00");
        assert_eq!(minute_label(3660), "01:01");
        assert_eq!(clock(3_661_000), "01:01:01 UTC");
    }
}
