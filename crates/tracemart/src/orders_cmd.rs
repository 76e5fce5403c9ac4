//! `tracemart orders rebuild`: the `orders` read model folded again from the event streams.

use tracemart_platform::{DatabaseUrl, ServiceName};

use crate::cli::{OrdersArgs, OrdersCommand};
use crate::settings;

pub(crate) async fn run(args: OrdersArgs) -> u8 {
    let OrdersCommand::Rebuild { data } = args.command;
    let config = match settings::resolve(&data.shop()) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    let url = match config.database_url(ServiceName::Order) {
        Ok(url) => url,
        Err(e) => return settings::config_failure(&e),
    };
    // A SQLite file that is not there is not created for the command; a PostgreSQL database
    // is opened (and must exist).
    if let DatabaseUrl::Sqlite(path) = &url
        && !path.exists()
    {
        eprintln!(
            "error: no order database at {} (has the shop run with this data directory?)",
            path.display()
        );
        return 1;
    }
    match tracemart_order::rebuild_orders(&config).await {
        Ok(r) => {
            println!(
                "Rebuilt {} orders from their event streams; {} rows corrected.",
                r.orders, r.corrected
            );
            0
        }
        Err(e) => {
            eprintln!("error: rebuilding orders in {url}: {e}");
            1
        }
    }
}
