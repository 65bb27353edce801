//! What a stored job does: its kind (a resync, a listing discovery, a count from a channel),
//! its mode within the kind, and the parameters a catalog job keeps (`resync_jobs.params`).

use serde::{Deserialize, Serialize};

use super::jobs::ResyncMode;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Push (or reconcile) listings' quantities; modes `push` and `reconcile`.
    Resync,
    /// Listing discovery: the channel's catalog classified against the ledger (and, in mode
    /// `apply`, the new listings bound); modes `dry_run` and `apply`.
    Discover,
    /// A first stock count from what the channel shows; modes `dry_run` and `apply`.
    ChannelCount,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resync => "resync",
            Self::Discover => "discover",
            Self::ChannelCount => "channel_count",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Resync, Self::Discover, Self::ChannelCount]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// Whether `mode` is one of this kind's.
    pub fn allows(self, mode: JobMode) -> bool {
        match self {
            Self::Resync => mode.resync().is_some(),
            Self::Discover | Self::ChannelCount => mode.resync().is_none(),
        }
    }
}

/// How a job of its kind runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobMode {
    /// A resync sending every listing's quantity.
    Push,
    /// A resync reading the channel and pushing only what differs.
    Reconcile,
    /// A catalog job that reports and changes nothing.
    DryRun,
    /// A catalog job that applies what it found.
    Apply,
}

impl JobMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Reconcile => "reconcile",
            Self::DryRun => "dry_run",
            Self::Apply => "apply",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Push, Self::Reconcile, Self::DryRun, Self::Apply]
            .into_iter()
            .find(|mode| mode.as_str() == text)
    }

    /// The resync mode, for a resync job's.
    pub fn resync(self) -> Option<ResyncMode> {
        match self {
            Self::Push => Some(ResyncMode::Push),
            Self::Reconcile => Some(ResyncMode::Reconcile),
            Self::DryRun | Self::Apply => None,
        }
    }

    /// A catalog job's mode.
    pub fn catalog(apply: bool) -> Self {
        if apply {
            Self::Apply
        } else {
            Self::DryRun
        }
    }
}

impl From<ResyncMode> for JobMode {
    fn from(mode: ResyncMode) -> Self {
        match mode {
            ResyncMode::Push => Self::Push,
            ResyncMode::Reconcile => Self::Reconcile,
        }
    }
}

/// What a catalog job keeps besides its channel and mode (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// A count's location; `None`: the channel's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// An applying discovery's earlier dry run, whose classification it is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_job: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_takes_only_its_own_modes() {
        assert!(JobKind::Resync.allows(JobMode::Reconcile));
        assert!(!JobKind::Resync.allows(JobMode::Apply));
        assert!(JobKind::Discover.allows(JobMode::DryRun));
        assert!(!JobKind::ChannelCount.allows(JobMode::Push));
        for mode in [
            JobMode::Push,
            JobMode::Reconcile,
            JobMode::DryRun,
            JobMode::Apply,
        ] {
            assert_eq!(JobMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(JobKind::parse("channel_count"), Some(JobKind::ChannelCount));
    }
}
