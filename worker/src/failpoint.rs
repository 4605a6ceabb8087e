//! Fault injection for chaos tests: `ALGOAGENT_FAILPOINT=<name>:<probability>` makes the
//! process abort at the named point with that probability, exactly like a `kill -9` landing
//! in the most dangerous window (a side effect done, its commit not yet). Unset, it costs one
//! environment lookup per point and does nothing.

/// Aborts the process at failpoint `name` if it is armed and the dice say so.
pub fn hit(name: &str) {
    let Ok(spec) = std::env::var("ALGOAGENT_FAILPOINT") else { return };
    let Some((armed, probability)) = spec.split_once(':') else { return };
    let probability: f64 = probability.parse().unwrap_or(0.0);
    if armed == name && rand::random::<f64>() < probability {
        tracing::warn!(failpoint = name, "failpoint hit: aborting the process");
        std::process::abort();
    }
}
