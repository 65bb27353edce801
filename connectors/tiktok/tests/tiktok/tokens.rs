//! Token refresh: before expiry, after an "expired" answer, kept across a restart.

use crate::harness::{connector_with, start_fake};
use omnistock_connector::{Connector, ConnectorError};
use omnistock_tiktok::fake::now;
use omnistock_tiktok::{FileTokenStore, TokenStore};

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
