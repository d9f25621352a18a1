//! Latency samples and their percentiles.

use std::time::Duration;

/// Latencies in nanoseconds (saturating at about 4.3 s).
#[derive(Debug, Default)]
pub struct Latencies {
    nanos: Vec<u32>,
}

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        self.nanos.push(u32::try_from(elapsed.as_nanos()).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.nanos.extend(other.nanos);
    }

    /// The `p`-th percentile (0..=100), after sorting in place.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.nanos.is_empty() {
            return Duration::ZERO;
        }
        self.nanos.sort_unstable();
        let rank = ((p / 100.0) * (self.nanos.len() - 1) as f64).round() as usize;
        Duration::from_nanos(u64::from(self.nanos[rank.min(self.nanos.len() - 1)]))
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency for humans: `420 ns`, `850 µs`, `12.3 ms`, `1.20 s`.
pub fn human(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1 {
        format!("{} ns", d.as_nanos())
    } else if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.1} ms", micros as f64 / 1_000.0)
    } else {
        format!("{:.2} s", micros as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_formatting() {
        let mut l = Latencies::default();
        for i in 1..=100 {
            l.record(Duration::from_micros(i));
        }
        assert_eq!(l.percentile(50.0), Duration::from_micros(51));
        assert_eq!(l.percentile(99.0), Duration::from_micros(99));
        assert_eq!(human(Duration::from_nanos(420)), "420 ns");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(human(Duration::from_micros(1_500)), "1.5 ms");
    }
}

/// The throughput ratio of two layers that take turns in rounds: the median of each round's
/// ratio, so that a machine whose speed drifts during the run (a shared 2-core box) compares
/// each round with its neighbour, not a fast phase with a slow one.
#[derive(Debug, Default)]
pub struct PairedRatio {
    ratios: Vec<f64>,
}

impl PairedRatio {
    /// Records one round: operations per second of the measured layer and of the baseline.
    pub fn record(&mut self, measured: f64, baseline: f64) {
        if baseline > 0.0 {
            self.ratios.push(measured / baseline);
        }
    }

    /// The median of the recorded ratios, if any.
    pub fn median(&self) -> Option<f64> {
        let mut sorted = self.ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }
}

#[cfg(test)]
mod paired_tests {
    use super::PairedRatio;

    #[test]
    fn median_of_round_ratios() {
        let mut paired = PairedRatio::default();
        assert_eq!(paired.median(), None);
        paired.record(90.0, 100.0);
        paired.record(10.0, 100.0); // one disturbed round does not move the median far
        paired.record(300.0, 100.0);
        assert_eq!(paired.median(), Some(0.9));
        paired.record(95.0, 100.0);
        paired.record(1.0, 0.0); // no baseline: not a ratio
        assert!((paired.median().unwrap() - 0.925).abs() < 1e-9);
    }
}
