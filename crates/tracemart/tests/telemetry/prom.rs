//! A parser for the Prometheus text exposition format and sample lookups.

use std::collections::HashMap;

/// One sample line of the Prometheus text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub metric: String,
    pub labels: HashMap<String, String>,
    pub value: f64,
}

/// A parsed Prometheus text exposition (format 0.0.4).
///
/// Written here because `prometheus-parse` 0.2 cuts label sets at the first `}`, so it
/// silently drops every sample whose label value is a route template like `/orders/{order_id}`.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// `# TYPE` of each metric family.
    pub types: HashMap<String, String>,
}

impl Scrape {
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut out = Scrape::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                let mut words = rest.split_whitespace();
                if words.next() == Some("TYPE")
                    && let (Some(name), Some(kind)) = (words.next(), words.next())
                {
                    out.types.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            let sample = parse_sample(line).map_err(|e| format!("line {}: {e}: {line}", n + 1))?;
            out.samples.push(sample);
        }
        Ok(out)
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let metric = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = HashMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let mut end = None;
        loop {
            while chars
                .peek()
                .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
            {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} has no quoted value"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated escape".into()),
                    },
                    Some((_, '"')) => break,
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            }
            labels.insert(key.trim().to_owned(), value);
        }
        let end = end.ok_or("unterminated label set")?;
        rest = &after[end + 1..];
    }
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse::<f64>().map_err(|e| format!("value {v}: {e}"))?,
    };
    Ok(Sample {
        metric,
        labels,
        value,
    })
}

/// The sum of the samples of `name` whose labels include all of `labels`; 0 if none.
pub fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Every value of `label` on samples of `name`, sorted, without duplicates.
pub fn label_values(scrape: &Scrape, name: &str, label: &str) -> Vec<String> {
    let mut v: Vec<String> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter_map(|s| s.labels.get(label).cloned())
        .collect();
    v.sort();
    v.dedup();
    v
}
