//! Where a connector keeps credentials it renews itself (a refreshed OAuth token pair), so that
//! a restart, or another replica, uses the newest ones. The daemon gives each channel one,
//! backed by the ledger.

use crate::secret::Secret;
use async_trait::async_trait;

/// One channel's renewed credentials, as an opaque value the connector encodes.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The value saved last; `None` before the first save.
    async fn load(&self) -> Result<Option<Secret>, String>;

    /// Saves `value`; returns once it is durable.
    async fn save(&self, value: &Secret) -> Result<(), String>;
}
