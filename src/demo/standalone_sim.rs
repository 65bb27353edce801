//! `omnistock sim`: one simulated marketplace on its own, for trying omnistock by hand.

use omnistock_connector::{RateLimit, Secret};
use omnistock_sim::{SimError, SimOptions, DEFAULT_MAX_BATCH};
use std::net::SocketAddr;

/// The command line of `omnistock sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Bearer token the sim's /api requires (the channel's `api_token`).
    #[arg(
        long,
        env = "OMNISTOCK_SIM_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: String,
    /// Key the sim signs its webhooks with (the channel's `webhook_secret`).
    #[arg(
        long,
        env = "OMNISTOCK_SIM_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub webhook_secret: String,
    /// Where order webhooks go, e.g. http://127.0.0.1:8080/webhooks/sim-shop; none without it.
    #[arg(long, value_name = "URL")]
    pub webhook_target: Option<String>,
    /// Limit on stock-update requests, "N/s" or "N/min"; excess requests get 429.
    #[arg(long, value_name = "RATE")]
    pub rate_limit: Option<RateLimit>,
    /// The most stock updates one request may carry.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BATCH)]
    pub max_batch: usize,
}

impl SimArgs {
    /// The sim's options; the secrets stay [`Secret`]s from here on.
    pub fn options(&self) -> SimOptions {
        SimOptions {
            listen: Some(self.listen),
            api_token: Secret::new(self.api_token.clone()),
            webhook_secret: Secret::new(self.webhook_secret.clone()),
            max_batch: self.max_batch,
            rate_limit: self.rate_limit,
            webhook_target: self.webhook_target.clone(),
            ..SimOptions::default()
        }
    }
}

/// Serves one sim until Ctrl-C; its base URL is printed once it listens.
pub async fn run_sim(args: &SimArgs) -> Result<(), SimError> {
    omnistock_sim::run_standalone(args.options()).await
}
