//! Durations on the command line: a plain number of seconds, or a duration with units as
//! `humantime` reads it (`300ms`, `1.5s`, `1h 30m`), as in configuration files.

use std::time::Duration;

/// Parses a plain number of seconds, or `300ms`, `2s`, `1.5s`, `1m`, `1h 30m`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| format!("not a non-negative duration: {text:?}"));
    }
    humantime::parse_duration(text).map_err(|e| format!("not a duration: {text:?} ({e}; try 300ms, 2s, 1h 30m or 1.5)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert!(parse("soon").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse("-1").is_err());
    }
}
