//! The RabbitMQ topology routes as `docs/ARCHITECTURE.md` says: a retry goes to exactly one delay tier
//! and comes back to its kind's queue; a dead letter lands in `<ns>.dead`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use algoagent_core::{JobKind, RETRY_TIERS, tier_name};
use algoagent_jobs::queue::{RETRY_TIER_HEADER, topology};
use algoagent_tests::TestEnv;

#[tokio::test]
async fn a_retry_waits_in_exactly_one_tier_then_returns_to_its_kind_queue() {
    // Arrange
    let env = TestEnv::new().await.unwrap();
    let names = env.names();
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    topology::declare(&channel, &names).await.unwrap();
    topology::declare(&channel, &names).await.unwrap(); // idempotent

    // Act: one message for the 1 s tier.
    let headers = BTreeMap::from([(RETRY_TIER_HEADER.to_owned(), tier_name(RETRY_TIERS[0]))]);
    algoagent_jobs::queue::publish_confirmed(&channel, &names.retry_exchange(), "validate", b"{}", &headers)
        .await
        .unwrap();

    // Assert: it sits in the 1 s queue only, then arrives once in jobs.validate.
    for tier in RETRY_TIERS {
        let expected = u32::from(tier == RETRY_TIERS[0]);
        let depth = topology::depth(&channel, &names.retry_queue(tier)).await.unwrap();
        assert!(depth <= expected, "tier {tier:?} holds {depth}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let queue = names.job_queue(JobKind::Validate);
    while topology::depth(&channel, &queue).await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "the retry never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(topology::depth(&channel, &queue).await.unwrap(), 1, "exactly one copy comes back");
    for tier in RETRY_TIERS {
        assert_eq!(topology::depth(&channel, &names.retry_queue(tier)).await.unwrap(), 0, "tier {tier:?}");
    }
    topology::delete(&channel, &names).await.unwrap();
    env.shutdown().await.unwrap();
}
