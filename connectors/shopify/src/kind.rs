//! Shopify's entry in the daemon's registry of channel kinds.

use crate::config::ShopifyChannelConfig;
use crate::connector::{ShopifyConnector, SHOPIFY_KIND};
use omnistock_connector::{Connector, ConnectorKind};
use std::sync::Arc;

/// The `shopify` channel kind.
pub struct ShopifyKind;

impl ConnectorKind for ShopifyKind {
    const KIND: &'static str = SHOPIFY_KIND;
    type Config = ShopifyChannelConfig;

    fn validate(config: &ShopifyChannelConfig) -> Result<(), String> {
        config.validate().map_err(|error| error.to_string())
    }

    fn build(config: ShopifyChannelConfig) -> Result<Arc<dyn Connector>, String> {
        let connector = ShopifyConnector::new(config).map_err(|error| error.to_string())?;
        Ok(Arc::new(connector))
    }
}
