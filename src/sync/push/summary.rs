//! Per-listing problems of one call, logged as one summary: a busy channel that refuses many
//! listings must not flood the log with a warning per listing (each is still logged at
//! `debug`).

use std::collections::BTreeMap;
use std::fmt::Display;

/// How many listing ids a summary names.
const SAMPLE: usize = 5;
/// How many distinct reasons a summary names.
const REASONS: usize = 3;

#[derive(Debug, Default)]
pub(super) struct ListingProblems {
    listings: Vec<String>,
    reasons: BTreeMap<String, usize>,
}

impl ListingProblems {
    pub(super) fn add(&mut self, listing_id: &str, reason: impl Display) {
        self.listings.push(listing_id.to_string());
        *self.reasons.entry(reason.to_string()).or_default() += 1;
    }

    pub(super) fn count(&self) -> usize {
        self.listings.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.listings.is_empty()
    }

    /// The first listing ids, and how many more: `L-1, L-2 (+12 more)`.
    pub(super) fn sample(&self) -> String {
        let mut sample = self
            .listings
            .iter()
            .take(SAMPLE)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.listings.len() > SAMPLE {
            sample.push_str(&format!(" (+{} more)", self.listings.len() - SAMPLE));
        }
        sample
    }

    /// The most frequent reasons with their counts: `stale compare value ×12; not found ×1`.
    pub(super) fn reasons(&self) -> String {
        let mut reasons: Vec<(&String, &usize)> = self.reasons.iter().collect();
        reasons.sort_by(|left, right| right.1.cmp(left.1).then(left.0.cmp(right.0)));
        let mut text = reasons
            .iter()
            .take(REASONS)
            .map(|(reason, count)| format!("{reason} ×{count}"))
            .collect::<Vec<_>>()
            .join("; ");
        if reasons.len() > REASONS {
            text.push_str(&format!("; {} other reasons", reasons.len() - REASONS));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_a_few_listings_and_the_commonest_reasons() {
        let mut problems = ListingProblems::default();
        assert!(problems.is_empty());
        for index in 0..8 {
            let reason = if index < 6 { "stale" } else { "not found" };
            problems.add(&format!("L-{index}"), reason);
        }
        for other in ["a", "b", "c"] {
            problems.add("L-x", other);
        }
        assert_eq!(problems.count(), 11);
        assert_eq!(problems.sample(), "L-0, L-1, L-2, L-3, L-4 (+6 more)");
        assert_eq!(
            problems.reasons(),
            "stale ×6; not found ×2; a ×1; 2 other reasons"
        );
    }
}
