//! Stock policy: how much of the ledger's stock a channel is shown.
//!
//! A channel's policy comes from its `[channels.stock_policy]` table; a listing may override any
//! rule in the ledger. [`shown_quantity`] is the one place the rules are applied, and it is pure:
//! the same availability and rules always give the same quantity, so it is tested by tables and
//! by properties (never negative, never above what the rules allow, monotone in availability).

use serde::{Deserialize, Serialize};

/// The rules that turn stock into the quantity a listing shows. Quantities are whole units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StockPolicy {
    /// The locations whose stock the channel may sell; empty means every location.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    /// Units of each item held back from the channel (a safety buffer against oversells).
    pub safety_buffer: u32,
    /// The share of the remaining stock the channel is shown, 0 to 100; absent means 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<u8>,
    /// The most units a listing shows, whatever the stock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<u32>,
    /// When a listing would show fewer units than this, it shows zero (avoids selling the last
    /// few units on several channels at once).
    pub show_zero_below: u32,
    /// Show this quantity whatever the stock (made-to-order or dropshipped items); the other
    /// rules do not apply to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_quantity: Option<u32>,
    /// Put refunded or returned units back on hand; when false, returns are left for an
    /// operator to inspect and receive by hand.
    pub restock_returns: bool,
}

impl Default for StockPolicy {
    /// Every location, no buffer, 100 %, no maximum, returns restocked: the whole stock.
    fn default() -> Self {
        Self {
            locations: Vec::new(),
            safety_buffer: 0,
            percentage: None,
            max_quantity: None,
            show_zero_below: 0,
            fixed_quantity: None,
            restock_returns: true,
        }
    }
}

impl StockPolicy {
    /// The same as [`StockPolicy::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// This policy with a listing's overrides applied, for a listing that sells from
    /// `location` (its warehouse on a channel that keeps stock per location; see
    /// [`locations_from`]): its locations are the override's if it sets them, else that one
    /// location, else the channel's.
    pub fn with_override(&self, listing: &ListingPolicy, location: Option<&str>) -> StockPolicy {
        StockPolicy {
            locations: match (&listing.locations, location) {
                (Some(locations), _) => locations.clone(),
                (None, Some(location)) => vec![location.to_string()],
                (None, None) => self.locations.clone(),
            },
            safety_buffer: listing.safety_buffer.unwrap_or(self.safety_buffer),
            percentage: listing.percentage.or(self.percentage),
            max_quantity: listing.max_quantity.or(self.max_quantity),
            show_zero_below: listing.show_zero_below.unwrap_or(self.show_zero_below),
            fixed_quantity: listing.fixed_quantity.or(self.fixed_quantity),
            restock_returns: self.restock_returns,
        }
    }

    /// Whether stock at `location` feeds the channel.
    pub fn feeds_from(&self, location: &str) -> bool {
        self.locations.is_empty() || self.locations.iter().any(|code| code == location)
    }

    /// Refuses values the rules cannot mean; `Err` is (field, reason).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.percentage.is_some_and(|percentage| percentage > 100) {
            return Err(("percentage", "must be between 0 and 100".to_string()));
        }
        if self.locations.iter().any(|code| code.trim().is_empty()) {
            return Err(("locations", "a location code must not be empty".to_string()));
        }
        Ok(())
    }
}

/// Where a listing's `locations` rule comes from ([`StockPolicy::with_override`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationsFrom {
    /// The listing's own override.
    Listing,
    /// The listing's warehouse: the location its channel's connector says it sells from.
    ListingWarehouse,
    /// The channel's `stock_policy` (or its default, every location).
    Channel,
}

/// Where the `locations` rule of a listing with these overrides, selling from `location`,
/// comes from; the same order of precedence as [`StockPolicy::with_override`].
pub fn locations_from(listing: &ListingPolicy, location: Option<&str>) -> LocationsFrom {
    match (&listing.locations, location) {
        (Some(_), _) => LocationsFrom::Listing,
        (None, Some(_)) => LocationsFrom::ListingWarehouse,
        (None, None) => LocationsFrom::Channel,
    }
}

/// A listing's overrides of its channel's policy, stored with the listing in the ledger; every
/// absent rule falls back to the channel's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListingPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_buffer: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_zero_below: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_quantity: Option<u32>,
}

impl ListingPolicy {
    pub fn is_empty(&self) -> bool {
        self == &ListingPolicy::default()
    }
}

/// One component of a listing: `available` units of an item (summed over the policy's
/// locations, negative when oversold) of which one listing unit takes `per_unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentStock {
    pub available: i64,
    pub per_unit: i64,
}

/// The quantity a listing shows under `policy`.
///
/// Per component: hold back the safety buffer, take the percentage (rounded down), divide by the
/// units one listing unit takes (rounded down); the listing shows the least of its components.
/// Then "show zero below" and the maximum apply. A fixed quantity replaces all of this. The
/// result is never negative.
pub fn shown_quantity(components: &[ComponentStock], policy: &StockPolicy) -> i64 {
    apply_rules(components, policy, |_| {})
}

/// [`shown_quantity`] with every step it took, for an operator asking why a listing shows
/// what it shows. The same code computes both, so an explanation cannot disagree with a push.
pub fn explain_quantity(
    components: &[ComponentStock],
    policy: &StockPolicy,
) -> (i64, Vec<RuleStep>) {
    let mut steps = Vec::new();
    let quantity = apply_rules(components, policy, |step| steps.push(step));
    (quantity, steps)
}

/// One step of the rules as [`shown_quantity`] applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RuleStep {
    /// A fixed quantity replaced every other rule.
    Fixed { quantity: i64 },
    /// One component: its available units, what the safety buffer and the percentage leave,
    /// and the listing units that makes (divided by the units one listing unit takes).
    Component {
        index: usize,
        available: i64,
        after_safety_buffer: i64,
        after_percentage: i64,
        per_unit: i64,
        units: i64,
    },
    /// The least of the components' units (a bundle shows its scarcest component).
    Scarcest { units: i64 },
    /// Fewer units than the threshold show as zero.
    ShowZeroBelow {
        threshold: i64,
        before: i64,
        after: i64,
    },
    /// The most units a listing shows.
    Maximum {
        maximum: i64,
        before: i64,
        after: i64,
    },
}

/// The rules, telling `observe` each step they take.
fn apply_rules(
    components: &[ComponentStock],
    policy: &StockPolicy,
    mut observe: impl FnMut(RuleStep),
) -> i64 {
    if let Some(fixed) = policy.fixed_quantity {
        let quantity = i64::from(fixed);
        observe(RuleStep::Fixed { quantity });
        return quantity;
    }
    let percentage = i64::from(policy.percentage.unwrap_or(100).min(100));
    let buffer = i64::from(policy.safety_buffer);
    let units = components
        .iter()
        .enumerate()
        .map(|(index, component)| {
            let sellable = component.available.saturating_sub(buffer).max(0);
            // i128 so that a huge stock times the percentage cannot overflow.
            let shared = (i128::from(sellable) * i128::from(percentage) / 100) as i64;
            let units = shared / component.per_unit.max(1);
            observe(RuleStep::Component {
                index,
                available: component.available,
                after_safety_buffer: sellable,
                after_percentage: shared,
                per_unit: component.per_unit,
                units,
            });
            units
        })
        .min()
        .unwrap_or(0);
    observe(RuleStep::Scarcest { units });
    let threshold = i64::from(policy.show_zero_below);
    let shown = if units < threshold { 0 } else { units };
    if threshold > 0 {
        observe(RuleStep::ShowZeroBelow {
            threshold,
            before: units,
            after: shown,
        });
    }
    match policy.max_quantity {
        Some(max) => {
            let maximum = i64::from(max);
            let capped = shown.min(maximum);
            observe(RuleStep::Maximum {
                maximum,
                before: shown,
                after: capped,
            });
            capped
        }
        None => shown,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(available: i64, per_unit: i64) -> Vec<ComponentStock> {
        vec![ComponentStock {
            available,
            per_unit,
        }]
    }

    #[test]
    fn rules_apply_in_order() {
        let policy = |edit: fn(&mut StockPolicy)| {
            let mut policy = StockPolicy::new();
            edit(&mut policy);
            policy
        };
        let cases: Vec<(&str, Vec<ComponentStock>, StockPolicy, i64)> = vec![
            ("everything", one(10, 1), StockPolicy::new(), 10),
            ("oversold shows zero", one(-3, 1), StockPolicy::new(), 0),
            ("multipack rounds down", one(13, 6), StockPolicy::new(), 2),
            ("buffer", one(10, 1), policy(|p| p.safety_buffer = 3), 7),
            (
                "buffer above stock",
                one(2, 1),
                policy(|p| p.safety_buffer = 3),
                0,
            ),
            (
                "half, rounded down",
                one(7, 1),
                policy(|p| p.percentage = Some(50)),
                3,
            ),
            (
                "zero percent",
                one(7, 1),
                policy(|p| p.percentage = Some(0)),
                0,
            ),
            (
                "maximum",
                one(70, 1),
                policy(|p| p.max_quantity = Some(5)),
                5,
            ),
            (
                "below threshold",
                one(2, 1),
                policy(|p| p.show_zero_below = 3),
                0,
            ),
            (
                "at threshold",
                one(3, 1),
                policy(|p| p.show_zero_below = 3),
                3,
            ),
            (
                "fixed",
                one(-5, 1),
                policy(|p| p.fixed_quantity = Some(99)),
                99,
            ),
            (
                "buffer then percentage then pack",
                one(25, 2),
                policy(|p| {
                    p.safety_buffer = 5;
                    p.percentage = Some(50)
                }),
                5,
            ),
            (
                "bundle takes its scarcest component",
                vec![
                    ComponentStock {
                        available: 10,
                        per_unit: 2,
                    },
                    ComponentStock {
                        available: 3,
                        per_unit: 1,
                    },
                ],
                StockPolicy::new(),
                3,
            ),
            ("no components", vec![], StockPolicy::new(), 0),
        ];
        for (name, components, policy, expected) in cases {
            assert_eq!(shown_quantity(&components, &policy), expected, "{name}");
        }
    }

    #[test]
    fn listing_override_wins_rule_by_rule() {
        let channel = StockPolicy {
            safety_buffer: 2,
            max_quantity: Some(10),
            locations: vec!["east".into()],
            ..StockPolicy::new()
        };
        let listing = ListingPolicy {
            max_quantity: Some(3),
            ..ListingPolicy::default()
        };
        let merged = channel.with_override(&listing, None);
        assert_eq!(merged.max_quantity, Some(3));
        assert_eq!(merged.safety_buffer, 2);
        assert!(merged.feeds_from("east"));
        assert!(!merged.feeds_from("west"));
        assert!(StockPolicy::new().feeds_from("anywhere"));
    }

    #[test]
    fn a_listings_warehouse_narrows_the_channels_locations_unless_the_listing_sets_its_own() {
        let channel = StockPolicy {
            locations: vec!["east".into(), "west".into()],
            ..StockPolicy::new()
        };
        let plain = ListingPolicy::default();
        let in_west = channel.with_override(&plain, Some("west"));
        assert_eq!(in_west.locations, vec!["west".to_string()]);
        assert!(!in_west.feeds_from("east"));
        assert_eq!(
            locations_from(&plain, Some("west")),
            LocationsFrom::ListingWarehouse
        );
        let own = ListingPolicy {
            locations: Some(vec!["north".into()]),
            ..ListingPolicy::default()
        };
        assert_eq!(
            channel.with_override(&own, Some("west")).locations,
            vec!["north".to_string()]
        );
        assert_eq!(locations_from(&own, Some("west")), LocationsFrom::Listing);
        assert_eq!(
            channel.with_override(&plain, None).locations,
            channel.locations
        );
        assert_eq!(locations_from(&plain, None), LocationsFrom::Channel);
        // Every location (the default) narrows too.
        assert_eq!(
            StockPolicy::new()
                .with_override(&plain, Some("east"))
                .locations,
            vec!["east".to_string()]
        );
    }

    #[test]
    fn percentage_above_100_is_refused() {
        let policy = StockPolicy {
            percentage: Some(101),
            ..StockPolicy::new()
        };
        assert_eq!(policy.check().unwrap_err().0, "percentage");
    }

    fn policy_strategy() -> impl Strategy<Value = StockPolicy> {
        (
            0..20_u32,
            prop::option::of(0..=100_u8),
            prop::option::of(0..50_u32),
            0..10_u32,
            prop::option::weighted(0.1, 0..50_u32),
        )
            .prop_map(
                |(safety_buffer, percentage, max_quantity, show_zero_below, fixed_quantity)| {
                    StockPolicy {
                        safety_buffer,
                        percentage,
                        max_quantity,
                        show_zero_below,
                        fixed_quantity,
                        ..StockPolicy::new()
                    }
                },
            )
    }

    fn components_strategy() -> impl Strategy<Value = Vec<(i64, i64)>> {
        prop::collection::vec((-50..500_i64, 1..7_i64), 1..4)
    }

    fn stock(components: &[(i64, i64)]) -> Vec<ComponentStock> {
        components
            .iter()
            .map(|(available, per_unit)| ComponentStock {
                available: *available,
                per_unit: *per_unit,
            })
            .collect()
    }

    proptest! {
        #[test]
        fn never_negative_nor_above_what_the_policy_allows(
            components in components_strategy(),
            policy in policy_strategy(),
        ) {
            let shown = shown_quantity(&stock(&components), &policy);
            prop_assert!(shown >= 0);
            if let Some(fixed) = policy.fixed_quantity {
                prop_assert_eq!(shown, i64::from(fixed));
            } else {
                if let Some(max) = policy.max_quantity {
                    prop_assert!(shown <= i64::from(max));
                }
                let percentage = i64::from(policy.percentage.unwrap_or(100));
                for (available, per_unit) in &components {
                    let allowed = (available - i64::from(policy.safety_buffer)).max(0)
                        * percentage / 100 / per_unit;
                    prop_assert!(shown <= allowed);
                }
                // The threshold looks at the stock before the maximum caps it.
                let threshold = policy
                    .max_quantity
                    .map_or(policy.show_zero_below, |max| max.min(policy.show_zero_below));
                prop_assert!(shown == 0 || shown >= i64::from(threshold));
            }
        }

        #[test]
        fn monotone_in_available(
            components in components_strategy(),
            policy in policy_strategy(),
            which in 0..4_usize,
            more in 0..100_i64,
        ) {
            let before = shown_quantity(&stock(&components), &policy);
            let mut increased = components.clone();
            let index = which % increased.len();
            increased[index].0 += more;
            let after = shown_quantity(&stock(&increased), &policy);
            prop_assert!(after >= before, "{} then {}", before, after);
        }
    }
}
