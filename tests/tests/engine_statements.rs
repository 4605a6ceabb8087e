//! The engine's one-statement writes: enqueue (row, transition, message), finish (move,
//! transition, following message, all behind the attempt fence) and the relay's take (lock
//! and mark in one statement, undone by a rollback). Each is all or nothing. And the settle
//! and claim batches: claims and successes committed together (the successes' ends by one
//! statement), and each alone when one of them cannot be.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use algoagent_core::{
    JobEnvelope, JobError, JobId, JobPayload, JobResult, JobStatus, RunId, StrategyId, VersionId,
};
use algoagent_jobs::batch::{ClaimBatches, SettleBatches};
use algoagent_jobs::db::DbError;
use algoagent_jobs::db::jobs::{self, ClaimOutcome, Finish, JobRow, NewJob};
use algoagent_jobs::db::outbox::{self, OutboxMessage};
use algoagent_jobs::db::transitions;
use algoagent_jobs::runner::Handler;
use algoagent_jobs::settle::Settler;
use algoagent_tests::TestEnv;
use futures::StreamExt as _;
use futures::stream::FuturesOrdered;
use tokio_util::sync::CancellationToken;

async fn count(env: &TestEnv, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.pool).await.unwrap()
}

/// A job of a fresh run (jobs point at their run, and runs at their strategy).
async fn new_job(env: &TestEnv) -> NewJob {
    let run_id = RunId::new();
    let strategy: i64 = sqlx::query_scalar("INSERT INTO strategies (name) VALUES ($1) RETURNING id")
        .bind(format!("s{}", run_id.0.simple()))
        .fetch_one(&env.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO runs (id, strategy_id, status, spec, provider, max_fix_attempts)
         VALUES ($1, $2, 'submitted', '{}'::jsonb, 'builtin', 0)",
    )
    .bind(run_id)
    .bind(strategy)
    .execute(&env.pool)
    .await
    .unwrap();
    NewJob {
        id: JobId::new(),
        run_id,
        strategy_id: StrategyId(strategy),
        payload: JobPayload::ValidateV1 { version_id: VersionId(3) },
        max_attempts: 3,
    }
}

fn message(routing_key: &str) -> OutboxMessage {
    OutboxMessage {
        exchange: "t.events".into(),
        routing_key: routing_key.into(),
        payload: serde_json::json!({ "what": routing_key }),
        headers: BTreeMap::from([("x-test".to_owned(), "1".to_owned())]),
    }
}

#[tokio::test]
async fn enqueue_writes_the_row_its_transition_and_its_message_once() {
    // Arrange
    let env = TestEnv::new().await.unwrap();
    let job = new_job(&env).await;
    let mut conn = env.pool.acquire().await.unwrap();

    // Act
    let first = jobs::enqueue(&mut conn, &job, "t.jobs", "api").await.unwrap();
    let again = jobs::enqueue(&mut conn, &job, "t.jobs", "api").await.unwrap();

    // Assert
    assert!(first, "a new job is inserted");
    assert!(!again, "the same idempotency key is a duplicate");
    assert_eq!(count(&env, "SELECT count(*) FROM jobs").await, 1);
    assert_eq!(count(&env, "SELECT count(*) FROM outbox").await, 1, "no message for the duplicate");
    let audit = transitions::for_entity(&env.pool, "job", &job.id.to_string()).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].from_state.as_deref(), audit[0].to_state.as_str()), (None, "queued"));
    assert_eq!(audit[0].actor, "api");
    assert_eq!(audit[0].details["run_id"], serde_json::json!(job.run_id));
    assert!(transitions::broken_links(&env.pool, "job", &job.id.to_string()).await.unwrap().is_empty());
    let (exchange, key, payload): (String, String, serde_json::Value) =
        sqlx::query_as("SELECT exchange, routing_key, payload FROM outbox")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((exchange.as_str(), key.as_str()), ("t.jobs", "validate"));
    let envelope: JobEnvelope = serde_json::from_value(payload).unwrap();
    assert_eq!((envelope.job_id, envelope.attempt, envelope.payload), (job.id, 1, job.payload.clone()));
    drop(conn);
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn finish_behind_the_fence_writes_its_message_only_when_it_moved_the_job() {
    // Arrange: a job claimed at attempt 1.
    let env = TestEnv::new().await.unwrap();
    let job = new_job(&env).await;
    let mut conn = env.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, &job, "t.jobs", "api").await.unwrap();
    let claimed = jobs::claim(&env.pool, job.id, "w1", Duration::from_secs(60)).await.unwrap();
    let ClaimOutcome::Claimed(row) = claimed else { panic!("not claimed: {claimed:?}") };
    assert_eq!(row.attempt, 1);
    let result = JobResult::Generated { version_id: VersionId(3) };
    let done = Finish { to: JobStatus::Succeeded, result: Some(&result), error: None, actor: "worker:w1" };
    let before = count(&env, "SELECT count(*) FROM outbox").await;

    // Act + Assert: a stale attempt is fenced out and writes nothing.
    let stale = jobs::finish(&mut conn, job.id, 2, done, Some(&message("stale"))).await.unwrap();
    assert!(!stale);
    assert_eq!(count(&env, "SELECT count(*) FROM outbox").await, before);
    assert_eq!(count(&env, "SELECT count(*) FROM transitions WHERE to_state = 'succeeded'").await, 0);

    // The holder's finish moves the job, audits it and writes its message.
    let moved =
        jobs::finish(&mut conn, job.id, 1, done, Some(&message("job.validate.succeeded"))).await.unwrap();
    assert!(moved);
    let row = jobs::get(&env.pool, job.id).await.unwrap().unwrap();
    assert_eq!(row.status(), JobStatus::Succeeded);
    assert!(row.finished_at.is_some());
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT routing_key FROM outbox ORDER BY id").fetch_all(&env.pool).await.unwrap();
    assert_eq!(keys, ["validate", "job.validate.succeeded"]);
    let headers: serde_json::Value =
        sqlx::query_scalar("SELECT headers FROM outbox ORDER BY id DESC LIMIT 1")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(headers, serde_json::json!({ "x-test": "1" }));
    let audit = transitions::for_entity(&env.pool, "job", &job.id.to_string()).await.unwrap();
    let states: Vec<&str> = audit.iter().map(|t| t.to_state.as_str()).collect();
    assert_eq!(states, ["queued", "running", "succeeded"]);

    // Finishing again (a second settle of the same attempt) is fenced out too.
    let twice = jobs::finish(&mut conn, job.id, 1, done, Some(&message("twice"))).await.unwrap();
    assert!(!twice);
    assert_eq!(count(&env, "SELECT count(*) FROM outbox").await, 2);

    // Without a message, the move alone (the dead-letter path writes its own messages).
    let other = new_job(&env).await;
    jobs::enqueue(&mut conn, &other, "t.jobs", "api").await.unwrap();
    jobs::claim(&env.pool, other.id, "w1", Duration::from_secs(60)).await.unwrap();
    let dead = Finish { to: JobStatus::Dead, result: None, error: Some("poison"), actor: "worker:w1" };
    assert!(jobs::finish(&mut conn, other.id, 1, dead, None).await.unwrap());
    assert_eq!(count(&env, "SELECT count(*) FROM outbox").await, 3, "only the second job's own message");
    drop(conn);
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn succeed_many_ends_each_job_behind_its_own_fence_as_finish_ends_one() {
    // Arrange: three jobs claimed at attempt 1, one of them taken over by attempt 2 since,
    // and one job that a single finish ends, to compare with.
    let env = TestEnv::new().await.unwrap();
    let mut rows = Vec::new();
    for _ in 0..4 {
        let job = new_job(&env).await;
        let mut conn = env.pool.acquire().await.unwrap();
        jobs::enqueue(&mut conn, &job, "t.jobs", "api").await.unwrap();
        let claimed = jobs::claim(&env.pool, job.id, "w1", Duration::from_secs(60)).await.unwrap();
        let ClaimOutcome::Claimed(row) = claimed else { panic!("not claimed: {claimed:?}") };
        rows.push(row);
    }
    sqlx::query("UPDATE jobs SET attempt = 2 WHERE id = $1")
        .bind(rows[1].id)
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM outbox").execute(&env.pool).await.unwrap();
    let result = |v: i64| JobResult::Generated { version_id: VersionId(v) };
    let success = |i: usize, then: Option<OutboxMessage>| jobs::Success {
        job_id: rows[i].id,
        attempt: 1,
        result: result(i as i64),
        then,
    };
    let batch = [success(0, Some(message("first"))), success(1, Some(message("fenced"))), success(2, None)];

    // Act
    let mut tx = env.pool.begin().await.unwrap();
    let moved = jobs::succeed_many(&mut tx, &batch, "worker:w1").await.unwrap();
    tx.commit().await.unwrap();
    let mut conn = env.pool.acquire().await.unwrap();
    let done = Finish { to: JobStatus::Succeeded, result: Some(&result(3)), error: None, actor: "worker:w1" };
    assert!(jobs::finish(&mut conn, rows[3].id, 1, done, None).await.unwrap());
    drop(conn);

    // Assert: the two at their attempt moved, with their results; the fenced one did not.
    assert_eq!(moved, 2);
    for (i, status) in [(0, "succeeded"), (1, "running"), (2, "succeeded"), (3, "succeeded")] {
        let row = jobs::get(&env.pool, rows[i].id).await.unwrap().unwrap();
        assert_eq!(row.status, status, "job {i}");
        if status == "succeeded" {
            assert_eq!(row.result, Some(serde_json::to_value(result(i as i64)).unwrap()), "job {i}");
            assert!(row.finished_at.is_some() && row.lease_owner.is_none() && row.error.is_none());
        }
    }
    // Only the moved job's message went out.
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT routing_key FROM outbox ORDER BY id").fetch_all(&env.pool).await.unwrap();
    assert_eq!(keys, ["first"]);
    // Each end is audited as a single finish audits one, and every chain holds.
    let ends: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT from_state, actor, details FROM transitions
          WHERE to_state = 'succeeded' AND job_id = ANY($1) ORDER BY job_id = $2",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows[3].id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(ends.len(), 3);
    for end in &ends {
        assert_eq!(end, &ends[2], "the batch's ends read as the single finish's");
    }
    for row in &rows {
        let broken = transitions::broken_links(&env.pool, "job", &row.id.to_string()).await.unwrap();
        assert!(broken.is_empty(), "chain of {} broken at {broken:?}", row.id);
    }
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_settler_without_events_ends_jobs_with_no_event_and_one_with_events_publishes_each_end() {
    // Arrange: four jobs claimed at attempt 1, two settlers.
    let env = TestEnv::new().await.unwrap();
    let names = env.names();
    let with_events = Settler::new(names.clone(), "worker:w1");
    let without = Settler::new(names.clone(), "worker:w1").without_events();
    let mut rows = Vec::new();
    for _ in 0..4 {
        let job = new_job(&env).await;
        let mut conn = env.pool.acquire().await.unwrap();
        jobs::enqueue(&mut conn, &job, &names.jobs_exchange(), "api").await.unwrap();
        let claimed = jobs::claim(&env.pool, job.id, "w1", Duration::from_secs(60)).await.unwrap();
        let ClaimOutcome::Claimed(row) = claimed else { panic!("not claimed: {claimed:?}") };
        rows.push(row);
    }
    sqlx::query("DELETE FROM outbox").execute(&env.pool).await.unwrap();
    let result = JobResult::Validated { version_id: VersionId(3), accepted: true, summary: String::new() };
    let kind = algoagent_core::JobKind::Validate;

    // Act: each settler succeeds one job and dead-letters another.
    let mut tx = env.pool.begin().await.unwrap();
    assert!(with_events.succeed(&mut tx, &rows[0], kind, result.clone()).await.unwrap());
    assert!(without.succeed(&mut tx, &rows[1], kind, result).await.unwrap());
    tx.commit().await.unwrap();
    assert!(with_events.dead(&env.pool, &rows[2], Some(1), "poison", "bad").await.unwrap());
    assert!(without.dead(&env.pool, &rows[3], Some(1), "poison", "bad").await.unwrap());

    // Assert: every job ended and was audited; only the settler with events published them.
    let ended: Vec<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ANY($1) ORDER BY status")
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(ended, ["dead", "dead", "succeeded", "succeeded"]);
    let per_job = |row: usize| {
        let pool = env.pool.clone();
        let id = rows[row].id.to_string();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT exchange || ' ' || routing_key FROM outbox WHERE payload->>'job_id' = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let events = names.events_exchange();
    let dlx = names.dlx();
    assert_eq!(per_job(0).await, [format!("{events} job.validate.succeeded")]);
    assert!(per_job(1).await.is_empty(), "no event without events");
    assert_eq!(per_job(2).await, [format!("{dlx} validate"), format!("{events} job.validate.dead")]);
    assert_eq!(per_job(3).await, [format!("{dlx} validate")], "the dead letter still goes out");
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM transitions WHERE entity_type = 'job' AND to_state IN ('succeeded', 'dead')"
        )
        .await,
        4
    );
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_relays_take_marks_in_one_statement_skips_locked_rows_and_a_rollback_undoes_it() {
    // Arrange: five pending messages.
    let env = TestEnv::new().await.unwrap();
    let mut conn = env.pool.acquire().await.unwrap();
    for i in 0..5 {
        outbox::push(&mut conn, &message(&format!("m{i}"))).await.unwrap();
    }
    drop(conn);

    // Act: two relays take batches of three at once.
    let mut first = env.pool.begin().await.unwrap();
    let taken = outbox::take(&mut first, 3).await.unwrap();
    let mut second = env.pool.begin().await.unwrap();
    let rest = outbox::take(&mut second, 3).await.unwrap();

    // Assert: the oldest three to the first, the other two to the second, none to both.
    let mut ids: Vec<i64> = taken.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let mut rest_ids: Vec<i64> = rest.iter().map(|r| r.id).collect();
    rest_ids.sort_unstable();
    assert_eq!(ids.len(), 3);
    assert_eq!(rest_ids.len(), 2);
    assert!(ids.iter().all(|id| rest_ids.iter().all(|r| r > id)), "{ids:?} then {rest_ids:?}");
    assert!(taken.iter().all(|r| r.age_seconds >= 0.0));

    // The first commits (its broker confirmed), the second rolls back (its broker failed).
    first.commit().await.unwrap();
    second.rollback().await.unwrap();
    let mut conn = env.pool.acquire().await.unwrap();
    assert_eq!(outbox::pending(&mut conn).await.unwrap(), 2, "the rolled-back batch is pending again");
    let again = outbox::take(&mut conn, 10).await.unwrap();
    let mut again_ids: Vec<i64> = again.iter().map(|r| r.id).collect();
    again_ids.sort_unstable();
    assert_eq!(again_ids, rest_ids);
    assert_eq!(outbox::pending(&mut conn).await.unwrap(), 0);
    drop(conn);
    env.shutdown().await.unwrap();
}

/// An effect for [`GatedHandler`]: the message its persist writes, or a refusal.
#[derive(Debug, Clone)]
struct Noted {
    key: String,
    refuse: bool,
}

/// A handler whose persist writes one message per job; the job keyed `gate` waits inside
/// its persist until the test lets it go, so successes sent meanwhile queue up behind it.
struct GatedHandler {
    entered: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
}

impl Handler for GatedHandler {
    type Effect = Noted;

    async fn handle(
        &self,
        _row: &JobRow,
        _payload: &JobPayload,
        _cancel: &CancellationToken,
    ) -> Result<Noted, JobError> {
        Err(JobError::Permanent("only persist is exercised here".into()))
    }

    async fn persist(
        &self,
        tx: &mut sqlx::PgConnection,
        _row: &JobRow,
        effect: Noted,
    ) -> Result<JobResult, DbError> {
        if effect.key == "gate" {
            self.entered.notify_one();
            self.release.acquire().await.map_err(|e| DbError::Conflict(e.to_string()))?.forget();
        }
        if effect.refuse {
            return Err(DbError::Conflict(format!("{} refused", effect.key)));
        }
        outbox::push(tx, &message(&effect.key)).await?;
        Ok(JobResult::Validated { version_id: VersionId(3), accepted: true, summary: String::new() })
    }
}

/// A job enqueued and claimed at attempt 1.
async fn claimed(env: &TestEnv) -> JobRow {
    let job = new_job(env).await;
    let mut conn = env.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, &job, &env.names().jobs_exchange(), "api").await.unwrap();
    let claimed = jobs::claim(&env.pool, job.id, "w1", Duration::from_secs(60)).await.unwrap();
    let ClaimOutcome::Claimed(row) = claimed else { panic!("not claimed: {claimed:?}") };
    row
}

/// Settles `rows` (keyed by `keys`) while the gate job holds the only lane, then lets it go:
/// everything sent meanwhile is one batch.
async fn settle_behind_gate(
    batches: &SettleBatches<GatedHandler>,
    handler: &GatedHandler,
    gate: &JobRow,
    rows: &[(JobRow, Noted)],
) -> Vec<Result<bool, algoagent_jobs::runner::RunError>> {
    let kind = algoagent_core::JobKind::Validate;
    let noted = Noted { key: "gate".into(), refuse: false };
    let mut gate_settle = Box::pin(batches.succeed(gate, kind, noted));
    tokio::select! {
        () = handler.entered.notified() => {}
        done = &mut gate_settle => panic!("the gate job settled before its gate opened: {done:?}"),
    }
    let mut queued: FuturesOrdered<_> =
        rows.iter().map(|(row, noted)| batches.succeed(row, kind, noted.clone())).collect();
    // One poll sends every success into the queue behind the gate.
    assert!(futures::poll!(queued.next()).is_pending());
    handler.release.add_permits(1);
    assert!(gate_settle.await.unwrap());
    queued.collect().await
}

#[tokio::test]
async fn settle_batches_commit_queued_successes_together_and_one_failure_ends_no_other() {
    // Arrange: one lane, so the successes sent while the gate job settles form one batch.
    let env = TestEnv::new().await.unwrap();
    let handler = Arc::new(GatedHandler {
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Semaphore::new(0),
    });
    let settler = Settler::new(env.names(), "worker:w1").without_events();
    let batches = SettleBatches::spawn(Arc::clone(&handler), env.pool.clone(), settler, 1, 64);
    let good = |key: &str| Noted { key: key.into(), refuse: false };
    let mut together = Vec::new();
    for i in 0..5 {
        together.push((claimed(&env).await, good(&format!("together-{i}"))));
    }

    // Act
    let gate = claimed(&env).await;
    let results = settle_behind_gate(&batches, &handler, &gate, &together).await;

    // Assert: all five succeeded in one transaction (one xmin), not the gate job's.
    assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
    let ids: Vec<JobId> = together.iter().map(|(row, _)| row.id).collect();
    let xmins: Vec<String> = sqlx::query_scalar("SELECT DISTINCT xmin::text FROM jobs WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(xmins.len(), 1, "one transaction for the batch");
    let gate_xmin: String = sqlx::query_scalar("SELECT xmin::text FROM jobs WHERE id = $1")
        .bind(gate.id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_ne!(gate_xmin, xmins[0]);

    // Arrange: a batch with a job fenced out (another attempt took it) and one whose effect
    // fails to write, among three good ones.
    let mut mixed = Vec::new();
    for i in 0..3 {
        mixed.push((claimed(&env).await, good(&format!("alone-{i}"))));
    }
    let fenced = claimed(&env).await;
    sqlx::query("UPDATE jobs SET attempt = 2 WHERE id = $1")
        .bind(fenced.id)
        .execute(&env.pool)
        .await
        .unwrap();
    mixed.insert(1, (fenced.clone(), good("fenced")));
    let refused = claimed(&env).await;
    mixed.insert(3, (refused.clone(), Noted { key: "refused".into(), refuse: true }));

    // Act
    let gate = claimed(&env).await;
    let results = settle_behind_gate(&batches, &handler, &gate, &mixed).await;

    // Assert: each settled alone; the good ones committed, the fenced and the refused did not.
    let outcome: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(moved) => moved.to_string(),
            Err(err) => format!("error: {err}"),
        })
        .collect();
    assert_eq!(outcome, ["true", "false", "true", "error: database: conflict: refused refused", "true"]);
    let status = |id: JobId| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(fenced.id).await, "running", "the other attempt still owns it");
    assert_eq!(status(refused.id).await, "running", "its settle failed; the delivery is retried");
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT routing_key FROM outbox WHERE exchange = 't.events' ORDER BY routing_key")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    let mut expected: Vec<String> = (0..5).map(|i| format!("together-{i}")).collect();
    expected.extend((0..3).map(|i| format!("alone-{i}")));
    expected.extend(["gate".to_owned(), "gate".to_owned()]);
    expected.sort();
    assert_eq!(keys, expected, "one message per committed job, none of the fenced or refused");
    assert_eq!(
        count(&env, "SELECT count(*) FROM transitions WHERE entity_type = 'job' AND to_state = 'succeeded'")
            .await,
        10,
        "the five together, the three alone and the two gate jobs, once each"
    );
    drop(batches);
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn claim_batches_take_queued_claims_in_one_statement_and_say_why_of_the_rest() {
    // Arrange: three queued jobs, one another worker holds, one finished, one that does not
    // exist, and a gate job whose row the test locks so the lane's first claim waits on it.
    let env = TestEnv::new().await.unwrap();
    let lease = Duration::from_secs(60);
    let claims = Arc::new(ClaimBatches::spawn(env.pool.clone(), "w1".into(), lease, 16));
    let mut queued = Vec::new();
    for _ in 0..3 {
        let job = new_job(&env).await;
        let mut conn = env.pool.acquire().await.unwrap();
        jobs::enqueue(&mut conn, &job, "t.jobs", "api").await.unwrap();
        queued.push(job.id);
    }
    let busy = claimed(&env).await;
    let done = claimed(&env).await;
    let result = JobResult::Validated { version_id: VersionId(3), accepted: true, summary: String::new() };
    let mut tx = env.pool.begin().await.unwrap();
    let settler = Settler::new(env.names(), "worker:w1").without_events();
    assert!(settler.succeed(&mut tx, &done, algoagent_core::JobKind::Validate, result).await.unwrap());
    tx.commit().await.unwrap();
    let gate = new_job(&env).await;
    let mut conn = env.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, &gate, "t.jobs", "api").await.unwrap();
    let mut lock = env.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(gate.id)
        .execute(&mut *lock)
        .await
        .unwrap();

    // Act: the gate's claim waits on the lock; the others queue behind it; then the lock goes.
    let gate_claim = tokio::spawn({
        let claims = Arc::clone(&claims);
        async move { claims.claim(gate.id).await }
    });
    let waiting = "SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'";
    tokio::time::timeout(Duration::from_secs(30), async {
        while count(&env, waiting).await == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the gate's claim waits on the lock");
    let mut ids = queued.clone();
    ids.extend([busy.id, done.id, JobId::new()]);
    let mut rest: FuturesOrdered<_> = ids.iter().map(|id| claims.claim(*id)).collect();
    assert!(futures::poll!(rest.next()).is_pending());
    lock.commit().await.unwrap();
    let gate_outcome = gate_claim.await.unwrap().unwrap();
    let outcomes: Vec<ClaimOutcome> = rest.map(Result::unwrap).collect().await;

    // Assert: the gate and the three queued jobs are ours; the three queued ones were taken
    // by one statement (their `running` transitions share a transaction); the rest say why.
    assert!(matches!(gate_outcome, ClaimOutcome::Claimed(ref row) if row.attempt == 1), "{gate_outcome:?}");
    let words: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            ClaimOutcome::Claimed(row) => format!("claimed {}", row.attempt),
            ClaimOutcome::Finished(status) => format!("finished {}", status.as_str()),
            ClaimOutcome::Busy => "busy".into(),
            ClaimOutcome::OverLimit(_) => "over limit".into(),
            ClaimOutcome::Missing => "missing".into(),
        })
        .collect();
    assert_eq!(words, ["claimed 1", "claimed 1", "claimed 1", "busy", "finished succeeded", "missing"]);
    let claims_tx: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT xmin::text FROM transitions WHERE to_state = 'running' AND job_id = ANY($1)",
    )
    .bind(&queued)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(claims_tx.len(), 1, "one statement claimed the three");
    let running = "SELECT count(*) FROM transitions WHERE entity_type = 'job' AND to_state = 'running'";
    assert_eq!(count(&env, running).await, 6, "gate, three queued, and the earlier two; none twice");
    drop(conn);
    env.shutdown().await.unwrap();
}
