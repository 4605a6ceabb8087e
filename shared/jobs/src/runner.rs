//! The runner: one delivery from decode to ack. Decode the envelope, take the Redis lease,
//! claim the job row (attempt + 1, the fence), run the [`Handler`], then settle: the
//! handler's effect rows and the job's end are committed in one transaction, and only then is
//! the delivery acked (invariant 3). Every failure class maps to exactly one action here
//! (invariant 4): transient -> retry tier, permanent -> the run moves on, poison -> dead
//! letter. If Postgres itself is unreachable the delivery is requeued.
//!
//! The runner knows no Docker, git or LLM: a worker brings those in its handler.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use algoagent_cache::{CacheError, Leases};
use algoagent_core::{JobEnvelope, JobError, JobId, JobKind, JobPayload, JobResult, RunId, retry_tier};
use lapin::message::Delivery;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::batch::{ClaimBatches, SettleBatches, succeed_alone};
use crate::db::DbError;
use crate::db::jobs::{self, ClaimOutcome, JobRow};
use crate::queue::{header_str, settle_delivery};
use crate::settle::Settler;

/// What a job kind does. `handle` does the work (it may take minutes and is told to stop
/// through `cancel`); `persist` writes what it produced inside the transaction that also ends
/// the job, so the effect and the job's end commit together or not at all.
pub trait Handler: Send + Sync + 'static {
    /// What a successful `handle` produced, before it is written.
    type Effect: Send;

    /// Does the job's work; the error's class decides what happens next.
    fn handle(
        &self,
        row: &JobRow,
        payload: &JobPayload,
        cancel: &CancellationToken,
    ) -> impl Future<Output = Result<Self::Effect, JobError>> + Send;

    /// Writes the effect's rows in the settling transaction and says what the job produced.
    fn persist(
        &self,
        tx: &mut PgConnection,
        row: &JobRow,
        effect: Self::Effect,
    ) -> impl Future<Output = Result<JobResult, DbError>> + Send;
}

/// Why a delivery could not be settled (it is then requeued).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Postgres failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// Redis failed while taking the lease.
    #[error("lease: {0}")]
    Lease(#[from] CacheError),
    /// The envelope could not be encoded for a dead letter.
    #[error("encoding the envelope: {0}")]
    Encode(#[from] serde_json::Error),
    /// A claim or settle lane stopped before answering (the process is shutting down).
    #[error("the claim or settle lanes stopped")]
    Stopped,
}

impl From<sqlx::Error> for RunError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(DbError::from(err))
    }
}

/// Who runs jobs and how long a claim holds.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This process's id (the jobs' lease owner, the transitions' actor).
    pub worker_id: String,
    /// The kinds served; a message of another kind is dead-lettered as `wrong_queue`.
    pub kinds: Vec<JobKind>,
    /// How long a claim holds without a heartbeat.
    pub lease_ttl: Duration,
}

/// Runs the deliveries of one worker process through its [`Handler`].
pub struct Runner<H: Handler> {
    handler: Arc<H>,
    /// Where successes settle when they are committed together (see [`Runner::with_settle_batches`]).
    batches: Option<SettleBatches<H>>,
    /// Where claims go when they are taken together (see [`Runner::with_claim_batches`]).
    claims: Option<ClaimBatches>,
    pool: PgPool,
    leases: Leases,
    settler: Settler,
    config: RunnerConfig,
    in_flight: InFlight,
}

impl<H: Handler> Runner<H> {
    /// A runner settling through `settler`, taking leases in `leases`.
    pub fn new(handler: H, pool: PgPool, leases: Leases, settler: Settler, config: RunnerConfig) -> Self {
        let handler = Arc::new(handler);
        Self {
            handler,
            batches: None,
            claims: None,
            pool,
            leases,
            settler,
            config,
            in_flight: InFlight::default(),
        }
    }

    /// The same runner committing the successes of concurrent jobs together: `lanes`
    /// transactions at a time, each with up to `max` jobs (see [`crate::batch`]). For short
    /// jobs, where a commit per job is most of the cost; a worker whose jobs take seconds
    /// gains nothing from it.
    #[must_use]
    pub fn with_settle_batches(self, lanes: usize, max: usize) -> Self
    where
        H::Effect: Clone,
    {
        let batches = SettleBatches::spawn(
            Arc::clone(&self.handler),
            self.pool.clone(),
            self.settler.clone(),
            lanes,
            max,
        );
        Self { batches: Some(batches), ..self }
    }

    /// The same runner claiming the jobs of concurrent deliveries together: up to `max` per
    /// statement, one statement at a time (see [`crate::batch`]).
    #[must_use]
    pub fn with_claim_batches(self, max: usize) -> Self {
        let claims =
            ClaimBatches::spawn(self.pool.clone(), self.config.worker_id.clone(), self.config.lease_ttl, max);
        Self { claims: Some(claims), ..self }
    }

    /// Handles one delivery and acks or requeues it.
    pub async fn handle_delivery(&self, delivery: Delivery) {
        let committed = self.process(&delivery).await;
        settle_delivery(&delivery, "job", committed).await;
    }

    /// Tells every running job of `run_id` to stop; returns how many were running.
    pub fn cancel_run(&self, run_id: RunId) -> usize {
        self.in_flight.cancel_run(run_id)
    }

    /// Tells one running job to stop (a cancelled standalone job); says whether it ran here.
    pub fn cancel_job(&self, job_id: JobId) -> bool {
        self.in_flight
            .snapshot()
            .iter()
            .filter(|(id, _)| *id == job_id)
            .map(|(_, r)| r.cancel.cancel())
            .count()
            > 0
    }

    /// Extends the Redis and Postgres leases of every running job; a job whose Postgres lease
    /// was taken by another attempt is told to stop. Returns the number of jobs in flight.
    pub async fn extend_leases(&self) -> i32 {
        let jobs = self.in_flight.snapshot();
        let ttl = self.config.lease_ttl;
        for (id, running) in &jobs {
            let redis = self.leases.extend(&lease_key(*id), &running.owner, ttl).await;
            match jobs::extend_lease(&self.pool, *id, running.attempt, ttl).await {
                Ok(false) => {
                    tracing::warn!(job_id = %id, "lease lost to another attempt; stopping the job");
                    metrics::counter!("algoagent_lease_losses_total").increment(1);
                    running.cancel.cancel();
                }
                Ok(true) => {}
                Err(err) => tracing::warn!(job_id = %id, error = %err, "could not extend lease in Postgres"),
            }
            if let Err(err) = redis {
                tracing::warn!(job_id = %id, error = %err, "could not extend lease in Redis");
            }
        }
        i32::try_from(jobs.len()).unwrap_or(i32::MAX)
    }

    async fn process(&self, delivery: &Delivery) -> Result<(), RunError> {
        let envelope = match JobEnvelope::decode(&delivery.data) {
            Ok(envelope) => envelope,
            Err(err) => {
                let reason = err.reason();
                tracing::warn!(reason, error = %err, "poison message");
                let raw = &delivery.data;
                return Ok(self
                    .settler
                    .dead_letter_raw(&self.pool, raw, None, reason, &err.to_string())
                    .await?);
            }
        };
        if !self.config.kinds.contains(&envelope.kind) {
            let error = format!("worker serving {:?} received a {} job", self.config.kinds, envelope.kind);
            let raw = &delivery.data;
            return Ok(self
                .settler
                .dead_letter_raw(&self.pool, raw, Some(&envelope), "wrong_queue", &error)
                .await?);
        }
        let span = tracing::info_span!(
            "job",
            otel.name = format!("job {}", envelope.kind),
            otel.kind = "consumer",
            job_id = %envelope.job_id,
            run_id = %envelope.run_id,
            strategy_id = %envelope.strategy_id,
            kind = %envelope.kind,
            attempt = tracing::field::Empty,
        );
        let headers = delivery.properties.headers().as_ref();
        algoagent_runtime::tracecontext::continue_from(&span, |key| header_str(headers, key));
        self.run_leased(&envelope).instrument(span).await
    }

    async fn run_leased(&self, envelope: &JobEnvelope) -> Result<(), RunError> {
        let key = lease_key(envelope.job_id);
        let owner = format!("{}:{}", self.config.worker_id, uuid::Uuid::new_v4());
        if !self.leases.acquire(&key, &owner, self.config.lease_ttl).await? {
            tracing::info!("another worker holds the lease; checking again later");
            return self.recheck_later(envelope).await;
        }
        let result = self.run_claimed(envelope, &owner).await;
        if let Err(err) = self.leases.release(&key, &owner).await {
            tracing::warn!(error = %err, "could not release lease (it will expire)");
        }
        result
    }

    async fn run_claimed(&self, envelope: &JobEnvelope, owner: &str) -> Result<(), RunError> {
        let claimed = match &self.claims {
            Some(claims) => claims.claim(envelope.job_id).await?,
            None => {
                jobs::claim(&self.pool, envelope.job_id, &self.config.worker_id, self.config.lease_ttl)
                    .await?
            }
        };
        let row = match claimed {
            ClaimOutcome::Finished(status) => {
                tracing::info!(status = status.as_str(), "job already finished; acking the duplicate");
                return Ok(());
            }
            ClaimOutcome::Busy => return self.recheck_later(envelope).await,
            ClaimOutcome::Missing => {
                let raw = serde_json::to_vec(envelope)?;
                let reason = "missing_job";
                return Ok(self
                    .settler
                    .dead_letter_raw(&self.pool, &raw, Some(envelope), reason, "no such job row")
                    .await?);
            }
            ClaimOutcome::OverLimit(row) => {
                let error = row.error.clone().unwrap_or_else(|| "attempt limit reached".into());
                return self.dead(&row, None, "attempts_exhausted", &error).await;
            }
            ClaimOutcome::Claimed(row) => row,
        };
        tracing::Span::current().record("attempt", row.attempt);
        let kind = envelope.kind.as_str();
        metrics::counter!("algoagent_jobs_started_total", "kind" => kind).increment(1);
        if let Some(wait) = row.started_at.and_then(|s| (s - row.enqueued_at).to_std().ok()) {
            metrics::histogram!("algoagent_job_queue_wait_seconds", "kind" => kind)
                .record(wait.as_secs_f64());
        }
        let cancel = CancellationToken::new();
        let running = Running {
            run_id: row.run_id,
            attempt: row.attempt,
            owner: owner.to_owned(),
            cancel: cancel.clone(),
        };
        self.in_flight.insert(row.id, running);
        tracing::info!(kind, "job started");
        let started = Instant::now();
        let outcome = self.handler.handle(&row, &envelope.payload, &cancel).await;
        self.in_flight.remove(row.id);
        let elapsed = started.elapsed();
        metrics::histogram!("algoagent_job_duration_seconds", "kind" => kind).record(elapsed.as_secs_f64());
        metrics::counter!("algoagent_jobs_finished_total", "kind" => kind, "outcome" => outcome_label(&outcome))
            .increment(1);
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        match &outcome {
            Ok(_) => tracing::info!(elapsed_ms, kind, "job succeeded"),
            Err(err) => tracing::info!(elapsed_ms, kind, error = %err, "job failed"),
        }
        self.settle(&row, outcome).await
    }

    /// Commits a handler's outcome according to its failure class.
    async fn settle(&self, row: &JobRow, outcome: Result<H::Effect, JobError>) -> Result<(), RunError> {
        let Some(kind) = jobs::kind_of(row) else {
            let error = format!("stored kind '{}'", row.kind);
            return self.dead(row, Some(row.attempt), "unknown_kind", &error).await;
        };
        match outcome {
            Ok(effect) => {
                let committed = match &self.batches {
                    Some(batches) => batches.succeed(row, kind, effect).await?,
                    None => {
                        succeed_alone(&*self.handler, &self.pool, &self.settler, row, kind, effect).await?
                    }
                };
                if !committed {
                    tracing::warn!("fenced out: another attempt owns this job; discarding our result");
                }
            }
            Err(JobError::Permanent(error)) => {
                let mut tx = self.pool.begin().await?;
                if self.settler.fail(&mut tx, row, kind, error).await? {
                    tx.commit().await?;
                }
            }
            Err(JobError::Poison(error)) => return self.dead(row, Some(row.attempt), "poison", &error).await,
            Err(err @ (JobError::Transient(_) | JobError::RetryAfter { .. })) => {
                let error = err.to_string();
                if row.attempt >= row.max_attempts {
                    return self.dead(row, Some(row.attempt), "attempts_exhausted", &error).await;
                }
                let at_least = match &err {
                    JobError::RetryAfter { after, .. } => Some(*after),
                    _ => None,
                };
                let tier = retry_tier(row.attempt, at_least);
                let Some(envelope) = row.envelope() else {
                    let error = "stored payload no longer decodes";
                    return self.dead(row, Some(row.attempt), "undecodable", error).await;
                };
                let mut tx = self.pool.begin().await?;
                if self.settler.retry(&mut tx, row, &envelope, &error, tier).await? {
                    tx.commit().await?;
                    metrics::counter!("algoagent_job_retries_total", "kind" => kind.as_str()).increment(1);
                    tracing::info!(retry_in_s = tier.as_secs(), "transient failure; retry scheduled");
                }
            }
        }
        Ok(())
    }

    async fn dead(
        &self,
        row: &JobRow,
        running_attempt: Option<i32>,
        reason: &str,
        error: &str,
    ) -> Result<(), RunError> {
        if self.settler.dead(&self.pool, row, running_attempt, reason, error).await? {
            tracing::warn!(reason, error, "job dead-lettered");
        }
        Ok(())
    }

    /// Looks at the job again once the lease of the worker holding it has run out.
    async fn recheck_later(&self, envelope: &JobEnvelope) -> Result<(), RunError> {
        Ok(self.settler.recheck_later(&self.pool, envelope, self.config.lease_ttl).await?)
    }
}

/// The Redis lease key of a job.
fn lease_key(job_id: JobId) -> String {
    format!("lease:job:{job_id}")
}

/// The `outcome` label of a finished job: how its handler ended, by failure class.
fn outcome_label<E>(outcome: &Result<E, JobError>) -> &'static str {
    match outcome {
        Ok(_) => "succeeded",
        Err(JobError::Permanent(_)) => "failed",
        Err(JobError::Transient(_) | JobError::RetryAfter { .. }) => "transient",
        Err(JobError::Poison(_)) => "poison",
    }
}

/// One job being worked on.
#[derive(Clone)]
struct Running {
    /// Its run (cancellation is per run).
    run_id: RunId,
    /// The attempt we hold (the fence).
    attempt: i32,
    /// Our Redis lease value.
    owner: String,
    /// Fired to stop the job (cancellation, lost lease).
    cancel: CancellationToken,
}

/// Registry of running jobs. A std mutex: held only for map operations, never across await.
#[derive(Default)]
struct InFlight(Mutex<HashMap<JobId, Running>>);

impl InFlight {
    fn insert(&self, id: JobId, running: Running) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(id, running);
        }
    }

    fn remove(&self, id: JobId) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&id);
        }
    }

    fn cancel_run(&self, run_id: RunId) -> usize {
        self.snapshot().iter().filter(|(_, r)| r.run_id == run_id).map(|(_, r)| r.cancel.cancel()).count()
    }

    fn snapshot(&self) -> Vec<(JobId, Running)> {
        self.0.lock().map(|m| m.iter().map(|(k, v)| (*k, v.clone())).collect()).unwrap_or_default()
    }
}
