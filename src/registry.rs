//! Connectors by kind: the one place that knows which platforms exist, how their channel
//! options are checked and how a connector is built from them.

use omnistock_amazon::AmazonKind;
use omnistock_connector::{Connector, ConnectorKind, CredentialStore};
use omnistock_shopify::ShopifyKind;
use omnistock_sim::SimKind;
use omnistock_tiktok::TikTokKind;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::marker::PhantomData;
use std::sync::Arc;

/// Every channel kind the daemon can run: a new platform is one crate and one line here.
const FACTORIES: &[&dyn ConnectorFactory] = &[
    &Factory::<SimKind>::NEW,
    &Factory::<ShopifyKind>::NEW,
    &Factory::<TikTokKind>::NEW,
    &Factory::<AmazonKind>::NEW,
];

/// Why a connector cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("unknown channel kind {kind:?} (known: {known})", known = known_kinds().join(", "))]
    UnknownKind { kind: String },
    #[error("invalid {kind} options: {reason}")]
    InvalidOptions { kind: String, reason: String },
}

/// The kinds of [`FACTORIES`], in order.
pub fn known_kinds() -> Vec<&'static str> {
    FACTORIES.iter().map(|factory| factory.kind()).collect()
}

/// Checks a channel's options against its kind's settings; the error names the offending key
/// (`webhook_secret: missing`, ``unknown field `foo` ``, `max_batch: invalid type …`).
pub fn validate_channel_options(kind: &str, options: &Map<String, Value>) -> Result<(), String> {
    match factory(kind) {
        Some(factory) => factory.validate(options),
        None => Err(format!(
            "unknown channel kind {kind:?} (known: {})",
            known_kinds().join(", ")
        )),
    }
}

/// Builds the connector of a channel from its kind and options.
pub fn build_connector(
    kind: &str,
    options: &Map<String, Value>,
) -> Result<Arc<dyn Connector>, RegistryError> {
    let factory = factory(kind).ok_or_else(|| RegistryError::UnknownKind {
        kind: kind.to_string(),
    })?;
    factory
        .build(options)
        .map_err(|reason| RegistryError::InvalidOptions {
            kind: kind.to_string(),
            reason,
        })
}

/// Builds the connector of a channel with the store its renewed credentials are kept in.
pub fn build_connector_with_store(
    kind: &str,
    options: &Map<String, Value>,
    store: Arc<dyn CredentialStore>,
) -> Result<Arc<dyn Connector>, RegistryError> {
    let factory = factory(kind).ok_or_else(|| RegistryError::UnknownKind {
        kind: kind.to_string(),
    })?;
    factory
        .build_with_store(options, store)
        .map_err(|reason| RegistryError::InvalidOptions {
            kind: kind.to_string(),
            reason,
        })
}

fn factory(kind: &str) -> Option<&'static dyn ConnectorFactory> {
    FACTORIES
        .iter()
        .copied()
        .find(|factory| factory.kind() == kind)
}

/// A kind with its settings type erased, so that kinds of different settings share one list.
trait ConnectorFactory: Sync {
    fn kind(&self) -> &'static str;
    fn validate(&self, options: &Map<String, Value>) -> Result<(), String>;
    fn build(&self, options: &Map<String, Value>) -> Result<Arc<dyn Connector>, String>;
    fn build_with_store(
        &self,
        options: &Map<String, Value>,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Arc<dyn Connector>, String>;
}

/// The factory of one [`ConnectorKind`].
struct Factory<K>(PhantomData<fn() -> K>);

impl<K> Factory<K> {
    const NEW: Self = Self(PhantomData);
}

impl<K: ConnectorKind> Factory<K> {
    fn config(options: &Map<String, Value>) -> Result<K::Config, String> {
        let config: K::Config = parse_options(options)?;
        K::validate(&config)?;
        Ok(config)
    }
}

impl<K: ConnectorKind> ConnectorFactory for Factory<K> {
    fn kind(&self) -> &'static str {
        K::KIND
    }

    fn validate(&self, options: &Map<String, Value>) -> Result<(), String> {
        Self::config(options).map(drop)
    }

    fn build(&self, options: &Map<String, Value>) -> Result<Arc<dyn Connector>, String> {
        K::build(Self::config(options)?)
    }

    fn build_with_store(
        &self,
        options: &Map<String, Value>,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Arc<dyn Connector>, String> {
        K::build_with_store(Self::config(options)?, store)
    }
}

/// Deserializes options into a kind's settings with errors that name the key. serde reports
/// missing and unknown fields by name but type errors without one, so a type error is
/// pinned on its key by parsing each key alone.
fn parse_options<T: DeserializeOwned>(options: &Map<String, Value>) -> Result<T, String> {
    let error = match serde_json::from_value::<T>(Value::Object(options.clone())) {
        Ok(config) => return Ok(config),
        Err(error) => error.to_string(),
    };
    if let Some(field) = quoted_after(&error, "missing field `") {
        return Err(format!("{field}: missing"));
    }
    if let Some(field) = quoted_after(&error, "unknown field `") {
        return Err(format!("unknown field `{field}`"));
    }
    for (key, value) in options {
        let alone = Map::from_iter([(key.clone(), value.clone())]);
        if let Err(alone_error) = serde_json::from_value::<T>(Value::Object(alone)) {
            let alone_error = alone_error.to_string();
            if !alone_error.starts_with("missing field") {
                return Err(format!("{key}: {alone_error}"));
            }
        }
    }
    Err(error)
}

/// The text between `prefix` and the next backtick.
fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let start = text.find(prefix)? + prefix.len();
    let rest = &text[start..];
    rest.find('`').map(|end| &rest[..end])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn sim_options() -> Map<String, Value> {
        options(json!({
            "base_url": "http://127.0.0.1:8081",
            "api_token": "token",
            "webhook_secret": "secret",
        }))
    }

    #[test]
    fn valid_sim_options_build_a_sim_connector() {
        assert_eq!(validate_channel_options("sim", &sim_options()), Ok(()));
        let connector = build_connector("sim", &sim_options()).unwrap();
        assert_eq!(connector.kind(), "sim");
        assert_eq!(
            connector.capabilities().max_stock_batch,
            omnistock_sim::DEFAULT_MAX_BATCH
        );
    }

    #[test]
    fn errors_name_the_key() {
        let mut missing = sim_options();
        missing.remove("webhook_secret");
        assert_eq!(
            validate_channel_options("sim", &missing),
            Err("webhook_secret: missing".to_string())
        );

        let mut unknown = sim_options();
        unknown.insert("foo".into(), json!(1));
        assert_eq!(
            validate_channel_options("sim", &unknown),
            Err("unknown field `foo`".to_string())
        );

        let mut wrong_type = sim_options();
        wrong_type.insert("max_batch".into(), json!("many"));
        let error = validate_channel_options("sim", &wrong_type).unwrap_err();
        assert!(error.starts_with("max_batch: invalid type"), "{error}");

        let mut bad_rate = sim_options();
        bad_rate.insert("rate_limit".into(), json!("fast"));
        let error = validate_channel_options("sim", &bad_rate).unwrap_err();
        assert!(error.starts_with("rate_limit: "), "{error}");

        let mut bad_url = sim_options();
        bad_url.insert("base_url".into(), json!("not a url"));
        let error = validate_channel_options("sim", &bad_url).unwrap_err();
        assert!(error.starts_with("base_url: "), "{error}");
    }

    fn shopify_options() -> Map<String, Value> {
        options(json!({
            "shop": "demo-store",
            "access_token": "shpat_x",
            "client_secret": "secret",
            "location_id": "gid://shopify/Location/1",
        }))
    }

    #[test]
    fn valid_shopify_options_build_a_shopify_connector() {
        assert_eq!(
            validate_channel_options("shopify", &shopify_options()),
            Ok(())
        );
        let connector = build_connector("shopify", &shopify_options()).unwrap();
        assert_eq!(connector.kind(), "shopify");
        assert_eq!(connector.capabilities().max_stock_batch, 250);
        let mut missing = shopify_options();
        missing.remove("location_id");
        assert_eq!(
            validate_channel_options("shopify", &missing),
            Err("location_id: missing".to_string())
        );
        let mut bad = shopify_options();
        bad.insert("api_version".into(), json!("latest"));
        let error = validate_channel_options("shopify", &bad).unwrap_err();
        assert!(error.starts_with("api_version: "), "{error}");
    }

    #[test]
    fn valid_amazon_options_build_an_amazon_connector() {
        let amazon = options(json!({
            "region": "NA",
            "marketplace_ids": ["ATVPDKIKX0DER"],
            "seller_id": "A2SELLER",
            "client_id": "amzn1.application-oa2-client.x",
            "client_secret": "secret",
            "refresh_token": "Atzr|x",
        }));
        assert_eq!(validate_channel_options("amazon", &amazon), Ok(()));
        let connector = build_connector("amazon", &amazon).unwrap();
        assert_eq!(connector.kind(), "amazon");
        assert!(!connector.capabilities().webhooks);
        let mut missing = amazon.clone();
        missing.remove("seller_id");
        assert_eq!(
            validate_channel_options("amazon", &missing),
            Err("seller_id: missing".to_string())
        );
    }

    #[test]
    fn every_kind_is_listed_once() {
        assert_eq!(known_kinds(), ["sim", "shopify", "tiktok_shop"]);
        assert_eq!(known_kinds(), ["sim", "shopify", "amazon"]);
    }

    #[test]
    fn unknown_kinds_are_refused() {
        assert!(validate_channel_options("ebay", &sim_options())
            .unwrap_err()
            .contains("unknown channel kind \"ebay\""));
        assert!(matches!(
            build_connector("ebay", &sim_options()),
            Err(RegistryError::UnknownKind { .. })
        ));
    }
}
