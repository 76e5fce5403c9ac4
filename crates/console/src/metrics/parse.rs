//! The OpenMetrics text format (and the classic Prometheus text, its subset) as the services'
//! `/metrics` writes it: `# TYPE`, `# HELP` and `# UNIT` lines, samples with labels, and an
//! exemplar after a sample's value (`# {trace_id="..."} 0.012`).

use std::collections::BTreeMap;

/// One metric as its `# TYPE` line names it, with the samples of one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Family {
    pub(crate) name: String,
    /// `counter`, `gauge`, `histogram`, `summary`, or `unknown` (no `# TYPE` line).
    pub(crate) kind: String,
    pub(crate) help: String,
    pub(crate) unit: String,
    pub(crate) samples: Vec<Sample>,
}

/// A line's value: the sample name's suffix after the family name (`_total`, `_bucket`, or
/// empty), its labels, value and exemplar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) suffix: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
    pub(crate) exemplar: Option<Exemplar>,
}

/// A trace that contributed to a sample, with the value it observed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: String,
    pub(crate) value: f64,
}

/// What a malformed line was.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) reason: String,
}

/// The suffixes a sample of a family of `kind` may add to the family's name.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created", ""],
        "histogram" => &["_bucket", "_sum", "_count", "_created"],
        "summary" => &["_sum", "_count", "_created", ""],
        _ => &[""],
    }
}

/// Parses a whole exposition. Samples before any `# TYPE` line of their name form `unknown`
/// families, as Prometheus treats them.
pub(crate) fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let fail = |reason: &str| ParseError {
            line: i + 1,
            reason: reason.to_owned(),
        };
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            let (Some(keyword), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let rest = parts.next().unwrap_or("").to_owned();
            if !matches!(keyword, "TYPE" | "HELP" | "UNIT") {
                continue;
            }
            let family = match families.iter_mut().rev().find(|f| f.name == name) {
                Some(f) => f,
                None => {
                    families.push(Family {
                        name: name.to_owned(),
                        kind: "unknown".to_owned(),
                        ..Family::default()
                    });
                    families.last_mut().ok_or_else(|| fail("no family"))?
                }
            };
            match keyword {
                "TYPE" => family.kind = rest,
                "HELP" => family.help = unescape(&rest),
                _ => family.unit = rest,
            }
            continue;
        }
        let (name, sample) = sample_line(line).map_err(|r| fail(&r))?;
        // The family is the newest declared one whose name and kind explain the sample's name.
        let owner = families.iter().rposition(|f| {
            name.strip_prefix(f.name.as_str())
                .is_some_and(|suffix| suffixes(&f.kind).contains(&suffix))
        });
        let index = match owner {
            Some(i) => i,
            None => {
                families.push(Family {
                    name: name.clone(),
                    kind: "unknown".to_owned(),
                    ..Family::default()
                });
                families.len() - 1
            }
        };
        let family = &mut families[index];
        let suffix = name[family.name.len()..].to_owned();
        family.samples.push(Sample { suffix, ..sample });
    }
    Ok(families)
}

/// `name{labels} value [timestamp] [# {labels} value [timestamp]]`.
fn sample_line(line: &str) -> Result<(String, Sample), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("a sample without a value")?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if rest.starts_with('{') {
        let (parsed, after) = label_set(rest)?;
        labels = parsed;
        rest = after;
    }
    let (values, exemplar) = match rest.split_once(" # ") {
        Some((v, e)) => (v, Some(e.trim())),
        None => (rest, None),
    };
    let value = number(
        values
            .split_whitespace()
            .next()
            .ok_or("a sample without a value")?,
    )?;
    let exemplar = match exemplar {
        Some(text) if text.starts_with('{') => {
            let (labels, after) = label_set(text)?;
            let value = number(
                after
                    .split_whitespace()
                    .next()
                    .ok_or("an exemplar without a value")?,
            )?;
            labels.get("trace_id").map(|id| Exemplar {
                trace_id: id.clone(),
                value,
            })
        }
        _ => None,
    };
    Ok((
        name.to_owned(),
        Sample {
            suffix: String::new(),
            labels,
            value,
            exemplar,
        },
    ))
}

/// `{a="1",b="x\"y"}` and what follows it.
fn label_set(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{').ok_or("expected {")?;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (key, after) = rest
            .split_once("=\"")
            .ok_or("a label without a quoted value")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("an unfinished escape".into()),
                },
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        labels.insert(key.trim().to_owned(), value);
        rest = &after[end + 1..];
    }
}

fn number(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|_| format!("not a number: {text:?}")),
    }
}

/// `# HELP` text escapes backslashes and newlines.
fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = r#"# HELP orders Orders placed.
# TYPE orders counter
orders_total{status="ok",user_segment="basic"} 3
orders_total{status="failed",user_segment="basic"} 1
# HELP http_request_duration_seconds Duration of HTTP requests.
# TYPE http_request_duration_seconds histogram
# UNIT http_request_duration_seconds seconds
http_request_duration_seconds_sum{endpoint="/a b",method="GET"} 0.5
http_request_duration_seconds_count{endpoint="/a b",method="GET"} 4
http_request_duration_seconds_bucket{le="0.1",endpoint="/a b",method="GET"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.05
http_request_duration_seconds_bucket{le="+Inf",endpoint="/a b",method="GET"} 4
# TYPE queue_depth gauge
queue_depth{name="q\"1\\"} 7
up 1
# EOF
"#;

    #[test]
    fn families_carry_their_samples_labels_and_exemplars() {
        let families = parse(TEXT).unwrap();
        let names: Vec<_> = families
            .iter()
            .map(|f| (f.name.as_str(), f.kind.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("orders", "counter"),
                ("http_request_duration_seconds", "histogram"),
                ("queue_depth", "gauge"),
                ("up", "unknown")
            ]
        );
        let orders = &families[0];
        assert_eq!(orders.help, "Orders placed.");
        assert_eq!(orders.samples.len(), 2);
        assert_eq!(orders.samples[0].suffix, "_total");
        assert_eq!(orders.samples[0].labels["status"], "ok");
        assert_eq!(orders.samples[0].value, 3.0);

        let http = &families[1];
        assert_eq!(http.unit, "seconds");
        let bucket = &http.samples[2];
        assert_eq!(
            (bucket.suffix.as_str(), bucket.labels["le"].as_str()),
            ("_bucket", "0.1")
        );
        assert_eq!(bucket.labels["endpoint"], "/a b");
        assert_eq!(
            bucket.exemplar,
            Some(Exemplar {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                value: 0.05
            })
        );
        assert_eq!(http.samples[3].value, 4.0);
        assert_eq!(families[2].samples[0].labels["name"], "q\"1\\");
    }

    #[test]
    fn a_malformed_line_is_an_error_with_its_number() {
        let err = parse("# TYPE a gauge\na{x=\"1} 3\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(parse("a{x=\"1\"} three\n").is_err());
    }
}
