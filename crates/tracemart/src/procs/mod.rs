//! The shop's processes under `up`: the table of children its supervisors keep, the control
//! listener that shows it and takes stop, start and restart, and the commands that call it.

pub(crate) mod cmd;
pub(crate) mod control;
pub(crate) mod table;

use std::time::Duration;

use table::{State, Table};

/// How often a running child's readiness is checked for the table.
const READINESS_EVERY: Duration = Duration::from_millis(500);

/// Marks each starting child ready once its readiness check answers. A ready child is not
/// asked again: every check writes an access log line, and the table should not fill the
/// logs it shows.
pub(crate) async fn watch_readiness(table: Table) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap_or_default();
    let mut tick = tokio::time::interval(READINESS_EVERY);
    loop {
        tick.tick().await;
        for row in table.rows() {
            let (Some(pid), State::Starting) = (row.pid, row.state) else {
                continue;
            };
            let ready = http
                .get(&row.ready_url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            table.set_ready(row.name, pid, ready);
        }
    }
}
