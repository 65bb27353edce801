//! Every query document the connector can send is valid against the real Admin schema.

use crate::harness::start_fake;
use apollo_compiler::ExecutableDocument;
use omnistock_connector::{Connector, ConnectorError};
use omnistock_shopify::fake::schema::{admin_2025_01, subset};
use omnistock_shopify::queries::{all_documents, set_quantities_mutation};
use omnistock_shopify::CompareForm;

#[test]
fn every_document_validates_against_the_admin_schema() {
    let schema = match admin_2025_01() {
        Ok(schema) => schema,
        Err(reason) => {
            println!("skipped: the Admin schema is not available ({reason})");
            return;
        }
    };
    let changed_in_2026 = set_quantities_mutation(CompareForm::ChangeFromQuantity);
    for (name, document) in all_documents() {
        if document == changed_in_2026 {
            continue;
        }
        if let Err(errors) = ExecutableDocument::parse_and_validate(
            &schema.schema,
            &document,
            format!("{name}.graphql"),
        ) {
            panic!("{name} does not validate against the 2025-01 schema:\n{errors}");
        }
    }
    // The 2026 form uses fields the 2025-01 schema does not have: the real schema refuses it,
    // and the fake's 2026 subset accepts it.
    assert!(
        ExecutableDocument::parse_and_validate(&schema.schema, changed_in_2026, "x.graphql")
            .is_err()
    );
    let newer = subset("2026 form".into(), true).unwrap();
    ExecutableDocument::parse_and_validate(&newer.schema, changed_in_2026, "x.graphql").unwrap();
}

/// The README's table of versions: each claimed version gets every document it is sent in
/// its own compare-and-set form, validated against that version's schema (the published
/// 2025-01 introspection; for 2026-01 and 2026-04, which have none here, the fake's schema,
/// which is 2025-01's subset plus what Shopify's changelog added: `changeFromQuantity` and
/// `@idempotent(key: String!)`).
#[test]
fn every_document_validates_against_each_supported_version() {
    use omnistock_shopify::version::SUPPORTED_VERSIONS;
    use omnistock_shopify::ApiVersion;
    for text in SUPPORTED_VERSIONS {
        let version = ApiVersion::parse(text).unwrap();
        let form = version.compare_form();
        let schema = match *text {
            "2025-01" => match admin_2025_01() {
                Ok(schema) => schema.schema.clone(),
                Err(reason) => {
                    println!("2025-01 skipped: the Admin schema is not available ({reason})");
                    continue;
                }
            },
            _ => {
                subset(
                    format!("{text}: no published schema here"),
                    form == CompareForm::ChangeFromQuantity,
                )
                .unwrap()
                .schema
            }
        };
        for (name, document) in omnistock_shopify::queries::documents_for(form) {
            if let Err(errors) = ExecutableDocument::parse_and_validate(
                &schema,
                &document,
                format!("{name}.graphql"),
            ) {
                panic!("{name} does not validate against {text}:\n{errors}");
            }
        }
        let set = set_quantities_mutation(form);
        assert_eq!(
            set.contains("@idempotent(key: $idempotencyKey)"),
            form == CompareForm::ChangeFromQuantity,
            "{text}: {set}"
        );
    }
}

#[tokio::test]
async fn the_fake_refuses_invalid_documents_as_shopify_does() {
    let fake = start_fake().await;
    let client = reqwest::Client::new();
    let url = format!("{}/admin/api/2025-01/graphql.json", fake.base_url());
    let send = |query: &str, variables: serde_json::Value| {
        client
            .post(&url)
            .header("X-Shopify-Access-Token", &fake.options().access_token)
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
    };
    let cases = [
        (
            "query { orders(first: 1) { nodes { id noSuchField } } }",
            serde_json::json!({}),
        ),
        (
            "query { orders(first: 1, noSuchArgument: 1) { nodes { id } } }",
            serde_json::json!({}),
        ),
        (
            "query Q($n: Int!) { orders(first: $n) { nodes { id } } }",
            serde_json::json!({ "n": "many" }),
        ),
        (
            "query { orders(first: 1) { nodes { ...Missing } } }",
            serde_json::json!({}),
        ),
        (
            "query { orders(first: $undeclared) { nodes { id } } }",
            serde_json::json!({}),
        ),
    ];
    let validating = admin_2025_01().is_ok();
    for (query, variables) in cases {
        let response = send(query, variables).await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["errors"].is_array(), "{query}: {body}");
        assert!(
            body.get("data").is_none() || body["data"].is_null(),
            "{query}: {body}"
        );
    }
    if !validating {
        println!("the fake validated against its own subset: the Admin schema is absent");
    }
    let unauthorized = client
        .post(&url)
        .json(&serde_json::json!({ "query": "{ shop { name } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    // The connector classifies a refusal of its query as a configuration problem.
    let mut config = fake.channel_config("2025-01");
    config.access_token = omnistock_connector::Secret::new("wrong");
    let connector = omnistock_shopify::ShopifyConnector::new(config).unwrap();
    assert!(matches!(
        connector.pull_orders(None).await,
        Err(ConnectorError::Configuration(_))
    ));
}

#[tokio::test]
async fn channel_options_deserialize_into_the_same_configuration() {
    let fake = start_fake().await;
    let parsed: omnistock_shopify::ShopifyChannelConfig =
        serde_json::from_value(serde_json::Value::Object(fake.channel_options("2025-01"))).unwrap();
    assert_eq!(parsed, fake.channel_config("2025-01"));
    assert_eq!(parsed.validate(), Ok(()));
}
