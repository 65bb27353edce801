//! Shopify global ids (`gid://shopify/<Type>/<number>`).

/// The numeric part of a gid of `type_name`, if `text` is one.
pub fn numeric_id<'a>(text: &'a str, type_name: &str) -> Option<&'a str> {
    let rest = text.strip_prefix("gid://shopify/")?;
    let (kind, id) = rest.split_once('/')?;
    let id = id.split('?').next()?;
    (kind == type_name && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// The gid of a REST id.
pub fn gid(type_name: &str, id: u64) -> String {
    format!("gid://shopify/{type_name}/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_its_type() {
        assert_eq!(
            numeric_id("gid://shopify/Location/12", "Location"),
            Some("12")
        );
        assert_eq!(numeric_id("gid://shopify/Location/12", "Order"), None);
        assert_eq!(numeric_id("gid://shopify/Location/", "Location"), None);
        assert_eq!(numeric_id("gid://shopify/Location/1x", "Location"), None);
        assert_eq!(numeric_id("12", "Location"), None);
        assert_eq!(gid("Order", 7), "gid://shopify/Order/7");
    }
}
