//! Every exchange and queue name, derived from the namespace in one place.

use std::time::Duration;

use algoagent_core::Namespace;
use algoagent_core::{JobKind, tier_name};

/// The names of one deployment's RabbitMQ objects.
#[derive(Debug, Clone)]
pub struct Names {
    ns: String,
}

impl Names {
    /// Names under `namespace`.
    pub fn new(namespace: &Namespace) -> Self {
        Self { ns: namespace.as_str().to_owned() }
    }

    /// Direct exchange of job messages (routing key = kind).
    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.ns)
    }

    /// The quorum queue of one job kind.
    pub fn job_queue(&self, kind: JobKind) -> String {
        format!("{}.jobs.{}", self.ns, kind.as_str())
    }

    /// Headers exchange routing retries to delay tiers by `algoagent-retry-tier`.
    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.ns)
    }

    /// The delay queue of one retry tier.
    pub fn retry_queue(&self, tier: Duration) -> String {
        format!("{}.retry.{}", self.ns, tier_name(tier))
    }

    /// Dead-letter exchange.
    pub fn dlx(&self) -> String {
        format!("{}.dlx", self.ns)
    }

    /// The one dead-letter queue (kind in headers).
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.ns)
    }

    /// Topic exchange of job events.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.ns)
    }

    /// The coordinator's event queue.
    pub fn coordinator_events_queue(&self) -> String {
        format!("{}.coordinator.events", self.ns)
    }

    /// Fanout exchange of control messages every worker hears (run cancellation).
    pub fn control_exchange(&self) -> String {
        format!("{}.control", self.ns)
    }

    /// Prefix of Redis keys.
    pub fn redis_prefix(&self) -> &str {
        &self.ns
    }
}
