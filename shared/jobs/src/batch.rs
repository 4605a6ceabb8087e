//! Claims and successes of concurrent jobs, each committed together: one transaction (one
//! commit, one WAL flush) for every claim, or every success, waiting when a lane is free,
//! instead of one each. Each job still gets its own transition and its own fence; a batch
//! only shares the transaction, and the statement that ends its jobs (one round trip for the
//! batch's ends, after each job's effect).
//!
//! A claim the batch did not take (busy, finished, over its limit) is claimed again alone, to
//! say why. If any job in a batch of successes is fenced out or its effect fails to write,
//! the batch rolls back and every job in it is settled again on its own, so one job's failure
//! never ends another's success. That needs the effect twice, hence `Clone`. A batch is
//! whatever is queued when a lane takes it: nothing waits for a batch to fill, so a lone job
//! is claimed and settled as soon as before.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use algoagent_core::{JobId, JobKind};
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument;

use crate::db::DbError;
use crate::db::jobs::{self, ClaimOutcome, JobRow};
use crate::runner::{Handler, RunError};
use crate::settle::Settler;

/// One job's success, waiting for a lane.
struct Pending<E> {
    row: JobRow,
    kind: JobKind,
    effect: E,
    /// The job's span, so what the settle writes and logs stays in the job's trace.
    span: tracing::Span,
    /// Whether the job's end committed (false: fenced out).
    done: oneshot::Sender<Result<bool, RunError>>,
}

/// The queue of successes and the lanes that commit them.
pub struct SettleBatches<H: Handler> {
    queue: mpsc::UnboundedSender<Pending<H::Effect>>,
}

impl<H: Handler> SettleBatches<H>
where
    H::Effect: Clone,
{
    /// Starts `lanes` tasks, each committing up to `max` queued successes per transaction.
    /// They stop once these batches are dropped and the queue is empty.
    pub fn spawn(handler: Arc<H>, pool: PgPool, settler: Settler, lanes: usize, max: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..lanes.max(1) {
            let lane = Lane {
                handler: Arc::clone(&handler),
                pool: pool.clone(),
                settler: settler.clone(),
                max: max.max(1),
            };
            tokio::spawn(lane.run(Arc::clone(&receiver)));
        }
        Self { queue }
    }
}

impl<H: Handler> SettleBatches<H> {
    /// Settles the job at `row.attempt` as succeeded with `effect`, together with whatever
    /// else is waiting; false when the job was fenced out (nothing of it was written).
    pub async fn succeed(&self, row: &JobRow, kind: JobKind, effect: H::Effect) -> Result<bool, RunError> {
        let (done, result) = oneshot::channel();
        let pending = Pending { row: row.clone(), kind, effect, span: tracing::Span::current(), done };
        self.queue.send(pending).map_err(|_| RunError::Stopped)?;
        result.await.map_err(|_| RunError::Stopped)?
    }
}

/// One committer: takes what is queued, commits it as one transaction, answers each job.
struct Lane<H> {
    handler: Arc<H>,
    pool: PgPool,
    settler: Settler,
    max: usize,
}

impl<H: Handler> Lane<H>
where
    H::Effect: Clone,
{
    async fn run(self, receiver: Arc<Mutex<mpsc::UnboundedReceiver<Pending<H::Effect>>>>) {
        while let Some(batch) = next_batch(&receiver, self.max).await {
            self.settle(batch).await;
        }
    }

    async fn settle(&self, mut batch: Vec<Pending<H::Effect>>) {
        if batch.len() > 1 {
            match self.commit_together(&mut batch).await {
                Ok(true) => {
                    for pending in batch {
                        let _ = pending.done.send(Ok(true));
                    }
                    return;
                }
                Ok(false) => tracing::debug!(
                    jobs = batch.len(),
                    "a job in the batch was fenced out; settling each alone"
                ),
                Err(err) => {
                    tracing::warn!(jobs = batch.len(), error = %err, "batch failed; settling each alone")
                }
            }
        }
        for pending in batch {
            let Pending { row, kind, effect, span, done } = pending;
            let result = succeed_alone(&*self.handler, &self.pool, &self.settler, &row, kind, effect)
                .instrument(span)
                .await;
            let _ = done.send(result);
        }
    }

    /// Every job's effect and end in one transaction; false (rolled back) as soon as one is
    /// fenced out. (Mutable only so that the borrow is `Send` without the effect being `Sync`.)
    async fn commit_together(&self, batch: &mut [Pending<H::Effect>]) -> Result<bool, RunError> {
        let mut tx = self.pool.begin().await?;
        let mut successes = Vec::with_capacity(batch.len());
        for pending in batch.iter_mut() {
            let effect = pending.effect.clone();
            let result =
                self.handler.persist(&mut tx, &pending.row, effect).instrument(pending.span.clone()).await?;
            let success = pending.span.in_scope(|| self.settler.success(&pending.row, pending.kind, result));
            successes.push(success);
        }
        // Every job's end in one statement, each behind its own fence.
        if !self.settler.succeed_many(&mut tx, &successes).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// One job's effect and end in a transaction of its own; false (rolled back) when it was
/// fenced out.
pub(crate) async fn succeed_alone<H: Handler>(
    handler: &H,
    pool: &PgPool,
    settler: &Settler,
    row: &JobRow,
    kind: JobKind,
    effect: H::Effect,
) -> Result<bool, RunError> {
    let mut tx = pool.begin().await?;
    let result = handler.persist(&mut tx, row, effect).await?;
    if !settler.succeed(&mut tx, row, kind, result).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Everything queued, up to `max`, once there is at least one; `None` once the queue is closed
/// and empty. Lanes sharing `receiver` take turns.
async fn next_batch<T>(receiver: &Mutex<mpsc::UnboundedReceiver<T>>, max: usize) -> Option<Vec<T>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        let Ok(next) = receiver.try_recv() else { break };
        batch.push(next);
    }
    Some(batch)
}

/// One delivery's claim, waiting for the lane.
struct Claim {
    job_id: JobId,
    done: oneshot::Sender<Result<ClaimOutcome, DbError>>,
}

/// The queue of claims and the lane that takes them, for one worker.
pub struct ClaimBatches {
    queue: mpsc::UnboundedSender<Claim>,
}

impl ClaimBatches {
    /// Starts the lane: it claims up to `max` queued jobs per statement for `worker`, each
    /// with a lease of `lease`. It stops once these batches are dropped and the queue is empty.
    pub fn spawn(pool: PgPool, worker: String, lease: Duration, max: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Mutex::new(receiver);
        let max = max.max(1);
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&receiver, max).await {
                claim_batch(&pool, &worker, lease, batch).await;
            }
        });
        Self { queue }
    }

    /// Claims the job, together with whatever else is waiting (see [`jobs::claim`]).
    pub async fn claim(&self, job_id: JobId) -> Result<ClaimOutcome, RunError> {
        let (done, result) = oneshot::channel();
        self.queue.send(Claim { job_id, done }).map_err(|_| RunError::Stopped)?;
        Ok(result.await.map_err(|_| RunError::Stopped)??)
    }
}

/// Claims a batch in one statement; a job it did not take is claimed alone, to say why.
async fn claim_batch(pool: &PgPool, worker: &str, lease: Duration, batch: Vec<Claim>) {
    let mut taken: HashMap<JobId, JobRow> = HashMap::new();
    if batch.len() > 1 {
        let ids: Vec<JobId> = batch.iter().map(|c| c.job_id).collect();
        match jobs::claim_many(pool, &ids, worker, lease).await {
            Ok(rows) => taken.extend(rows.into_iter().map(|row| (row.id, row))),
            Err(err) => {
                tracing::warn!(jobs = batch.len(), error = %err, "batched claim failed; claiming each alone")
            }
        }
    }
    for Claim { job_id, done } in batch {
        let outcome = match taken.remove(&job_id) {
            Some(row) => Ok(ClaimOutcome::Claimed(row)),
            None => jobs::claim(pool, job_id, worker, lease).await,
        };
        let _ = done.send(outcome);
    }
}
