//! What a benchmark prints: a table for people and, last, one JSON line for scripts.

use serde_json::{Map, Value};
use std::time::Duration;

/// The figures of one run, in the order they were added.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub scenario: &'static str,
    rows: Vec<(String, String)>,
    json: Map<String, Value>,
}

impl BenchReport {
    pub fn new(scenario: &'static str, database: &str, bus: &str) -> Self {
        let mut report = Self {
            scenario,
            rows: Vec::new(),
            json: Map::new(),
        };
        report.json.insert("scenario".into(), Value::from(scenario));
        report.text("set-up", format!("{database} + {bus}"));
        report.json.insert("database".into(), Value::from(database));
        report.json.insert("bus".into(), Value::from(bus));
        report
    }

    /// A row of the table only.
    pub fn text(&mut self, label: &str, shown: impl Into<String>) -> &mut Self {
        self.rows.push((label.to_string(), shown.into()));
        self
    }

    /// A figure: a row of the table and a key of the JSON line.
    pub fn figure(
        &mut self,
        key: &str,
        value: impl Into<Value>,
        label: &str,
        shown: impl Into<String>,
    ) -> &mut Self {
        self.json.insert(key.to_string(), value.into());
        self.text(label, shown)
    }

    /// A key of the JSON line only.
    pub fn value(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.json.insert(key.to_string(), value.into());
        self
    }

    /// The figures as one JSON object.
    pub fn json(&self) -> Value {
        Value::Object(self.json.clone())
    }

    /// The table, then the JSON line.
    pub fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0);
        println!("omnistock bench {}", self.scenario);
        for (label, shown) in &self.rows {
            println!("  {label:<width$}  {shown}");
        }
        println!("{}", self.json());
    }
}

/// Sorted durations and their nearest-rank percentiles.
#[derive(Debug, Clone, Default)]
pub(super) struct Distribution {
    sorted: Vec<Duration>,
}

impl Distribution {
    pub(super) fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self { sorted: samples }
    }

    pub(super) fn len(&self) -> usize {
        self.sorted.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The `fraction` (0..=1) percentile, nearest rank; `None` without samples.
    pub(super) fn percentile(&self, fraction: f64) -> Option<Duration> {
        if self.sorted.is_empty() {
            return None;
        }
        let rank = (fraction * self.sorted.len() as f64).ceil() as usize;
        self.sorted
            .get(rank.clamp(1, self.sorted.len()) - 1)
            .copied()
    }

    pub(super) fn max(&self) -> Option<Duration> {
        self.sorted.last().copied()
    }

    /// Adds p50, p95, p99 and max as `<key>_p50_ms` … to the report.
    pub(super) fn add_to(&self, report: &mut BenchReport, key: &str, label: &str) {
        report.value(&format!("{key}_samples"), self.len());
        if self.is_empty() {
            report.text(label, "no samples");
        }
        for (name, value) in [
            ("p50", self.percentile(0.50)),
            ("p95", self.percentile(0.95)),
            ("p99", self.percentile(0.99)),
            ("max", self.max()),
        ] {
            report.figure(
                &format!("{key}_{name}_ms"),
                value.map(milliseconds),
                &format!("{label} {name}"),
                value.map_or("n/a".to_string(), |value| {
                    format!("{:.1} ms", milliseconds(value))
                }),
            );
        }
    }
}

/// Fractional milliseconds, rounded to 0.1.
pub(super) fn milliseconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Rounded to two decimals, for rates and ratios in the JSON line.
pub(super) fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// To three decimals: a fraction shown as a percentage with one decimal.
pub(super) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let distribution = Distribution::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(
            distribution.percentile(0.5),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            distribution.percentile(0.99),
            Some(Duration::from_millis(99))
        );
        assert_eq!(distribution.max(), Some(Duration::from_millis(100)));
        assert_eq!(Distribution::default().percentile(0.5), None);
    }

    #[test]
    fn the_json_line_holds_every_figure() {
        let mut report = BenchReport::new("x", "sqlite", "memory");
        report
            .figure("rate", 12.5, "rate", "12.5/s")
            .value("extra", 1);
        let json = report.json();
        assert_eq!(json["scenario"], "x");
        assert_eq!(json["rate"], 12.5);
        assert_eq!(json["extra"], 1);
    }
}
