//! RabbitMQ names of one run.

use crate::bus::{AmqpBus, BusConfig};

/// A bus configuration whose RabbitMQ names carry a prefix of their own; the queues of
/// `channels` and the exchanges are deleted by [`ScratchBusNames::remove`] or when dropped.
/// On the in-process bus there is nothing to delete.
#[derive(Debug)]
pub struct ScratchBusNames {
    pub config: BusConfig,
    channels: Vec<String>,
    removed: bool,
}

impl ScratchBusNames {
    /// `base` with `prefix_<uuid>.` added to its name prefix when it is RabbitMQ.
    pub fn new(base: BusConfig, prefix: &str, channels: &[String]) -> Self {
        let mut config = base;
        let on_rabbitmq = is_rabbitmq(config.url.expose());
        if on_rabbitmq {
            config.name_prefix = format!(
                "{}{prefix}_{}.",
                config.name_prefix,
                uuid::Uuid::new_v4().simple()
            );
        }
        Self {
            config,
            channels: channels.to_vec(),
            removed: !on_rabbitmq,
        }
    }

    /// Deletes the queues and exchanges now; later calls, and the drop, do nothing.
    pub async fn remove(&mut self) {
        if !std::mem::replace(&mut self.removed, true) {
            delete(self.config.clone(), self.channels.clone()).await;
        }
    }
}

impl Drop for ScratchBusNames {
    fn drop(&mut self) {
        if !std::mem::replace(&mut self.removed, true) {
            super::block_on_own_thread(delete(self.config.clone(), self.channels.clone()));
        }
    }
}

fn is_rabbitmq(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://")
}

async fn delete(config: BusConfig, channels: Vec<String>) {
    let bus = match AmqpBus::connect(config).await {
        Ok(bus) => bus,
        Err(error) => {
            tracing::warn!(error = %error, "cannot delete a run's RabbitMQ names");
            return;
        }
    };
    for channel in &channels {
        if let Err(error) = bus.delete_channel_queue(channel).await {
            tracing::warn!(channel = %channel, error = %error, "cannot delete a run's queue");
        }
    }
    if let Err(error) = bus.delete_exchanges().await {
        tracing::warn!(error = %error, "cannot delete a run's exchanges");
    }
}
