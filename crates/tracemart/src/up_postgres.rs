//! `up --postgres URL`: each service gets a database of its own on that server
//! (`tracemart_order`, `tracemart_user`, `tracemart_product`, `tracemart_inventory`,
//! `tracemart_payment` by default), created if missing.

use tracemart_platform::pg::ensure_database;
use tracemart_platform::{DatabaseUrl, ServiceName, ShopConfig};

/// Points each service at its database on `server` (named
/// `{prefix}_{service}`), creating it when missing. The exit code on failure: 64 for a URL
/// that is not PostgreSQL's, 1 for a server that cannot be reached or refuses.
pub(crate) async fn point_services_at(
    server: &str,
    prefix: &str,
    config: &mut ShopConfig,
) -> Result<(), u8> {
    let server = match server.parse::<DatabaseUrl>() {
        Ok(DatabaseUrl::Postgres(url)) => url,
        Ok(DatabaseUrl::Sqlite(_)) => {
            eprintln!("error: invalid value for --postgres: expected a postgres:// URL");
            return Err(crate::EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("error: invalid value for --postgres: {e}");
            return Err(crate::EXIT_CONFIG);
        }
    };
    // Kept to what needs no quoting and fits PostgreSQL's 63-byte names with a service's.
    if prefix.is_empty()
        || prefix.len() > 40
        || !prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        eprintln!(
            "error: invalid value {prefix:?} for --postgres-prefix: 1 to 40 lower-case letters, digits or _"
        );
        return Err(crate::EXIT_CONFIG);
    }
    for s in ServiceName::ALL {
        match ensure_database(&server, &format!("{prefix}_{s}")).await {
            Ok(url) => config.endpoint_mut(s).database_url = url,
            Err(e) => {
                eprintln!("error: {s}: {e}");
                return Err(1);
            }
        }
    }
    Ok(())
}
