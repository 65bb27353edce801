//! The Shopify connector.
