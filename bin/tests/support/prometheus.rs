//! A strict reader of the Prometheus text format (0.0.4) for tests: it parses every line of a
//! `/metrics` answer and panics on anything a scraper would refuse or misread — a sample line
//! that is not `name{labels} value`, a family without `# HELP` and `# TYPE` before its first
//! sample, a repeated `# TYPE`, a histogram whose buckets are not cumulative, not ascending,
//! lack `+Inf`, or whose `+Inf` bucket differs from `_count`.

use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, e.g. `tte_sync_event_lag_seconds_bucket`.
    pub name: String,
    /// The labels, in order of appearance.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A parsed, checked exposition.
#[derive(Debug)]
pub struct Exposition {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// The declared type of each family.
    pub types: HashMap<String, String>,
}

impl Exposition {
    /// The value of the sample `name` with exactly these labels (in any order), if present.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.value)
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// `k="v",k2="v2"` (no escapes are used by this exporter, so none are accepted).
fn parse_labels(text: &str, line: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label without =\"…\": {line}"));
        assert!(is_name(key), "bad label name `{key}`: {line}");
        let (value, after) = after
            .split_once('"')
            .unwrap_or_else(|| panic!("unterminated label value: {line}"));
        assert!(!value.contains('\\'), "unexpected escape: {line}");
        labels.push((key.to_owned(), value.to_owned()));
        rest = match after.strip_prefix(',') {
            Some(more) => more,
            None if after.is_empty() => after,
            None => panic!("junk after a label: {line}"),
        };
    }
    labels
}

/// The family a sample belongs to: histograms own their `_bucket`, `_sum` and `_count`.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        let histogram = name
            .strip_suffix(suffix)
            .filter(|base| types.get(*base).is_some_and(|t| t == "histogram"));
        if let Some(base) = histogram {
            return base;
        }
    }
    name
}

/// Parses and checks `text`; panics naming the first problem.
pub fn parse(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut samples = Vec::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            let rest = parts.next().unwrap_or_default();
            assert!(is_name(name), "bad name in `{line}`");
            match keyword {
                "HELP" => {
                    assert!(!rest.trim().is_empty(), "empty HELP: {line}");
                    assert!(
                        helps.insert(name.to_owned(), rest.to_owned()).is_none(),
                        "HELP repeated: {line}"
                    );
                }
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest),
                        "unknown type: {line}"
                    );
                    assert!(helps.contains_key(name), "TYPE before HELP: {line}");
                    assert!(
                        types.insert(name.to_owned(), rest.to_owned()).is_none(),
                        "TYPE repeated: {line}"
                    );
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        assert!(!line.trim().is_empty(), "blank line in the exposition");
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not `name{{labels}} value`: {line}"));
        let value = parse_value(value).unwrap_or_else(|| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name, parse_labels(labels, line))
            }
            None => (series, Vec::new()),
        };
        assert!(is_name(name), "bad metric name: {line}");
        let family = family_of(name, &types);
        assert!(
            types.contains_key(family) && helps.contains_key(family),
            "sample before its family's HELP and TYPE: {line}"
        );
        if types[family] == "counter" {
            assert!(
                family.ends_with("_total") && value >= 0.0,
                "counters are named *_total and never negative: {line}"
            );
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    let exposition = Exposition { samples, types };
    check_histograms(&exposition);
    exposition
}

fn check_histograms(exposition: &Exposition) {
    for (family, kind) in &exposition.types {
        if kind != "histogram" {
            continue;
        }
        // Buckets per label set other than `le`.
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let bucket_name = format!("{family}_bucket");
        for sample in exposition.samples.iter().filter(|s| s.name == bucket_name) {
            let le = sample
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .unwrap_or_else(|| panic!("{family} bucket without `le`"));
            let bound = parse_value(&le.1).unwrap_or_else(|| panic!("bad le {}", le.1));
            let others: Vec<_> = sample.labels.iter().filter(|(k, _)| k != "le").collect();
            series
                .entry(format!("{others:?}"))
                .or_default()
                .push((bound, sample.value));
        }
        assert!(!series.is_empty(), "histogram {family} has no buckets");
        for (labels, buckets) in series {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0),
                "{family}{labels}: `le` not ascending: {buckets:?}"
            );
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{family}{labels}: buckets not cumulative: {buckets:?}"
            );
            let (last_bound, infinite) = *buckets.last().unwrap();
            assert!(last_bound.is_infinite(), "{family}{labels}: no +Inf bucket");
            let count = exposition
                .samples
                .iter()
                .find(|s| s.name == format!("{family}_count"))
                .unwrap_or_else(|| panic!("{family} has no _count"))
                .value;
            assert!(
                exposition
                    .samples
                    .iter()
                    .any(|s| s.name == format!("{family}_sum")),
                "{family} has no _sum"
            );
            assert_eq!(infinite, count, "{family}: +Inf bucket differs from _count");
        }
    }
}
