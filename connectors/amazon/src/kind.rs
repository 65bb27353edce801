//! Amazon's entry in the daemon's registry of channel kinds.

use crate::config::AmazonChannelConfig;
use crate::connector::{AmazonConnector, AMAZON_KIND};
use omnistock_connector::{Connector, ConnectorKind};
use std::sync::Arc;

/// The `amazon` channel kind.
pub struct AmazonKind;

impl ConnectorKind for AmazonKind {
    const KIND: &'static str = AMAZON_KIND;
    type Config = AmazonChannelConfig;

    fn validate(config: &AmazonChannelConfig) -> Result<(), String> {
        config.validate().map_err(|error| error.to_string())
    }

    fn build(config: AmazonChannelConfig) -> Result<Arc<dyn Connector>, String> {
        let connector = AmazonConnector::new(config).map_err(|error| error.to_string())?;
        Ok(Arc::new(connector))
    }
}
