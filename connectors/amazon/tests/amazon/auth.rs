//! Login with Amazon: the token is exchanged once and cached, refreshed once when Amazon says
//! it expired, and bad credentials are a configuration error that shows no secret.

use crate::harness::{assert_no_violations, connector, start_fake};
use omnistock_amazon::fake::FakeOptions;
use omnistock_connector::{Connector, ConnectorError};

#[tokio::test]
async fn the_token_is_cached_and_refreshed_once_when_it_expired() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    fake.create_listing("AUTH-1", 4);
    let connector = connector(fake.channel_config());
    let ids = vec!["AUTH-1".to_string()];
    assert_eq!(connector.read_stock(&ids).await.unwrap()[0].quantity, 4);
    assert_eq!(connector.read_stock(&ids).await.unwrap()[0].quantity, 4);
    assert_eq!(fake.token_exchanges(), 1, "the token is cached");

    fake.expire_tokens();
    assert_eq!(connector.read_stock(&ids).await.unwrap()[0].quantity, 4);
    assert_eq!(fake.token_exchanges(), 2, "one refresh after the expiry");
    assert_eq!(
        fake.requests("getListingsItem"),
        4,
        "the refused call was made again once"
    );
    assert_no_violations(&fake);
}

#[tokio::test]
async fn bad_credentials_are_a_configuration_error_without_the_secret() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    let mut config = fake.channel_config();
    config.refresh_token = omnistock_connector::Secret::new("Atzr|stolen-or-revoked");
    let connector = connector(config);
    let error = connector
        .read_stock(&["ANY".to_string()])
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ConnectorError::Configuration(_)), "{text}");
    assert!(
        text.contains("invalid_grant") && text.contains("refresh_token"),
        "{text}"
    );
    assert!(!text.contains("stolen-or-revoked"), "{text}");
}
