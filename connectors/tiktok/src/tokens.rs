//! The seller's token pair and where a refreshed pair is kept, so that a restart uses the
//! newest pair (TikTok may retire the previous refresh token once it was used).

use async_trait::async_trait;
use omnistock_connector::{CredentialStore, Secret};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// An access token and its refresh token, with their expiry instants (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: Secret,
    pub access_token_expire_in: i64,
    pub refresh_token: Secret,
    pub refresh_token_expire_in: i64,
}

/// Keeps the newest token pair of one channel durably.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The pair saved last, if any.
    async fn load(&self) -> Result<Option<TokenPair>, String>;
    /// Saves `pair`; returns only once it is durable.
    async fn save(&self, pair: &TokenPair) -> Result<(), String>;
}

/// The store the daemon gives the channel (the ledger's `channel_credentials`), holding the
/// pair as JSON.
pub struct CredentialTokenStore(pub Arc<dyn CredentialStore>);

#[async_trait]
impl TokenStore for CredentialTokenStore {
    async fn load(&self) -> Result<Option<TokenPair>, String> {
        match self.0.load().await? {
            Some(value) => StoredPair::decode(value.expose()).map(Some),
            None => Ok(None),
        }
    }

    async fn save(&self, pair: &TokenPair) -> Result<(), String> {
        self.0.save(&Secret::new(StoredPair::encode(pair)?)).await
    }
}

/// A store that forgets on restart (tests, or a channel without `token_store_path`).
#[derive(Debug, Default)]
pub struct MemoryTokenStore(Mutex<Option<TokenPair>>);

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<TokenPair>, String> {
        Ok(self
            .0
            .lock()
            .map_err(|_| "token store lock poisoned".to_string())?
            .clone())
    }

    async fn save(&self, pair: &TokenPair) -> Result<(), String> {
        *self
            .0
            .lock()
            .map_err(|_| "token store lock poisoned".to_string())? = Some(pair.clone());
        Ok(())
    }
}

/// A JSON file written atomically (a temporary file, synced, then renamed over the old one):
/// a crash leaves the old pair or the new one, never half of each.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
}

/// The file's content; the only place token values are serialized in clear.
#[derive(Serialize, Deserialize)]
struct StoredPair {
    access_token: String,
    access_token_expire_in: i64,
    refresh_token: String,
    refresh_token_expire_in: i64,
}

impl FileTokenStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl StoredPair {
    fn encode(pair: &TokenPair) -> Result<String, String> {
        let stored = StoredPair {
            access_token: pair.access_token.expose().to_string(),
            access_token_expire_in: pair.access_token_expire_in,
            refresh_token: pair.refresh_token.expose().to_string(),
            refresh_token_expire_in: pair.refresh_token_expire_in,
        };
        serde_json::to_string(&stored).map_err(|error| error.to_string())
    }

    fn decode(text: &str) -> Result<TokenPair, String> {
        let stored: StoredPair =
            serde_json::from_str(text).map_err(|error| format!("stored tokens: {error}"))?;
        Ok(TokenPair {
            access_token: Secret::new(stored.access_token),
            access_token_expire_in: stored.access_token_expire_in,
            refresh_token: Secret::new(stored.refresh_token),
            refresh_token_expire_in: stored.refresh_token_expire_in,
        })
    }
}

#[async_trait]
impl TokenStore for FileTokenStore {
    async fn load(&self) -> Result<Option<TokenPair>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("reading {}: {error}", self.path.display())),
        };
        StoredPair::decode(&text)
            .map(Some)
            .map_err(|error| format!("{}: {error}", self.path.display()))
    }

    async fn save(&self, pair: &TokenPair) -> Result<(), String> {
        use std::io::Write as _;
        let text = StoredPair::encode(pair)?;
        let temporary = self.path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            // Readable by the service alone: the file holds the seller's tokens.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        };
        write().map_err(|error| format!("writing {}: {error}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_store_round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("tempdir: {error}"));
        let store = FileTokenStore::new(dir.path().join("tokens.json"));
        assert_eq!(store.load().await, Ok(None));
        let pair = TokenPair {
            access_token: Secret::new("TTP_a"),
            access_token_expire_in: 10,
            refresh_token: Secret::new("TTP_r"),
            refresh_token_expire_in: 20,
        };
        assert_eq!(store.save(&pair).await, Ok(()));
        let again = FileTokenStore::new(dir.path().join("tokens.json"));
        assert_eq!(again.load().await, Ok(Some(pair)));
    }
}
