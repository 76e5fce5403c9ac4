//! Where a service keeps its data: a SQLite file (a path, or a `sqlite:` URL) or a PostgreSQL
//! database (`postgres://` or `postgresql://`). Anything else is refused before the service
//! starts, so a misspelt scheme is not taken for a file name.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A service's database, as its setting names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL; the database must exist.
    Postgres(String),
}

/// Why a database URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("a sqlite: URL needs a file path (sqlite:///abs/path.db or sqlite://relative.db)")]
    EmptySqlitePath,
    #[error(
        "SQLite URL options (`?...`) and in-memory databases are not supported: give a file path"
    )]
    SqliteOptions,
    #[error("not a PostgreSQL URL: {0}")]
    Postgres(String),
    #[error(
        "unsupported database scheme {0:?}: expected a file path, sqlite:PATH or postgres://... \
         (write ./{0}:... for a file whose name holds a colon)"
    )]
    Scheme(String),
}

impl DatabaseUrl {
    /// The engine's name as `db.system.name` spells it.
    pub fn system_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgresql",
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(raw: &str) -> Result<Self, DatabaseUrlError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            // Checked now, so that a malformed URL stops the start-up with its reason.
            sqlx::postgres::PgConnectOptions::from_str(raw)
                .map_err(|e| DatabaseUrlError::Postgres(e.to_string()))?;
            return Ok(Self::Postgres(raw.to_owned()));
        }
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            // sqlx's spelling: sqlite://relative.db and sqlite:///absolute.db.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(DatabaseUrlError::EmptySqlitePath);
            }
            if path.contains('?') || path.starts_with(":memory:") {
                return Err(DatabaseUrlError::SqliteOptions);
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some(scheme) = scheme_of(raw) {
            return Err(DatabaseUrlError::Scheme(scheme.to_owned()));
        }
        Ok(Self::Sqlite(PathBuf::from(raw)))
    }
}

/// The scheme of `raw` if it starts like a URL (`name:`), as opposed to a path.
fn scheme_of(raw: &str) -> Option<&str> {
    let (scheme, _) = raw.split_once(':')?;
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (starts_with_letter && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(scheme)
}

/// Shows the URL without its password: fit for logs and error messages.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_and_sqlite_urls_name_a_sqlite_file() {
        for (raw, path) in [
            ("data/user.db", "data/user.db"),
            ("/var/lib/tracemart/user.db", "/var/lib/tracemart/user.db"),
            ("./odd:name.db", "./odd:name.db"),
            ("sqlite://data/user.db", "data/user.db"),
            ("sqlite:///var/lib/user.db", "/var/lib/user.db"),
            ("sqlite:user.db", "user.db"),
        ] {
            assert_eq!(
                raw.parse::<DatabaseUrl>().unwrap(),
                DatabaseUrl::Sqlite(PathBuf::from(path)),
                "{raw}"
            );
        }
    }

    #[test]
    fn postgres_urls_name_a_postgresql_database() {
        for raw in [
            "postgres://postgres@127.0.0.1:5432/tracemart_user",
            "postgresql://app:secret@db.internal/tracemart_user?application_name=user",
        ] {
            assert_eq!(
                raw.parse::<DatabaseUrl>().unwrap(),
                DatabaseUrl::Postgres(raw.to_owned())
            );
        }
    }

    #[test]
    fn other_schemes_and_unusable_urls_are_refused_with_their_reason() {
        for (raw, expected) in [
            (
                "mysql://root@localhost/shop",
                "unsupported database scheme \"mysql\"",
            ),
            ("redis:6379", "unsupported database scheme \"redis\""),
            ("sqlite:", "needs a file path"),
            ("sqlite::memory:", "in-memory"),
            ("sqlite://user.db?mode=ro", "options"),
            ("postgres://host:notaport/db", "not a PostgreSQL URL"),
        ] {
            let err = raw.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(err.contains(expected), "{raw}: {err}");
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        let url: DatabaseUrl = "postgres://app:s3cret@db:5432/tracemart_user"
            .parse()
            .unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/tracemart_user");
        let url: DatabaseUrl = "postgres://postgres@127.0.0.1/x".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://postgres@127.0.0.1/x");
    }
}
