//! The RabbitMQ topology routes as `docs/ARCHITECTURE.md` says: a retry goes to exactly one delay tier
//! and comes back to its kind's queue; a dead letter lands in `<ns>.dead`. A worker consumes
//! every kind it serves on one connection.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use algoagent_core::{JobKind, RETRY_TIERS, tier_name};
use algoagent_jobs::db::outbox::{self, OutboxMessage};
use algoagent_jobs::queue::{Names, RETRY_TIER_HEADER, Relay, topology};
use algoagent_tests::{TestEnv, wait_until};
use secrecy::SecretString;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

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

/// A connection proposes its frame size (left to the broker, lapin's buffers were grown by
/// writing zeros: 8 MiB resident per connection), a URL's `frame_max` wins, and a message
/// many frames long still arrives whole.
#[tokio::test]
async fn connections_use_small_frames_and_large_messages_still_arrive_whole() {
    use algoagent_jobs::queue::FRAME_MAX;
    use lapin::options::BasicGetOptions;
    use secrecy::SecretString;

    // Arrange
    let env = TestEnv::new().await.unwrap();
    let names = env.names();
    let conn = algoagent_jobs::queue::connect(&SecretString::from(algoagent_tests::AMQP_URL), "frames")
        .await
        .unwrap();
    assert_eq!(conn.configuration().frame_max(), FRAME_MAX);
    let url = format!("{}?frame_max=8192", algoagent_tests::AMQP_URL);
    let small = algoagent_jobs::queue::connect(&SecretString::from(url), "frames-8k").await.unwrap();
    assert_eq!(small.configuration().frame_max(), 8192);
    let bad = algoagent_jobs::queue::connect(&SecretString::from("http://u:hunter2@x"), "bad").await;
    let err = bad.err().unwrap().to_string();
    assert!(err.contains("not a valid") && !err.contains("hunter2"), "{err}");

    // Act: a 100 KB body through the 16 KiB frames.
    let channel = conn.create_channel().await.unwrap();
    topology::declare(&channel, &names).await.unwrap();
    channel.confirm_select(lapin::options::ConfirmSelectOptions::default()).await.unwrap();
    let body: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    algoagent_jobs::queue::publish_confirmed(
        &channel,
        &names.jobs_exchange(),
        "validate",
        &body,
        &BTreeMap::new(),
    )
    .await
    .unwrap();

    // Assert
    let queue = names.job_queue(JobKind::Validate);
    let got = channel.basic_get(&queue, BasicGetOptions { no_ack: true }).await.unwrap().unwrap();
    assert_eq!(got.delivery.data, body);
}

/// `rabbitmqctl -q list_<what> <columns>`, one row of tab-separated fields per line.
fn rabbitmqctl_list(what: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let output = std::process::Command::new("rabbitmqctl")
        .args(["-q", &format!("list_{what}")])
        .args(columns)
        .output()
        .unwrap();
    assert!(output.status.success(), "rabbitmqctl list_{what}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

/// A worker serving every kind consumes all six kinds' queues on one connection, a channel
/// each (beside its relay's connection), not on a connection per kind.
#[tokio::test]
async fn a_worker_consumes_every_kind_on_one_connection() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    let names = env.names();
    let queues: Vec<String> = JobKind::ALL.iter().map(|kind| names.job_queue(*kind)).collect();

    // Act
    env.start_worker(&[]).await.unwrap();

    // Assert: a consumer on each queue, each on its own channel, all of one connection.
    let deadline = Instant::now() + Duration::from_secs(30);
    let channels = loop {
        let consumers: BTreeMap<String, String> =
            rabbitmqctl_list("consumers", &["queue_name", "channel_pid"])
                .into_iter()
                .filter_map(|row| Some((row.first()?.clone(), row.get(1)?.clone())))
                .filter(|(queue, _)| queues.contains(queue))
                .collect();
        if consumers.len() == queues.len() {
            break consumers;
        }
        assert!(Instant::now() < deadline, "consumers so far: {consumers:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let connection_of: BTreeMap<String, String> = rabbitmqctl_list("channels", &["pid", "connection"])
        .into_iter()
        .filter_map(|row| Some((row.first()?.clone(), row.get(1)?.clone())))
        .collect();
    let distinct_channels: std::collections::BTreeSet<&String> = channels.values().collect();
    assert_eq!(distinct_channels.len(), queues.len(), "a channel per queue: {channels:?}");
    let connections: std::collections::BTreeSet<&String> =
        channels.values().map(|channel| connection_of.get(channel).unwrap()).collect();
    assert_eq!(connections.len(), 1, "one connection for every queue: {channels:?} on {connections:?}");
    env.shutdown().await.unwrap();
}

/// Of several relays on one database one is on duty (the only one woken by each commit), and
/// when it stops another takes over and publishes what is committed next.
#[tokio::test]
async fn one_relay_is_on_duty_and_another_takes_over_when_it_stops() {
    // Arrange: three relays, as three processes of a deployment run them.
    let env = TestEnv::new().await.unwrap();
    let names = env.names();
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    topology::declare(&channel, &names).await.unwrap();
    let relays = Relays::start(&env, &names, 3);
    wait_until("the relays to connect", Duration::from_secs(10), || async { relays.all_connected() }).await;
    let queue = names.job_queue(JobKind::Validate);
    let published = |depth: u32| {
        let (channel, queue) = (&channel, &queue);
        move || async move { topology::depth(channel, queue).await.unwrap() >= depth }
    };

    // Act + Assert: exactly one is on duty, holding the database's one relay lock.
    let first = relays.on_duty();
    assert_eq!(first.len(), 1, "relays on duty: {first:?}");
    assert_eq!(duty_locks(&env.pool).await, 1);
    push_row(&env.pool, &names, serde_json::json!({ "tag": "one" })).await;
    wait_until("the first row to be published", Duration::from_secs(15), published(1)).await;

    // Act: the relay on duty stops (its lock goes with its connection).
    relays.stop(first[0]);
    wait_until("another relay to take over", Duration::from_secs(15), || async {
        let now = relays.on_duty();
        now.len() == 1 && now[0] != first[0]
    })
    .await;

    // Assert: what is committed next is published, and each row once.
    push_row(&env.pool, &names, serde_json::json!({ "tag": "two" })).await;
    wait_until("the second row to be published", Duration::from_secs(15), published(2)).await;
    assert_eq!(unsent(&env.pool).await, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(topology::depth(&channel, &queue).await.unwrap(), 2, "each message once");
    relays.stop_all().await;
    topology::delete(&channel, &names).await.unwrap();
    env.shutdown().await.unwrap();
}

/// The relay on duty notices that it lost its lock even while commits keep waking it: its
/// lock connection is checked every poll interval, not only when two seconds pass without a
/// commit. Otherwise a second relay takes the free lock and two stay on duty for as long as
/// the load lasts.
#[tokio::test]
async fn a_relay_that_lost_its_lock_under_steady_load_stands_down() {
    // Arrange: two relays, and a commit with an outbox row every 100 ms.
    let env = TestEnv::new().await.unwrap();
    let names = env.names();
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    topology::declare(&channel, &names).await.unwrap();
    let relays = Relays::start(&env, &names, 2);
    wait_until("a relay on duty", Duration::from_secs(10), || async { relays.on_duty().len() == 1 }).await;
    let load = CancellationToken::new();
    let pushes = {
        let (pool, names, load) = (env.pool.clone(), names.clone(), load.clone());
        tokio::spawn(async move {
            let mut pushed = 0_u32;
            while !load.is_cancelled() {
                push_row(&pool, &names, serde_json::json!({ "n": pushed })).await;
                pushed += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            pushed
        })
    };

    // Act: the lock connection of the relay on duty dies (Postgres frees the lock).
    let terminated: i64 =
        sqlx::query_scalar(&format!("SELECT count(pg_terminate_backend(pid)) {DUTY_LOCKS}"))
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(terminated, 1);
    // Longer than the poll interval: the other relay has tried the free lock by now.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Assert: under the same load, one relay is on duty and the lock is held once.
    wait_until("exactly one relay on duty again", Duration::from_secs(10), || async {
        relays.on_duty().len() == 1 && duty_locks(&env.pool).await == 1
    })
    .await;
    load.cancel();
    let pushed = pushes.await.unwrap();
    wait_until("every row to be published", Duration::from_secs(15), || async {
        unsent(&env.pool).await == 0
    })
    .await;
    let queue = names.job_queue(JobKind::Validate);
    assert!(topology::depth(&channel, &queue).await.unwrap() >= pushed, "every row reached the queue");
    relays.stop_all().await;
    topology::delete(&channel, &names).await.unwrap();
    env.shutdown().await.unwrap();
}

/// Relays on the test's database, as separate processes of a deployment run them, each
/// stopped by its own token.
struct Relays {
    relays: Vec<Relay>,
    cancels: Vec<CancellationToken>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Relays {
    /// Starts `n` relays.
    fn start(env: &TestEnv, names: &Names, n: usize) -> Self {
        let relays: Vec<Relay> = (0..n)
            .map(|_| {
                Relay::new(env.pool.clone(), SecretString::from(algoagent_tests::AMQP_URL), names.clone())
            })
            .collect();
        let cancels: Vec<CancellationToken> = (0..n).map(|_| CancellationToken::new()).collect();
        let tasks = relays
            .iter()
            .zip(&cancels)
            .map(|(relay, cancel)| tokio::spawn(relay.clone().run(cancel.clone())))
            .collect();
        Self { relays, cancels, tasks }
    }

    /// Whether every relay holds a broker session.
    fn all_connected(&self) -> bool {
        self.relays.iter().all(|relay| relay.stats.connected.load(Ordering::Relaxed))
    }

    /// The indices of the relays that say they are on duty.
    fn on_duty(&self) -> Vec<usize> {
        (0..self.relays.len()).filter(|i| self.relays[*i].stats.on_duty.load(Ordering::Relaxed)).collect()
    }

    /// Tells relay `i` to stop.
    fn stop(&self, i: usize) {
        self.cancels[i].cancel();
    }

    /// Stops every relay and waits for each to end.
    async fn stop_all(self) {
        for cancel in &self.cancels {
            cancel.cancel();
        }
        for task in self.tasks {
            task.await.unwrap();
        }
    }
}

/// Commits an outbox row for the `validate` queue carrying `payload`.
async fn push_row(pool: &PgPool, names: &Names, payload: serde_json::Value) {
    let message = OutboxMessage {
        exchange: names.jobs_exchange(),
        routing_key: "validate".into(),
        payload,
        headers: BTreeMap::new(),
    };
    outbox::push(&mut pool.acquire().await.unwrap(), &message).await.unwrap();
}

/// Outbox rows not yet published.
async fn unsent(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetch_one(pool).await.unwrap()
}

/// The advisory locks granted in the test's database: the relays' duty lock is the only one
/// taken there.
const DUTY_LOCKS: &str = "FROM pg_locks WHERE locktype = 'advisory' AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// How many relays hold the duty lock.
async fn duty_locks(pool: &PgPool) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) {DUTY_LOCKS}")).fetch_one(pool).await.unwrap()
}
