//! Checks that need more than one key or the registry: run once after the layers are merged.

use super::{format_duration, redact, HousekeepingSettings, Settings, SettingsError};
use crate::registry;
use std::collections::HashMap;

pub(super) fn check(settings: &Settings) -> Result<(), SettingsError> {
    check_bus_url(settings)?;
    check_database(settings)?;
    check_housekeeping(settings)?;
    check_channels(settings)
}

fn check_housekeeping(settings: &Settings) -> Result<(), SettingsError> {
    let minimum = HousekeepingSettings::MIN_WEBHOOK_DELIVERY_RETENTION;
    if settings.housekeeping.webhook_delivery_retention < minimum {
        return Err(SettingsError::Invalid {
            key: "housekeeping.webhook_delivery_retention".to_string(),
            message: format!(
                "must be at least {}: platforms redeliver webhooks for up to 48 hours, and a \
                 redelivery whose id was forgotten is told apart only by its order snapshot",
                format_duration(minimum)
            ),
        });
    }
    Ok(())
}

fn check_database(settings: &Settings) -> Result<(), SettingsError> {
    if settings.database.booking_writers == Some(0) {
        return Err(SettingsError::Invalid {
            key: "database.booking_writers".to_string(),
            message: "must be at least 1".to_string(),
        });
    }
    Ok(())
}

fn check_bus_url(settings: &Settings) -> Result<(), SettingsError> {
    let url = settings.bus.url.expose();
    if url == "memory://" || url.starts_with("amqp://") || url.starts_with("amqps://") {
        return Ok(());
    }
    Err(SettingsError::Invalid {
        key: "bus.url".to_string(),
        message: format!(
            "expected \"memory://\" or an \"amqp://…\" or \"amqps://…\" URL, got \"{}\"",
            redact::redact_url(url)
        ),
    })
}

fn check_channels(settings: &Settings) -> Result<(), SettingsError> {
    let mut first_index_of_id = HashMap::new();
    for (index, channel) in settings.channels.iter().enumerate() {
        let invalid = |field: &str, message: String| SettingsError::Invalid {
            key: if field.is_empty() {
                format!("channels[{index}]")
            } else {
                format!("channels[{index}].{field}")
            },
            message,
        };
        if let Some(first) = first_index_of_id.get(channel.id.as_str()) {
            return Err(invalid(
                "id",
                format!("\"{}\" is already the id of channels[{first}]", channel.id),
            ));
        }
        first_index_of_id.insert(channel.id.as_str(), index);
        if !registry::known_kinds().contains(&channel.kind.as_str()) {
            return Err(invalid(
                "kind",
                format!(
                    "unknown kind \"{}\", expected one of: {}",
                    channel.kind,
                    registry::known_kinds().join(", ")
                ),
            ));
        }
        if channel.location.trim().is_empty() {
            return Err(invalid("location", "must not be empty".to_string()));
        }
        channel
            .stock_policy
            .check()
            .map_err(|(field, message)| invalid(&format!("stock_policy.{field}"), message))?;
        registry::validate_channel_options(&channel.kind, &channel.options.0)
            .map_err(|message| invalid("", format!("{} channel: {message}", channel.kind)))?;
    }
    Ok(())
}
