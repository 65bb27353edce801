//! TikTok Shop's errors mapped to the runtime's classes. TikTok answers business errors with
//! HTTP 200 and a non-zero `code` in the body, so the body's code is read whatever the status.

use omnistock_connector::ConnectorError;
use std::time::Duration;

/// The common code of an invalid `sign` (answered with HTTP 401).
pub const INVALID_SIGN: i64 = 106_001;
/// The common code of an invalid `x-tts-access-token`.
pub const INVALID_ACCESS_TOKEN: i64 = 105_001;
/// The common code of an expired `x-tts-access-token`: refresh, then retry.
pub const EXPIRED_ACCESS_TOKEN: i64 = 105_002;
/// "Internal error. Please try again." (every reference page lists it).
pub const INTERNAL_ERROR: i64 = 36_009_003;
/// Update Inventory: "The SKU inventory quantity for the warehouse must be within allowed limits."
pub const QUANTITY_OUT_OF_RANGE: i64 = 12_052_055;
/// Update Inventory: "The SKU id not exist."
pub const SKU_NOT_FOUND: i64 = 12_052_556;
/// Update Inventory: "The product does not exist".
pub const PRODUCT_NOT_FOUND: i64 = 12_052_032;
/// Update Inventory: "Multiple warehouses detected. Include all warehouse IDs …".
pub const MISSING_WAREHOUSES: i64 = 12_019_028;
/// Update Inventory: "Couldn't update inventory … Missing warehouse IDs …".
pub const INVENTORY_NOT_UPDATED: i64 = 12_052_037;
/// Update Inventory: "The warehouse does not exist".
pub const WAREHOUSE_NOT_FOUND: i64 = 12_052_097;
/// Update Inventory: "The check failed." (details per SKU and warehouse follow).
pub const CHECK_FAILED: i64 = 12_052_990;

/// When 429 comes without `Retry-After`: the limit is per second.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// A failed call: the class and, for business errors, TikTok's code.
pub fn classify(
    status: u16,
    code: Option<i64>,
    message: &str,
    retry_after: Option<Duration>,
) -> ConnectorError {
    let described = match code {
        Some(code) => format!("TikTok code {code}: {message}"),
        None => format!("HTTP {status}: {message}"),
    };
    if status == 429 {
        return ConnectorError::RateLimited {
            message: described,
            retry_after: Some(retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT)),
        };
    }
    if status >= 500 || status == 408 {
        return ConnectorError::Transient {
            message: described,
            retry_after,
        };
    }
    match code {
        Some(INTERNAL_ERROR) => ConnectorError::transient(described),
        // The connector refreshes before the next call.
        Some(EXPIRED_ACCESS_TOKEN) => ConnectorError::transient(described),
        // 105xxx: credentials; 106xxx: app key, sign, timestamp.
        Some(code) if (105_000..107_000).contains(&code) => {
            ConnectorError::Configuration(described)
        }
        _ if status == 401 || status == 403 => ConnectorError::Configuration(described),
        _ => ConnectorError::Permanent(described),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_map_to_classes() {
        assert!(matches!(
            classify(429, None, "", None),
            ConnectorError::RateLimited { retry_after: Some(wait), .. } if wait == DEFAULT_RATE_LIMIT_WAIT
        ));
        assert!(classify(503, None, "", None).is_retryable());
        assert!(classify(200, Some(INTERNAL_ERROR), "", None).is_retryable());
        assert!(classify(200, Some(EXPIRED_ACCESS_TOKEN), "", None).is_retryable());
        assert!(matches!(
            classify(401, Some(INVALID_SIGN), "", None),
            ConnectorError::Configuration(_)
        ));
        assert!(matches!(
            classify(200, Some(SKU_NOT_FOUND), "", None),
            ConnectorError::Permanent(_)
        ));
    }
}
