//! The sim's order cursor: a compound position `<updated_at millis>-<sequence>`, so that orders
//! sharing a timestamp are never skipped when a page ends between them.

use std::fmt;

/// A position in the sim's order history, ordered by time, then by sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderCursor {
    pub updated_at_millis: i64,
    pub sequence: u64,
}

impl OrderCursor {
    pub fn parse(text: &str) -> Option<Self> {
        let (millis, sequence) = text.trim().split_once('-')?;
        Some(Self {
            updated_at_millis: millis.parse().ok()?,
            sequence: sequence.parse().ok()?,
        })
    }
}

impl fmt::Display for OrderCursor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", self.updated_at_millis, self.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let cursor = OrderCursor {
            updated_at_millis: 1_700_000_000_123,
            sequence: 7,
        };
        assert_eq!(OrderCursor::parse(&cursor.to_string()), Some(cursor));
        assert_eq!(OrderCursor::parse("1700000000123"), None);
        assert_eq!(OrderCursor::parse("a-1"), None);
        assert!(
            OrderCursor::parse("5-9").unwrap_or(cursor)
                < OrderCursor::parse("6-1").unwrap_or(cursor)
        );
    }
}
