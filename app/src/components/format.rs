//! Formatting shared by the views. Digits, grouping and percent signs read the same in both
//! languages; dates are ISO (`2026-12-02 04:00 UTC`), which Chinese pages use as well; the
//! words of a change (`new`, `pp`) are the page's language.

use crate::i18n::{Locale, Msg};

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

/// How a count moved against the period before: `+12.5%`, `−3.0%`, `new` (from nothing), or
/// `None` when the period before had no events at all (nothing to compare with).
pub fn count_change(locale: Locale, now: u64, before: Option<u64>) -> Option<String> {
    let before = before?;
    if before == 0 {
        return Some(
            if now == 0 {
                "±0%"
            } else {
                Msg::New.text(locale)
            }
            .to_string(),
        );
    }
    let change = (now as f64 - before as f64) / before as f64 * 100.0;
    Some(signed(change, "%"))
}

/// How a rate moved against the period before, in percentage points (`+0.42 pp`); `None`
/// when either rate is undefined.
pub fn rate_change(locale: Locale, now: Option<f64>, before: Option<f64>) -> Option<String> {
    Some(signed(
        (now? - before?) * 100.0,
        Msg::PercentagePoints.text(locale),
    ))
}

/// `+1.25`, `−0.50` (a real minus sign), `±0.00`, with `unit` after.
fn signed(value: f64, unit: &str) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    let sign = if rounded > 0.0 {
        "+"
    } else if rounded < 0.0 {
        "−"
    } else {
        "±"
    };
    format!("{sign}{:.2}{unit}", rounded.abs())
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

    #[test]
    fn changes_are_signed_and_undefined_ones_are_absent() {
        let en = Locale::En;
        assert_eq!(count_change(en, 125, Some(100)).as_deref(), Some("+25.00%"));
        assert_eq!(count_change(en, 97, Some(100)).as_deref(), Some("−3.00%"));
        assert_eq!(count_change(en, 100, Some(100)).as_deref(), Some("±0.00%"));
        assert_eq!(count_change(en, 5, Some(0)).as_deref(), Some("new"));
        assert_eq!(
            count_change(Locale::Zh, 5, Some(0)).as_deref(),
            Some("新增")
        );
        assert_eq!(count_change(en, 5, None), None);
        assert_eq!(
            rate_change(en, Some(0.0542), Some(0.05)).as_deref(),
            Some("+0.42 pp")
        );
        assert_eq!(
            rate_change(Locale::Zh, Some(0.0542), Some(0.05)).as_deref(),
            Some("+0.42 个百分点")
        );
        assert_eq!(rate_change(en, Some(0.05), None), None);
        assert_eq!(rate_change(en, None, Some(0.05)), None);
    }
}
