//! Base URLs of the services under load: plain HTTP, checked once.

use std::fmt;

/// A validated `http://host:port[/prefix]` base URL, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Accepts plain-HTTP URLs with a host; https is not supported (loopback and in-cluster use).
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim().trim_end_matches('/');
        let uri: http::Uri = trimmed
            .parse()
            .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "`{text}`: scheme {other} is not supported, use http://"
                ));
            }
            None => {
                return Err(format!(
                    "`{text}` needs a scheme, e.g. http://127.0.0.1:8080"
                ));
            }
        }
        if uri.host().is_none() {
            return Err(format!("`{text}` has no host"));
        }
        if uri.query().is_some() {
            return Err(format!("`{text}` must not carry a query string"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// This base joined with an absolute `path`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The URL as given, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_plain_http_with_a_host() {
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:8080/").map(|b| b.join("/orders")),
            Ok("http://127.0.0.1:8080/orders".to_owned())
        );
        for bad in ["https://x", "127.0.0.1:8080", "not a url", "http://h/?q=1"] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
