//! Keeping secrets out of `check-config` output, `Debug` and logs.

use crate::bus::BusConfig;
use serde::{Serialize, Serializer};

/// A URL with any password replaced; the ledger owns the rule so that logs and `check-config`
/// show database and broker URLs the same way.
pub(super) fn redact_url(url: &str) -> String {
    crate::ledger::redact_database_url(url)
}

/// Whether a channel option's name says it holds a secret.
pub(super) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "secret", "password", "key", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

/// `[bus]` with its URL shown redacted instead of hidden entirely (`memory://` is worth seeing).
pub(super) fn serialize_bus<S: Serializer>(
    bus: &BusConfig,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut value = serde_json::to_value(bus).map_err(serde::ser::Error::custom)?;
    if let Some(table) = value.as_object_mut() {
        table.insert(
            "url".to_string(),
            serde_json::Value::String(redact_url(bus.url.expose())),
        );
    }
    value.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_option_names_are_recognised() {
        for key in [
            "api_token",
            "webhook_secret",
            "password",
            "api_key",
            "Client_Secret",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["base_url", "shop", "location_id"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
