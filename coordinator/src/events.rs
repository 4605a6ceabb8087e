//! Consumes job events and advances runs. Each event is applied in one transaction: lock
//! the run, check it is in the state the event belongs to, move it, enqueue the next job
//! (job row + transition + outbox message). A duplicate or stale event finds the run
//! elsewhere and changes nothing, so redeliveries are harmless.

use std::sync::Arc;

use algoagent_core::{JobEvent, JobId, RunStatus};
use algoagent_jobs::db::dead_letters::{self, NewDeadLetter};
use algoagent_jobs::db::jobs::{self, NewJob};
use algoagent_jobs::queue::ConsumerConfig;
use algoagent_store::runs;
use lapin::message::Delivery;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::pipeline::{FixBudget, decide};
use crate::state::AppState;

/// Consumes `<ns>.coordinator.events` until cancelled.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let config = ConsumerConfig {
        amqp_url: state.settings.common.amqp_url.clone(),
        names: state.names.clone(),
        queues: vec![state.names.coordinator_events_queue()],
        tag: format!("coordinator-{}", std::process::id()),
        prefetch: 32,
        drain_timeout: state.settings.common.drain_timeout,
    };
    let permits = Arc::new(Semaphore::new(32));
    algoagent_jobs::queue::consume(config, permits, TaskTracker::new(), cancel, move |delivery| {
        let state = state.clone();
        async move { handle(&state, delivery).await }
    })
    .await;
}

async fn handle(state: &AppState, delivery: Delivery) {
    let result = match serde_json::from_slice::<JobEvent>(&delivery.data) {
        Ok(event) => {
            let span = tracing::info_span!(
                "event",
                otel.name = format!("event {} {}", event.kind, event.outcome.word()),
                otel.kind = "consumer",
                job_id = %event.job_id,
                run_id = %event.run_id,
                kind = %event.kind,
                outcome = event.outcome.word(),
            );
            let headers = delivery.properties.headers().as_ref();
            algoagent_runtime::tracecontext::continue_from(&span, |key| {
                algoagent_jobs::queue::header_str(headers, key)
            });
            apply(state, &event).instrument(span).await
        }
        Err(err) => poison(state, &delivery.data, &err.to_string()).await,
    };
    algoagent_jobs::queue::settle_delivery(&delivery, "job event", result).await;
}

/// Applies one event to its run.
pub async fn apply(state: &AppState, event: &JobEvent) -> anyhow::Result<()> {
    if event.kind.is_standalone() {
        // A standalone job (sandbox-test, run-sandbox) ends on its own row; the run it hangs
        // off is not in a state for it, and the API reads the row.
        tracing::debug!("standalone job event; no run to advance");
        return Ok(());
    }
    let mut tx = state.pool.begin().await?;
    let Some(run) = runs::lock(&mut tx, event.run_id).await? else {
        tracing::warn!("event for an unknown run; dropping it as poison");
        drop(tx);
        return poison(state, &serde_json::to_vec(event)?, "event for an unknown run").await;
    };
    let budget = FixBudget {
        used: run.fix_attempts,
        max: run.max_fix_attempts,
        provider_fixes: run.provider != algoagent_llm::BUILTIN,
    };
    let Some(step) = decide(event.kind, &event.outcome, budget) else {
        return Ok(());
    };
    if run.status() != step.from {
        tracing::info!(run_status = %run.status, expected = %step.from, "stale or duplicate event; nothing to do");
        return Ok(());
    }
    let mut details = serde_json::json!({ "event": event.outcome.word(), "attempt": event.attempt });
    if let Some(reason) = &step.reason {
        details["reason"] = serde_json::Value::String(reason.clone());
    }
    runs::advance(&mut tx, run.id, step.from, step.to, state.actor(), Some(event.job_id), details).await?;
    if step.to == RunStatus::Fixing {
        runs::bump_fix_attempts(&mut tx, run.id).await?;
    }
    if let Some(payload) = step.next_job {
        let max_attempts = state.settings.common.attempts_for(payload.kind());
        let job =
            NewJob { id: JobId::new(), run_id: run.id, strategy_id: run.strategy_id, payload, max_attempts };
        jobs::enqueue(&mut tx, &job, &state.names.jobs_exchange(), state.actor()).await?;
    }
    if step.to == RunStatus::Merged {
        runs::set_strategy_status(
            &mut tx,
            run.strategy_id,
            "merged",
            state.actor(),
            serde_json::json!({ "run_id": run.id }),
        )
        .await?;
    }
    tx.commit().await?;
    metrics::counter!("algoagent_run_transitions_total", "to" => step.to.as_str()).increment(1);
    tracing::info!(from = %step.from, to = %step.to, "run advanced");
    Ok(())
}

async fn poison(state: &AppState, raw: &[u8], error: &str) -> anyhow::Result<()> {
    tracing::warn!(error, "poison event dead-lettered");
    let mut tx = state.pool.begin().await?;
    dead_letters::insert(
        &mut tx,
        &NewDeadLetter { job_id: None, run_id: None, kind: None, reason: "undecodable_event", error, raw },
        state.actor(),
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("algoagent_dead_letters_total", "kind" => "unknown", "reason" => "undecodable_event")
        .increment(1);
    Ok(())
}
