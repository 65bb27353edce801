//! The sim's entry in the daemon's registry of channel kinds.

use crate::config::SimChannelConfig;
use crate::connector::{SimConnector, SIM_KIND};
use omnistock_connector::{Connector, ConnectorKind};
use std::sync::Arc;

/// The `sim` channel kind.
pub struct SimKind;

impl ConnectorKind for SimKind {
    const KIND: &'static str = SIM_KIND;
    type Config = SimChannelConfig;

    fn validate(config: &SimChannelConfig) -> Result<(), String> {
        config.validate().map_err(|error| error.to_string())
    }

    fn build(config: SimChannelConfig) -> Result<Arc<dyn Connector>, String> {
        let connector = SimConnector::new(config).map_err(|error| error.to_string())?;
        Ok(Arc::new(connector))
    }
}
