//! Reading a Prometheus text exposition in tests: every sample with its labels and value, and
//! the sum over the samples of one metric that carry given labels.

use std::collections::BTreeMap;

/// One sample line: `name{label="value",...} 1.5`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (a histogram's `_bucket`, `_sum` and `_count` lines keep their suffix).
    pub name: String,
    /// Labels and their (unescaped) values.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Every sample of an exposition; comments and blank lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let end = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(line.len());
        let name = line[..end].to_owned();
        let mut labels = BTreeMap::new();
        let mut rest = &line[end..];
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let mut close = inner.len();
            loop {
                while chars.next_if(|(_, c)| *c == ',' || c.is_whitespace()).is_some() {}
                match chars.peek() {
                    Some((i, '}')) => {
                        close = *i;
                        break;
                    }
                    None => break,
                    _ => {}
                }
                let key: String = chars.by_ref().map(|(_, c)| c).take_while(|c| *c != '=').collect();
                chars.next(); // the opening quote
                let mut value = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(other) => value.push(other),
                            None => {}
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key.trim().to_owned(), value);
            }
            rest = &inner[(close + 1).min(inner.len())..];
        }
        let value = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok());
        if let Some(value) = value {
            samples.push(Sample { name, labels, value });
        }
    }
    samples
}

/// The sum of the values of `name`'s samples that carry every label of `labels`; `None` when
/// no sample matches.
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_their_labels_values_and_escapes() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{kind=\"test\",route=\"/api/runs/{id}\"} 2\na_total{kind=\"merge\",msg=\"say \\\"hi\\\"\"} 3\nb 1.5\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].labels["route"], "/api/runs/{id}");
        assert_eq!(samples[1].labels["msg"], "say \"hi\"");
        assert_eq!(sum(&samples, "a_total", &[]), Some(5.0));
        assert_eq!(sum(&samples, "a_total", &[("kind", "test")]), Some(2.0));
        assert_eq!(sum(&samples, "a_total", &[("kind", "fix")]), None);
        assert_eq!(sum(&samples, "b", &[]), Some(1.5));
    }
}
