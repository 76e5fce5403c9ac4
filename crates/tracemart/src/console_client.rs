//! Reading the telemetry console's HTTP API from the terminal: where it is (`--console`, or the
//! shop's configured UI port) and a GET that turns every failure into one readable sentence.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::cli::DataFlags;
use crate::settings;

/// The console requests of a command are small; a console that takes longer is not answering.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the console is.
#[derive(Debug, Args)]
pub struct ConsoleFlags {
    /// The console's base URL [default: http://HOST:UI_PORT of the shop's configuration;
    /// env: TRACEMART_CONSOLE_URL].
    #[arg(long, value_name = "URL", env = "TRACEMART_CONSOLE_URL", global = true)]
    pub console: Option<String>,
    /// The operator's token, for a console reached beyond loopback (`tracemart token admin`
    /// makes one; `up` prints one in its `access` link) [env: TRACEMART_CONSOLE_TOKEN].
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRACEMART_CONSOLE_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
    #[command(flatten)]
    pub data: DataFlags,
}

/// A client of one console.
pub(crate) struct Console {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Console {
    /// The console `flags` name, or the configured one.
    pub(crate) fn from_flags(flags: &ConsoleFlags) -> Result<Self, String> {
        let base = match &flags.console {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let config = settings::resolve(&flags.data.shop()).map_err(|e| e.to_string())?;
                format!("http://{}:{}", config.host, config.console.ui_port)
            }
        };
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let token = flags.token.clone().filter(|t| !t.trim().is_empty());
        Ok(Self { base, token, http })
    }

    /// The console's base URL (for links to its pages).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` with `query`, as JSON; an error answer's own message is passed on.
    pub(crate) async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url).query(query);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.map_err(|e| {
            format!(
                "cannot reach the console at {} ({e}); is the shop up? (--console URL)",
                self.base
            )
        })?;
        let status = answer.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(match self.token {
                None => format!(
                    "the console at {} wants the operator's token beyond loopback: pass --token \
                     (env TRACEMART_CONSOLE_TOKEN); `tracemart token admin` makes one",
                    self.base
                ),
                Some(_) => format!(
                    "the console at {} refused the token (401): expired, or signed by another \
                     shop's keys",
                    self.base
                ),
            });
        }
        let body: Value = answer
            .json()
            .await
            .map_err(|e| format!("{url} answered {status} with a body that is not JSON: {e}"))?;
        if !status.is_success() {
            let why = body["errors"][0]["msg"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string());
            return Err(format!("the console refused: {why} ({status})"));
        }
        Ok(body)
    }
}

/// A request's parameters: `always`, then each of `given` that has a value.
pub(crate) fn parameters<'a>(
    always: &[(&'a str, String)],
    given: &[(&'a str, &Option<String>)],
) -> Vec<(&'a str, String)> {
    let mut query = always.to_vec();
    query.extend(
        given
            .iter()
            .filter_map(|(key, value)| value.as_ref().map(|v| (*key, v.clone()))),
    );
    query
}

/// Milliseconds from microseconds, for tables.
pub(crate) fn ms(us: i64) -> String {
    let ms = us as f64 / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// A time of day (UTC, to the millisecond) from Unix microseconds.
pub(crate) fn clock(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| us.to_string())
}
