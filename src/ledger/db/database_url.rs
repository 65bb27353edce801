//! Which backend a database url names, and the url as it may be shown to people.

use crate::ledger::LedgerError;

/// The database behind a ledger, picked by the url's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of `url`: `sqlite:` or `postgres:`/`postgresql:`.
    pub fn from_url(url: &str) -> Result<Self, LedgerError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(LedgerError::UnsupportedUrl {
                scheme: scheme.to_string(),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// `url` with the password of its user info (and a `password=` query parameter) replaced by
/// `[redacted]`, for error messages and logs.
pub fn redact_database_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = match user_info.split_once(':') {
                        Some((user, _password)) => format!("{user}:[redacted]"),
                        None => user_info.to_string(),
                    };
                    format!("{scheme}://{user}@{host}{path}")
                }
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}=[redacted]")
                }
                _ => pair.to_string(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&pairs.join("&"));
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_removed_from_user_info_and_query() {
        assert_eq!(
            redact_database_url("postgres://app:s3cr:et@db.internal:5432/stock?sslmode=require"),
            "postgres://app:[redacted]@db.internal:5432/stock?sslmode=require"
        );
        assert_eq!(
            redact_database_url("postgresql://db/stock?user=app&password=hunter2"),
            "postgresql://db/stock?user=app&password=[redacted]"
        );
        assert_eq!(
            redact_database_url("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
        assert_eq!(
            redact_database_url("sqlite:///var/lib/omnistock/ledger.db"),
            "sqlite:///var/lib/omnistock/ledger.db"
        );
    }

    #[test]
    fn scheme_picks_the_backend() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/d").ok(),
            Some(Backend::Postgres)
        );
        assert!(matches!(
            Backend::from_url("mysql://h/d"),
            Err(LedgerError::UnsupportedUrl { scheme }) if scheme == "mysql"
        ));
    }
}
