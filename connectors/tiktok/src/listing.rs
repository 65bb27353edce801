//! Listing identity: `{product_id}:{sku_id}`. The inventory update is addressed by product and
//! lists SKU ids, and order lines carry both, so the pair is the one id every call can use.

/// A TikTok SKU of a product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListingId {
    pub product_id: String,
    pub sku_id: String,
}

impl ListingId {
    pub fn new(product_id: impl Into<String>, sku_id: impl Into<String>) -> Self {
        Self {
            product_id: product_id.into(),
            sku_id: sku_id.into(),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (product_id, sku_id) = text.split_once(':')?;
        let valid =
            |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_alphanumeric());
        (valid(product_id) && valid(sku_id)).then(|| Self::new(product_id, sku_id))
    }

    pub fn encode(&self) -> String {
        format!("{}:{}", self.product_id, self.sku_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed_ids() {
        let id = ListingId::new("1729382561353664372", "1729592969712207013");
        assert_eq!(ListingId::parse(&id.encode()), Some(id));
        assert_eq!(ListingId::parse("1729592969712207013"), None);
        assert_eq!(ListingId::parse(":1"), None);
        assert_eq!(ListingId::parse("1:2/3"), None);
    }
}
