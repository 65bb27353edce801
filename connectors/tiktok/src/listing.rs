//! Listing identity: `{product_id}:{sku_id}`, or `{product_id}:{sku_id}:{warehouse_id}` when
//! the channel maps warehouses to ledger locations (`warehouses`): one listing per SKU per
//! mapped warehouse. The inventory update is addressed by product and lists SKU ids per
//! warehouse, and order lines carry product and SKU (the order its warehouse), so these are the
//! ids every call can use. Without a warehouse, the id means the configured `warehouse_id` or the
//! SKU's only warehouse.

/// A TikTok SKU of a product, in one warehouse or the channel's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListingId {
    pub product_id: String,
    pub sku_id: String,
    pub warehouse_id: Option<String>,
}

impl ListingId {
    pub fn new(product_id: impl Into<String>, sku_id: impl Into<String>) -> Self {
        Self {
            product_id: product_id.into(),
            sku_id: sku_id.into(),
            warehouse_id: None,
        }
    }

    /// The SKU's listing in one warehouse (per-warehouse mode).
    pub fn in_warehouse(
        product_id: impl Into<String>,
        sku_id: impl Into<String>,
        warehouse_id: impl Into<String>,
    ) -> Self {
        Self {
            warehouse_id: Some(warehouse_id.into()),
            ..Self::new(product_id, sku_id)
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let valid =
            |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_alphanumeric());
        let mut parts = text.split(':');
        let (product_id, sku_id) = (parts.next()?, parts.next()?);
        let warehouse_id = parts.next();
        if parts.next().is_some()
            || !valid(product_id)
            || !valid(sku_id)
            || warehouse_id.is_some_and(|warehouse| !valid(warehouse))
        {
            return None;
        }
        Some(Self {
            warehouse_id: warehouse_id.map(str::to_string),
            ..Self::new(product_id, sku_id)
        })
    }

    pub fn encode(&self) -> String {
        match &self.warehouse_id {
            Some(warehouse_id) => format!("{}:{}:{warehouse_id}", self.product_id, self.sku_id),
            None => format!("{}:{}", self.product_id, self.sku_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed_ids() {
        let id = ListingId::new("1729382561353664372", "1729592969712207013");
        assert_eq!(ListingId::parse(&id.encode()), Some(id));
        let in_warehouse = ListingId::in_warehouse("1", "2", "7068517275539719942");
        assert_eq!(in_warehouse.encode(), "1:2:7068517275539719942");
        assert_eq!(ListingId::parse(&in_warehouse.encode()), Some(in_warehouse));
        assert_eq!(ListingId::parse("1729592969712207013"), None);
        assert_eq!(ListingId::parse(":1"), None);
        assert_eq!(ListingId::parse("1:2/3"), None);
        assert_eq!(ListingId::parse("1:2:"), None);
        assert_eq!(ListingId::parse("1:2:3:4"), None);
    }
}
