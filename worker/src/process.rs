//! One delivery from decode to ack: lease, claim, handler, commit, ack. Every failure class
//! maps to exactly one action here (invariant 4): transient -> retry tier, permanent -> the
//! run moves on, poison -> dead-letter. The delivery is acked only after its outcome is
//! committed (invariant 3); if Postgres itself is unreachable the delivery is requeued.

use algoagent_core::{JobEnvelope, JobError, JobKind};
use algoagent_jobs::db::jobs::ClaimOutcome;
use lapin::message::Delivery;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::commit;
use crate::context::{Running, WorkerContext};
use crate::handlers;

/// Handles one delivery and acks or requeues it.
pub async fn handle_delivery(ctx: &WorkerContext, delivery: Delivery) {
    let committed = process(ctx, &delivery).await;
    algoagent_jobs::queue::settle_delivery(&delivery, "job", committed).await;
}

async fn process(ctx: &WorkerContext, delivery: &Delivery) -> anyhow::Result<()> {
    let envelope = match JobEnvelope::decode(&delivery.data) {
        Ok(envelope) => envelope,
        Err(err) => {
            let reason = err.reason();
            tracing::warn!(reason, error = %err, "poison message");
            return Ok(ctx
                .settler
                .dead_letter_raw(&ctx.pool, &delivery.data, None, reason, &err.to_string())
                .await?);
        }
    };
    if !ctx.kinds.contains(&envelope.kind) {
        let error = format!("worker serving {:?} received a {} job", ctx.kinds, envelope.kind);
        return Ok(ctx
            .settler
            .dead_letter_raw(&ctx.pool, &delivery.data, Some(&envelope), "wrong_queue", &error)
            .await?);
    }
    let span = tracing::info_span!("job", job_id = %envelope.job_id, run_id = %envelope.run_id, strategy_id = %envelope.strategy_id, kind = %envelope.kind, attempt = tracing::field::Empty);
    run_leased(ctx, &envelope).instrument(span).await
}

async fn run_leased(ctx: &WorkerContext, envelope: &JobEnvelope) -> anyhow::Result<()> {
    let key = WorkerContext::lease_key(envelope.job_id);
    let owner = format!("{}:{}", ctx.worker_id, uuid::Uuid::new_v4());
    if !ctx.leases.acquire(&key, &owner, ctx.settings.common.lease_ttl).await? {
        tracing::info!("another worker holds the lease; checking again later");
        return recheck_later(ctx, envelope).await;
    }
    let result = run_claimed(ctx, envelope, &owner).await;
    if let Err(err) = ctx.leases.release(&key, &owner).await {
        tracing::warn!(error = %err, "could not release lease (it will expire)");
    }
    result
}

async fn run_claimed(ctx: &WorkerContext, envelope: &JobEnvelope, owner: &str) -> anyhow::Result<()> {
    match algoagent_jobs::db::jobs::claim(
        &ctx.pool,
        envelope.job_id,
        &ctx.worker_id,
        ctx.settings.common.lease_ttl,
    )
    .await?
    {
        ClaimOutcome::Finished(status) => {
            tracing::info!(status = status.as_str(), "job already finished; acking the duplicate");
            Ok(())
        }
        ClaimOutcome::Busy => recheck_later(ctx, envelope).await,
        ClaimOutcome::Missing => {
            let raw = serde_json::to_vec(envelope)?;
            let settled = ctx.settler.dead_letter_raw(
                &ctx.pool,
                &raw,
                Some(envelope),
                "missing_job",
                "no such job row",
            );
            Ok(settled.await?)
        }
        ClaimOutcome::OverLimit(row) => {
            let error = row.error.clone().unwrap_or_else(|| "attempt limit reached".into());
            commit::dead(ctx, &row, None, "attempts_exhausted", &error).await
        }
        ClaimOutcome::Claimed(row) => {
            tracing::Span::current().record("attempt", row.attempt);
            let kind = envelope.kind.as_str();
            metrics::counter!("algoagent_jobs_started_total", "kind" => kind).increment(1);
            if let Some(wait) = row.started_at.and_then(|s| (s - row.enqueued_at).to_std().ok()) {
                metrics::histogram!("algoagent_job_queue_wait_seconds", "kind" => kind)
                    .record(wait.as_secs_f64());
            }
            let cancel = CancellationToken::new();
            ctx.in_flight.insert(
                row.id,
                Running {
                    run_id: row.run_id,
                    attempt: row.attempt,
                    owner: owner.to_owned(),
                    cancel: cancel.clone(),
                },
            );
            tracing::info!(kind = %envelope.kind, "job started");
            let started = std::time::Instant::now();
            let outcome = handlers::run(ctx, &row, &envelope.payload, &cancel).await;
            ctx.in_flight.remove(row.id);
            let elapsed = started.elapsed();
            metrics::histogram!("algoagent_job_duration_seconds", "kind" => kind)
                .record(elapsed.as_secs_f64());
            metrics::counter!("algoagent_jobs_finished_total", "kind" => kind, "outcome" => outcome_label(&outcome))
                .increment(1);
            let kind: JobKind = envelope.kind;
            match &outcome {
                Ok(_) => {
                    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, %kind, "job succeeded")
                }
                Err(err) => {
                    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, %kind, error = %err, "job failed")
                }
            }
            commit::outcome(ctx, &row, outcome).await
        }
    }
}

/// Looks at the job again once the lease of the worker holding it has run out.
async fn recheck_later(ctx: &WorkerContext, envelope: &JobEnvelope) -> anyhow::Result<()> {
    Ok(ctx.settler.recheck_later(&ctx.pool, envelope, ctx.settings.common.lease_ttl).await?)
}

/// The `outcome` label of a finished job: how its handler ended, by failure class.
fn outcome_label(outcome: &Result<commit::Effect, JobError>) -> &'static str {
    match outcome {
        Ok(_) => "succeeded",
        Err(JobError::Permanent(_)) => "failed",
        Err(JobError::Transient(_) | JobError::RetryAfter { .. }) => "transient",
        Err(JobError::Poison(_)) => "poison",
    }
}
