//! Items, locations, channels and the listings that bind a channel's offers to SKUs.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use tracing::{debug, info, warn};

use crate::ledger::db::row_set::{rows_json, rows_table, ChannelKeyRow, CHANNEL_KEY_COLUMNS};
use crate::ledger::db::write::{begin_key_lookups, WriteTx};
use crate::ledger::error::DatabaseContext;
use crate::ledger::types::{
    from_millis, now_millis, Channel, Listing, ListingBinding, ListingComponent,
};
use crate::ledger::{Backend, Ledger, LedgerError};
use crate::policy::{ListingPolicy, StockPolicy};

type ListingRow = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const LISTING_COLUMNS: &str = "l.channel_id, l.listing_id, l.sku, l.multiplier, l.sync_enabled, \
                               l.last_pushed_quantity, l.last_pushed_at, l.policy_override, \
                               l.location";

fn listing_from_row(row: ListingRow, components: Vec<ListingComponent>) -> Listing {
    let (
        channel_id,
        listing_id,
        sku,
        multiplier,
        sync_enabled,
        quantity,
        pushed_at,
        policy,
        location,
    ) = row;
    Listing {
        location,
        channel_id,
        listing_id,
        sku,
        multiplier,
        components,
        policy: parse_listing_policy(policy.as_deref()),
        sync_enabled: sync_enabled != 0,
        last_pushed_quantity: quantity,
        last_pushed_at: pushed_at.map(from_millis),
    }
}

/// A stored override; one the ledger cannot read (written by a newer version, say) counts as none
/// rather than blocking every push of the channel.
pub(crate) fn parse_listing_policy(text: Option<&str>) -> ListingPolicy {
    match text {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|error| {
            warn!(error = %error, "ignoring an unreadable listing policy override");
            ListingPolicy::default()
        }),
        None => ListingPolicy::default(),
    }
}

/// The stored form of a listing's overrides: JSON, or NULL when there are none.
fn encode_listing_policy(policy: &ListingPolicy) -> Result<Option<String>, LedgerError> {
    if policy.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(policy)
        .map(Some)
        .map_err(|error| LedgerError::Corrupt(format!("cannot encode a listing policy: {error}")))
}

/// Checks a listing's components: at least one, each quantity at least 1, no SKU twice.
fn check_components(components: &[ListingComponent]) -> Result<(), LedgerError> {
    if components.is_empty() {
        return Err(LedgerError::InvalidQuantity {
            quantity: 0,
            reason: "a listing needs at least one component",
        });
    }
    for component in components {
        if component.quantity < 1 {
            return Err(LedgerError::InvalidQuantity {
                quantity: component.quantity,
                reason: "a listing's multiplier must be at least 1",
            });
        }
    }
    let mut skus: Vec<&str> = components.iter().map(|c| c.sku.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    if skus.len() != components.len() {
        return Err(LedgerError::InvalidQuantity {
            quantity: components.len() as i64,
            reason: "a bundle names one sku twice",
        });
    }
    Ok(())
}

/// Binds (or rebinds) a listing inside `transaction`; marks its SKUs changed so it gets pushed.
pub(crate) async fn bind_in(
    transaction: &mut WriteTx<'_>,
    binding: &ListingBinding,
) -> Result<(), LedgerError> {
    check_components(&binding.components)?;
    transaction.ensure_channel(&binding.channel_id).await?;
    for component in &binding.components {
        transaction.ensure_item(&component.sku).await?;
    }
    if let Some(location) = &binding.location {
        transaction.create_location_if_missing(location).await?;
    }
    let first = &binding.components[0];
    sqlx::query(
        "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled, location) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (channel_id, listing_id) DO UPDATE SET \
         sku = excluded.sku, multiplier = excluded.multiplier, location = excluded.location",
    )
    .bind(&binding.channel_id)
    .bind(&binding.listing_id)
    .bind(&first.sku)
    .bind(first.quantity)
    .bind(i64::from(binding.sync_enabled.unwrap_or(true)))
    .bind(binding.location.as_deref())
    .execute(transaction.connection())
    .await
    .context("binding a listing")?;
    if let Some(enabled) = binding.sync_enabled {
        sqlx::query(
            "UPDATE listings SET sync_enabled = $1 WHERE channel_id = $2 AND listing_id = $3",
        )
        .bind(i64::from(enabled))
        .bind(&binding.channel_id)
        .bind(&binding.listing_id)
        .execute(transaction.connection())
        .await
        .context("changing a listing's sync")?;
    }
    if let Some(policy) = &binding.policy {
        sqlx::query(
            "UPDATE listings SET policy_override = $1 WHERE channel_id = $2 AND listing_id = $3",
        )
        .bind(encode_listing_policy(policy)?)
        .bind(&binding.channel_id)
        .bind(&binding.listing_id)
        .execute(transaction.connection())
        .await
        .context("storing a listing's policy")?;
    }
    sqlx::query("DELETE FROM listing_components WHERE channel_id = $1 AND listing_id = $2")
        .bind(&binding.channel_id)
        .bind(&binding.listing_id)
        .execute(transaction.connection())
        .await
        .context("replacing a listing's components")?;
    for component in &binding.components {
        sqlx::query(
            "INSERT INTO listing_components (channel_id, listing_id, sku, quantity) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&binding.channel_id)
        .bind(&binding.listing_id)
        .bind(&component.sku)
        .bind(component.quantity)
        .execute(transaction.connection())
        .await
        .context("writing a listing component")?;
        transaction.mark_changed(&component.sku);
    }
    Ok(())
}

/// The components of `listings` (channel, listing id), each listing's sorted by SKU; listings
/// without any are left out. Each listing is looked up by key where the transaction makes
/// PostgreSQL do so (a [`WriteTx`] or [`begin_key_lookups`]), however many there are.
pub(crate) async fn read_components(
    connection: &mut AnyConnection,
    backend: Backend,
    listings: &BTreeSet<(&str, &str)>,
) -> Result<HashMap<(String, String), Vec<ListingComponent>>, LedgerError> {
    let mut components: HashMap<(String, String), Vec<ListingComponent>> = HashMap::new();
    if listings.is_empty() {
        return Ok(components);
    }
    let rows: Vec<ChannelKeyRow<'_>> = listings
        .iter()
        .map(|&(channel_id, key)| ChannelKeyRow { channel_id, key })
        .collect();
    let sql = format!(
        "SELECT c.channel_id, c.listing_id, c.sku, c.quantity FROM {} JOIN listing_components c \
         ON c.channel_id = k.channel_id AND c.listing_id = k.key",
        rows_table(backend, "k", CHANNEL_KEY_COLUMNS)
    );
    let found: Vec<(String, String, String, i64)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(&mut *connection)
        .await
        .context("reading listing components")?;
    for (channel_id, listing_id, sku, quantity) in found {
        components
            .entry((channel_id, listing_id))
            .or_default()
            .push(ListingComponent { sku, quantity });
    }
    for parts in components.values_mut() {
        parts.sort_by(|left, right| left.sku.cmp(&right.sku));
    }
    Ok(components)
}

impl Ledger {
    /// Creates the item or renames it.
    pub async fn upsert_item(&self, sku: &str, title: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO items (sku, title, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (sku) DO UPDATE SET title = excluded.title",
        )
        .bind(sku)
        .bind(title)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("upserting an item")?;
        debug!(sku = %sku, "item upserted");
        Ok(())
    }

    /// Creates the location or renames it.
    pub async fn upsert_location(&self, code: &str, name: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO locations (code, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(code)
        .bind(name)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("upserting a location")?;
        debug!(location = %code, "location upserted");
        Ok(())
    }

    /// Creates the location, named by its code, unless it exists: the location a connector
    /// names for an order (a mapped warehouse's) is then bookable, as the channel's own is.
    pub async fn create_location_if_missing(&self, code: &str) -> Result<(), LedgerError> {
        let mut transaction = WriteTx::begin(self).await?;
        transaction.create_location_if_missing(code).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Creates the channel or changes its kind. A channel connected for the first time goes
    /// live now: its cut-over is the moment it is created (see [`Ledger::set_channel_cut_over`]).
    pub async fn upsert_channel(&self, id: &str, kind: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO channels (id, kind, paused, created_at, cut_over_at) \
             VALUES ($1, $2, 0, $3, $3) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind",
        )
        .bind(id)
        .bind(kind)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("upserting a channel")?;
        debug!(channel = %id, kind = %kind, "channel upserted");
        Ok(())
    }

    /// Sets the channel's cut-over (go-live) instant: orders placed before it are booked as
    /// baselines when first seen, and a first poll reads nothing updated before it.
    pub async fn set_channel_cut_over(
        &self,
        id: &str,
        cut_over: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let updated = sqlx::query("UPDATE channels SET cut_over_at = $1 WHERE id = $2")
            .bind(cut_over.timestamp_millis())
            .bind(id)
            .execute(&self.pool)
            .await
            .context("setting a channel's cut-over")?;
        if updated.rows_affected() == 0 {
            return Err(LedgerError::UnknownChannel(id.to_string()));
        }
        info!(channel = %id, cut_over = %cut_over.to_rfc3339(), "channel cut-over set");
        Ok(())
    }

    /// The channel's cut-over instant; `None` for an unknown channel.
    pub async fn channel_cut_over(&self, id: &str) -> Result<Option<DateTime<Utc>>, LedgerError> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT cut_over_at FROM channels WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .context("reading a channel's cut-over")?;
        Ok(row.and_then(|(millis,)| millis).map(from_millis))
    }

    /// Pauses or resumes stock pushes to a channel.
    pub async fn set_channel_paused(&self, id: &str, paused: bool) -> Result<(), LedgerError> {
        let updated = sqlx::query("UPDATE channels SET paused = $1 WHERE id = $2")
            .bind(i64::from(paused))
            .bind(id)
            .execute(&self.pool)
            .await
            .context("pausing a channel")?;
        if updated.rows_affected() == 0 {
            return Err(LedgerError::UnknownChannel(id.to_string()));
        }
        info!(channel = %id, paused, "channel pause changed");
        Ok(())
    }

    pub async fn channels(&self) -> Result<Vec<Channel>, LedgerError> {
        let rows: Vec<(String, String, i64, Option<i64>)> =
            sqlx::query_as("SELECT id, kind, paused, cut_over_at FROM channels ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .context("listing channels")?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, paused, cut_over)| Channel {
                id,
                kind,
                paused: paused != 0,
                cut_over: cut_over.map(from_millis),
            })
            .collect())
    }

    /// Binds a channel's listing to a SKU (`multiplier` stock units per listing unit), or
    /// rebinds it. Writes an outbox row so that the listing's level gets pushed.
    pub async fn bind_listing(
        &self,
        channel_id: &str,
        listing_id: &str,
        sku: &str,
        multiplier: i64,
    ) -> Result<(), LedgerError> {
        self.bind_bundle(
            channel_id,
            listing_id,
            &[ListingComponent::new(sku, multiplier)],
        )
        .await
    }

    /// Binds a listing to a bundle (kit): one unit of it takes `quantity` units of each
    /// component. A multipack is a bundle of one component. Rebinding replaces the components.
    pub async fn bind_bundle(
        &self,
        channel_id: &str,
        listing_id: &str,
        components: &[ListingComponent],
    ) -> Result<(), LedgerError> {
        let binding = ListingBinding {
            channel_id: channel_id.to_string(),
            listing_id: listing_id.to_string(),
            components: components.to_vec(),
            sync_enabled: None,
            policy: None,
            location: None,
        };
        let mut transaction = WriteTx::begin(self).await?;
        bind_in(&mut transaction, &binding).await?;
        transaction.commit().await?;
        info!(channel = %channel_id, listing = %listing_id, components = %components_text(components), "listing bound");
        Ok(())
    }

    /// Binds every listing in one transaction: all of them or, on the first error, none.
    pub async fn bind_listings(&self, bindings: &[ListingBinding]) -> Result<(), LedgerError> {
        let mut transaction = WriteTx::begin(self).await?;
        for binding in bindings {
            if let Err(error) = bind_in(&mut transaction, binding).await {
                transaction.rollback().await?;
                return Err(error);
            }
        }
        transaction.commit().await?;
        info!(listings = bindings.len(), "listings bound");
        Ok(())
    }

    /// Stores a listing's overrides of its channel's stock policy (an empty one removes them)
    /// and asks for the listing to be pushed again.
    pub async fn set_listing_policy(
        &self,
        channel_id: &str,
        listing_id: &str,
        policy: &ListingPolicy,
    ) -> Result<(), LedgerError> {
        let stored = encode_listing_policy(policy)?;
        let mut transaction = WriteTx::begin(self).await?;
        let updated = sqlx::query(
            "UPDATE listings SET policy_override = $1 WHERE channel_id = $2 AND listing_id = $3",
        )
        .bind(stored)
        .bind(channel_id)
        .bind(listing_id)
        .execute(transaction.connection())
        .await
        .context("storing a listing's policy")?;
        if updated.rows_affected() == 0 {
            transaction.rollback().await?;
            return Err(LedgerError::UnknownListing {
                channel_id: channel_id.to_string(),
                listing_id: listing_id.to_string(),
            });
        }
        let backend = transaction.backend();
        let skus = read_components(
            transaction.connection(),
            backend,
            &BTreeSet::from([(channel_id, listing_id)]),
        )
        .await?;
        for component in skus.into_values().flatten() {
            transaction.mark_changed(&component.sku);
        }
        transaction.commit().await?;
        info!(channel = %channel_id, listing = %listing_id, policy = %serde_json::to_string(&policy).unwrap_or_default(), "listing policy set");
        Ok(())
    }

    /// Stores the parts of a channel's stock policy that booking needs (whether returns are
    /// restocked). The channel must exist ([`Ledger::upsert_channel`]).
    pub async fn set_channel_policy(
        &self,
        channel_id: &str,
        policy: &StockPolicy,
    ) -> Result<(), LedgerError> {
        let updated = sqlx::query("UPDATE channels SET restock_returns = $1 WHERE id = $2")
            .bind(i64::from(policy.restock_returns))
            .bind(channel_id)
            .execute(&self.pool)
            .await
            .context("storing a channel's policy")?;
        if updated.rows_affected() == 0 {
            return Err(LedgerError::UnknownChannel(channel_id.to_string()));
        }
        Ok(())
    }

    /// Turns stock pushes for one listing on or off.
    pub async fn set_listing_sync(
        &self,
        channel_id: &str,
        listing_id: &str,
        enabled: bool,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE listings SET sync_enabled = $1 WHERE channel_id = $2 AND listing_id = $3",
        )
        .bind(i64::from(enabled))
        .bind(channel_id)
        .bind(listing_id)
        .execute(&self.pool)
        .await
        .context("changing a listing's sync")?;
        Ok(())
    }

    pub async fn listing(
        &self,
        channel_id: &str,
        listing_id: &str,
    ) -> Result<Option<Listing>, LedgerError> {
        let listings = self
            .read_listings(
                "l.channel_id = $1 AND l.listing_id = $2",
                &[channel_id, listing_id],
            )
            .await?;
        Ok(listings.into_iter().next())
    }

    /// Every listing that takes stock of `sku` (alone, as a multipack or in a bundle), on
    /// every channel.
    pub async fn listings_for_sku(&self, sku: &str) -> Result<Vec<Listing>, LedgerError> {
        self.read_listings(
            "EXISTS (SELECT 1 FROM listing_components c WHERE c.channel_id = l.channel_id \
             AND c.listing_id = l.listing_id AND c.sku = $1)",
            &[sku],
        )
        .await
    }

    async fn read_listings(
        &self,
        condition: &str,
        binds: &[&str],
    ) -> Result<Vec<Listing>, LedgerError> {
        let mut connection = begin_key_lookups(self).await?;
        let sql = format!(
            "SELECT {LISTING_COLUMNS} FROM listings l WHERE {condition} \
             ORDER BY l.channel_id, l.listing_id"
        );
        let mut query = sqlx::query_as::<_, ListingRow>(&sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        let rows = query
            .fetch_all(&mut *connection)
            .await
            .context("reading listings")?;
        let listings: BTreeSet<(&str, &str)> = rows
            .iter()
            .map(|row| (row.0.as_str(), row.1.as_str()))
            .collect();
        let mut components = read_components(&mut connection, self.backend, &listings).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let parts = components
                    .remove(&(row.0.clone(), row.1.clone()))
                    .unwrap_or_default();
                listing_from_row(row, parts)
            })
            .collect())
    }
}

/// Components for a log field: `sku×quantity`, comma-separated.
fn components_text(components: &[ListingComponent]) -> String {
    components
        .iter()
        .map(|component| format!("{}×{}", component.sku, component.quantity))
        .collect::<Vec<_>>()
        .join(",")
}
