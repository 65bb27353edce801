//! Token refresh: before expiry, after an "expired" answer, kept across a restart.

use crate::harness::{connector_with, start_fake};
use async_trait::async_trait;
use omnistock_connector::{Connector, ConnectorError, CredentialStore, Secret};
use omnistock_tiktok::fake::now;
use omnistock_tiktok::TikTokConnector;
use omnistock_tiktok::{FileTokenStore, TokenStore};
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_stored_and_survives_a_restart() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiktok-tokens.json");
    let mut config = fake.channel_config();
    config.access_token_expire_in = now() + 60;
    config.token_store_path = Some(path.clone());
    let connector = connector_with(config.clone());
    let listing = fake.create_listing("TOKEN", 1);
    connector
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap();
    assert_eq!(fake.token_refreshes(), 1);
    let stored = FileTokenStore::new(&path)
        .load()
        .await
        .unwrap()
        .expect("stored pair");
    assert_eq!(stored, connector.tokens().await);
    assert_ne!(stored.refresh_token, config.refresh_token);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(stored.access_token.expose()));

    // A restart with the same settings: the stored pair is used, the retired one never sent.
    drop(connector);
    let restarted = connector_with(config);
    restarted
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap();
    assert_eq!(
        fake.token_refreshes(),
        1,
        "no second refresh with a retired token"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn an_expired_answer_refreshes_before_the_next_call() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("EXPIRED", 1);
    fake.expire_access_tokens();
    let error = connector
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    connector
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap();
    assert_eq!(fake.token_refreshes(), 1);
}

#[tokio::test]
async fn an_expired_refresh_token_needs_the_seller() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let mut config = fake.channel_config();
    config.access_token_expire_in = now() - 10;
    config.refresh_token_expire_in = now() - 5;
    let connector = connector_with(config);
    let error = connector
        .read_stock(&["1:2".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Configuration(_)),
        "{error:?}"
    );
}

/// The daemon's store, as the ledger keeps it: one opaque value.
#[derive(Default)]
struct SharedStore(Mutex<Option<Secret>>);

#[async_trait]
impl CredentialStore for SharedStore {
    async fn load(&self) -> Result<Option<Secret>, String> {
        Ok(self.0.lock().unwrap().clone())
    }

    async fn save(&self, value: &Secret) -> Result<(), String> {
        *self.0.lock().unwrap() = Some(value.clone());
        Ok(())
    }
}

#[tokio::test]
async fn the_daemons_store_keeps_the_pair_for_a_restart_or_a_replica() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let store = Arc::new(SharedStore::default());
    let mut config = fake.channel_config();
    config.access_token_expire_in = now() + 60;
    let first = TikTokConnector::with_credentials(config.clone(), store.clone()).unwrap();
    let listing = fake.create_listing("SHARED", 1);
    first
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap();
    assert_eq!(fake.token_refreshes(), 1);
    let saved = store.0.lock().unwrap().clone().expect("saved");
    assert!(
        !format!("{saved:?}").contains("TTP_"),
        "the stored value is never printed"
    );

    let second = TikTokConnector::with_credentials(config, store.clone()).unwrap();
    second
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap();
    assert_eq!(
        fake.token_refreshes(),
        1,
        "the second reads the stored pair"
    );
    assert_eq!(second.tokens().await, first.tokens().await);
}
