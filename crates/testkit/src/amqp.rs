//! RabbitMQ for tests: a virtual host of its own per test on the broker `TEST_AMQP_URL` names
//! (`scripts/test` starts the broker and sets it), deleted with everything in it when the
//! test ends, so that tests run in parallel without seeing each other's queues, and a fault
//! injected into one (its connections closed by the broker) touches no other.
//!
//! A test that needs the broker fails when the variable is unset, as the PostgreSQL tests do.
//! The virtual hosts are managed with `rabbitmqctl`, which must run on the broker's machine.

use std::process::Command;

/// The variable holding the test broker's URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
pub const SERVER_VAR: &str = "TEST_AMQP_URL";

/// The test broker's URL.
pub fn server_url() -> String {
    crate::required_url(
        SERVER_VAR,
        "RabbitMQ",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// A virtual host of its own on the test broker, deleted when this is dropped.
pub struct TestBroker {
    vhost: String,
    url: String,
}

impl TestBroker {
    /// Creates a virtual host named `tracemart_test_{label}_...`, which the URL's user may
    /// use.
    pub async fn create(label: &str) -> Self {
        let server = server_url();
        let (base, user) = split(&server);
        let vhost = crate::pg::unique_name(&format!("tracemart_test_{label}"));
        rabbitmqctl(&["add_vhost", &vhost]).await;
        rabbitmqctl(&["set_permissions", "-p", &vhost, &user, ".*", ".*", ".*"]).await;
        let url = format!("{base}/{vhost}");
        Self { vhost, url }
    }

    /// The URL a service is given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes every client connection to this virtual host from the broker's side, as a
    /// broker restart or a network failure would.
    pub async fn close_all_connections(&self) {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.vhost,
            "test: connection closed by the broker",
        ])
        .await;
    }

    /// The broker's ids of the client connections to this virtual host.
    pub async fn connections(&self) -> Vec<String> {
        rabbitmqctl(&["list_connections", "vhost", "pid"])
            .await
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(vhost, _)| *vhost == self.vhost)
            .map(|(_, pid)| pid.trim().to_owned())
            .collect()
    }

    /// Waits until `queue` holds `n` messages (ready and unacknowledged): the broker's counts
    /// trail what happened by its statistics interval (5 s by default).
    pub async fn until_messages(&self, queue: &str, n: u64) {
        crate::eventually(
            std::time::Duration::from_secs(30),
            &format!("{n} messages in {queue}"),
            || async { (self.messages(queue).await == n).then_some(()) },
        )
        .await;
    }

    /// Messages in `queue` (ready and unacknowledged) as the broker last counted them; 0 for
    /// a queue that does not exist.
    pub async fn messages(&self, queue: &str) -> u64 {
        let out = rabbitmqctl(&["list_queues", "-p", &self.vhost, "name", "messages"]).await;
        out.lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(name, _)| *name == queue)
            .and_then(|(_, n)| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// `amqp://user:password@host:port/vhost` -> (`amqp://user:password@host:port`, `user`).
fn split(url: &str) -> (String, String) {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{SERVER_VAR} is not an amqp:// URL"));
    let authority = rest.split('/').next().unwrap_or(rest);
    let user = authority
        .rsplit_once('@')
        .map_or("guest", |(credentials, _)| {
            credentials.split(':').next().unwrap_or("guest")
        });
    (format!("{scheme}://{authority}"), user.to_owned())
}

/// Runs `rabbitmqctl -q args` (without blocking the test's runtime: it takes a second or
/// two) and returns its output.
async fn rabbitmqctl(args: &[&str]) -> String {
    let out = tokio::process::Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run rabbitmqctl (is RabbitMQ installed?): {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // Closes what is still connected to it, too.
        let deleted = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.vhost])
            .output();
        match deleted {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cannot delete test vhost {}: {}",
                self.vhost,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot delete test vhost {}: {e}", self.vhost),
        }
    }
}
