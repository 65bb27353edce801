//! "Why does this channel show this number?": for each listing of a channel that takes an
//! item, every step from the ledger's balances to the quantity the channel is sent. The steps
//! come from the policy's own code ([`crate::policy::explain_quantity`]), so an explanation is
//! always the quantity a push would send.

use crate::ledger::{Balance, Ledger, LedgerError, Listing};
use crate::policy::{
    explain_quantity, locations_from, ComponentStock, LocationsFrom, RuleStep, StockPolicy,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// One listing's quantity, explained.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListingExplanation {
    pub channel: String,
    pub listing_id: String,
    /// When false, omnistock never pushes this listing (it keeps what the channel shows).
    pub sync_enabled: bool,
    /// What one listing unit takes from stock and what stock there is of it.
    pub components: Vec<ComponentExplanation>,
    /// The rules in force for this listing, each with where it came from.
    pub rules: EffectiveRules,
    /// The rules as applied, in order.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<RuleStep>,
    /// The quantity the channel should show.
    pub quantity: i64,
    /// What the channel last confirmed, and when; `null` before the first confirmed push.
    pub last_confirmed_quantity: Option<i64>,
    pub last_confirmed_at: Option<DateTime<Utc>>,
    /// The channel's confirmed quantity equals `quantity`.
    pub in_step: bool,
    /// When not in step: why it has not been pushed yet (paused, sync off, parked as a dead
    /// letter, the channel degraded, queued, waiting for the rate limit, …).
    pub not_pushed_because: Vec<String>,
}

/// One component of a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComponentExplanation {
    pub sku: String,
    /// Units of the SKU one listing unit takes (a 6-pack: 6).
    pub per_unit: i64,
    /// The SKU's balance at every location, and whether that location feeds the channel.
    pub locations: Vec<LocationStock>,
    /// Available units summed over the locations that feed the channel.
    pub available: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LocationStock {
    pub location: String,
    pub on_hand: i64,
    /// Units held by open orders.
    pub reserved: i64,
    pub available: i64,
    /// The channel may sell this location's stock (its `locations` rule).
    pub feeds_channel: bool,
}

/// A rule's value and where it came from: `listing` (the listing's override), `channel` (the
/// channel's `stock_policy`) or `default` (neither sets it); for `locations` also
/// `listing_warehouse` (the listing's warehouse: the location its channel keeps its stock in).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rule<T> {
    pub value: T,
    pub from: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EffectiveRules {
    /// Empty: every location.
    #[schema(value_type = Object)]
    pub locations: Rule<Vec<String>>,
    #[schema(value_type = Object)]
    pub safety_buffer: Rule<u32>,
    #[schema(value_type = Object)]
    pub percentage: Rule<Option<u8>>,
    #[schema(value_type = Object)]
    pub max_quantity: Rule<Option<u32>>,
    #[schema(value_type = Object)]
    pub show_zero_below: Rule<u32>,
    #[schema(value_type = Object)]
    pub fixed_quantity: Rule<Option<u32>>,
}

/// Every listing of `channel_id` that takes `sku` (a bundle that contains it included),
/// explained under the channel's `policy`; `not_pushed_because` is left for the caller, who
/// knows the pusher's state.
pub async fn explain_listings(
    ledger: &Ledger,
    channel_id: &str,
    policy: &StockPolicy,
    sku: &str,
) -> Result<Vec<ListingExplanation>, LedgerError> {
    let mut explained = explain_item(ledger, sku, &[(channel_id, policy)]).await?;
    Ok(explained.remove(channel_id).unwrap_or_default())
}

/// [`explain_listings`] for each of `channels` (id and policy), by channel id: the item's
/// listings are read once, and each component's balances once, whatever the channels share.
pub async fn explain_item(
    ledger: &Ledger,
    sku: &str,
    channels: &[(&str, &StockPolicy)],
) -> Result<BTreeMap<String, Vec<ListingExplanation>>, LedgerError> {
    let mut explained: BTreeMap<String, Vec<ListingExplanation>> = channels
        .iter()
        .map(|(channel_id, _)| (channel_id.to_string(), Vec::new()))
        .collect();
    let mut balances = HashMap::new();
    for listing in ledger.listings_for_sku(sku).await? {
        let Some((_, policy)) = channels.iter().find(|(id, _)| *id == listing.channel_id) else {
            continue;
        };
        let explanation = explain_listing(ledger, &mut balances, policy, listing).await?;
        if let Some(listings) = explained.get_mut(&explanation.channel) {
            listings.push(explanation);
        }
    }
    Ok(explained)
}

async fn explain_listing(
    ledger: &Ledger,
    balances: &mut HashMap<String, Vec<Balance>>,
    channel_policy: &StockPolicy,
    listing: Listing,
) -> Result<ListingExplanation, LedgerError> {
    let policy = channel_policy.with_override(&listing.policy, listing.location.as_deref());
    let mut components = Vec::with_capacity(listing.components.len());
    for component in &listing.components {
        if !balances.contains_key(&component.sku) {
            let read = ledger.balances(&component.sku).await?;
            balances.insert(component.sku.clone(), read);
        }
        let locations: Vec<LocationStock> = balances
            .get(&component.sku)
            .into_iter()
            .flatten()
            .map(|balance| LocationStock {
                feeds_channel: policy.feeds_from(&balance.location),
                available: balance.available(),
                location: balance.location.clone(),
                on_hand: balance.on_hand,
                reserved: balance.reserved,
            })
            .collect();
        components.push(ComponentExplanation {
            available: locations
                .iter()
                .filter(|place| place.feeds_channel)
                .map(|place| place.available)
                .sum(),
            sku: component.sku.clone(),
            per_unit: component.quantity,
            locations,
        });
    }
    let stock: Vec<ComponentStock> = components
        .iter()
        .map(|component| ComponentStock {
            available: component.available,
            per_unit: component.per_unit,
        })
        .collect();
    let (quantity, steps) = explain_quantity(&stock, &policy);
    Ok(ListingExplanation {
        rules: effective_rules(channel_policy, &listing),
        in_step: listing.last_pushed_quantity == Some(quantity),
        channel: listing.channel_id,
        listing_id: listing.listing_id,
        sync_enabled: listing.sync_enabled,
        components,
        steps,
        quantity,
        last_confirmed_quantity: listing.last_pushed_quantity,
        last_confirmed_at: listing.last_pushed_at,
        not_pushed_because: Vec::new(),
    })
}

fn effective_rules(channel: &StockPolicy, listing: &Listing) -> EffectiveRules {
    let defaults = StockPolicy::default();
    let overrides = &listing.policy;
    // The listing's override wins; else the channel's value, "default" when it is the default.
    fn pick<T: Clone + PartialEq>(listing: Option<&T>, channel: &T, default: &T) -> Rule<T> {
        match listing {
            Some(value) => Rule {
                value: value.clone(),
                from: "listing",
            },
            None if channel != default => Rule {
                value: channel.clone(),
                from: "channel",
            },
            None => Rule {
                value: channel.clone(),
                from: "default",
            },
        }
    }
    let locations = match (
        locations_from(overrides, listing.location.as_deref()),
        &listing.location,
    ) {
        (LocationsFrom::ListingWarehouse, Some(location)) => Rule {
            value: vec![location.clone()],
            from: "listing_warehouse",
        },
        _ => pick(
            overrides.locations.as_ref(),
            &channel.locations,
            &defaults.locations,
        ),
    };
    EffectiveRules {
        locations,
        safety_buffer: pick(
            overrides.safety_buffer.as_ref(),
            &channel.safety_buffer,
            &defaults.safety_buffer,
        ),
        percentage: pick(
            overrides.percentage.map(Some).as_ref(),
            &channel.percentage,
            &defaults.percentage,
        ),
        max_quantity: pick(
            overrides.max_quantity.map(Some).as_ref(),
            &channel.max_quantity,
            &defaults.max_quantity,
        ),
        show_zero_below: pick(
            overrides.show_zero_below.as_ref(),
            &channel.show_zero_below,
            &defaults.show_zero_below,
        ),
        fixed_quantity: pick(
            overrides.fixed_quantity.map(Some).as_ref(),
            &channel.fixed_quantity,
            &defaults.fixed_quantity,
        ),
    }
}
