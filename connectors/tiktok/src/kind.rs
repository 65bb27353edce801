//! TikTok Shop's entry in the daemon's registry of channel kinds.

use crate::config::TikTokChannelConfig;
use crate::connector::{TikTokConnector, TIKTOK_KIND};
use omnistock_connector::{Connector, ConnectorKind, CredentialStore};
use std::sync::Arc;

/// The `tiktok_shop` channel kind.
pub struct TikTokKind;

impl ConnectorKind for TikTokKind {
    const KIND: &'static str = TIKTOK_KIND;
    type Config = TikTokChannelConfig;

    fn validate(config: &TikTokChannelConfig) -> Result<(), String> {
        config.validate().map_err(|error| error.to_string())
    }

    fn build(config: TikTokChannelConfig) -> Result<Arc<dyn Connector>, String> {
        let connector = TikTokConnector::new(config).map_err(|error| error.to_string())?;
        Ok(Arc::new(connector))
    }

    /// Refreshed tokens go to the daemon's store, so that a restart uses the newest pair.
    fn build_with_store(
        config: TikTokChannelConfig,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Arc<dyn Connector>, String> {
        let connector =
            TikTokConnector::with_credentials(config, store).map_err(|error| error.to_string())?;
        Ok(Arc::new(connector))
    }
}
