//! How a platform's crate registers itself with the daemon: a [`ConnectorKind`] names the kind,
//! its typed channel settings and how a connector is built from them. The daemon's registry is
//! a list of kinds, so adding a platform is one crate plus one line there.

use crate::connector::Connector;
use crate::credentials::CredentialStore;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// One platform, as the daemon's registry sees it.
pub trait ConnectorKind: Send + Sync + 'static {
    /// The `kind` of a channel in the settings (`"sim"`, `"shopify"` …).
    const KIND: &'static str;

    /// The channel's own settings: every field documented, unknown fields refused.
    type Config: DeserializeOwned;

    /// Checks what deserializing cannot (URLs, ranges, keys that go together); the message
    /// names the key.
    fn validate(config: &Self::Config) -> Result<(), String>;

    /// Builds the connector of one channel.
    fn build(config: Self::Config) -> Result<Arc<dyn Connector>, String>;

    /// Builds the connector of one channel with the store the daemon keeps its renewed
    /// credentials in; kinds that renew none ignore it (the default).
    fn build_with_store(
        config: Self::Config,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Arc<dyn Connector>, String> {
        let _ = store;
        Self::build(config)
    }
}
