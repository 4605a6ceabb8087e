//! Listens on `<ns>.control` (fanout) through a private, auto-deleted queue, so every worker
//! hears every control message: today, "cancel run X", which stops that run's jobs in flight
//! (the sandbox container is killed through the job's cancellation token).

use std::sync::Arc;

use algoagent_core::{JobId, RunId};
use algoagent_runtime::backoff::{Backoff, Connected, reconnect};
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::WorkerRunner;
use crate::context::WorkerContext;

/// A control message: stop a run's jobs, or one standalone job.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Control {
    /// `{"cancel_run": id}`.
    Run {
        /// The run whose jobs stop.
        cancel_run: RunId,
    },
    /// `{"cancel_job": id}`.
    Job {
        /// The job to stop.
        cancel_job: JobId,
    },
}

/// Runs until `cancel` fires, reconnecting with backoff.
pub async fn run(ctx: Arc<WorkerContext>, runner: Arc<WorkerRunner>, cancel: CancellationToken) {
    metrics::counter!("algoagent_amqp_reconnects_total", "role" => "control").increment(0);
    reconnect("control listener", Backoff::default(), &cancel, |connected| async {
        let result = session(&ctx, &runner, &cancel, connected).await;
        if result.is_err() {
            metrics::counter!("algoagent_amqp_reconnects_total", "role" => "control").increment(1);
        }
        result
    })
    .await;
}

async fn session(
    ctx: &WorkerContext,
    runner: &WorkerRunner,
    cancel: &CancellationToken,
    connected: Connected,
) -> Result<(), algoagent_jobs::queue::QueueError> {
    let conn =
        algoagent_jobs::queue::connect(&ctx.settings.common.amqp_url, &format!("{}-control", ctx.worker_id))
            .await?;
    let channel = conn.create_channel().await?;
    algoagent_jobs::queue::topology::declare(&channel, &ctx.names).await?;
    let queue = channel
        .queue_declare(
            "",
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().as_str(),
            &ctx.names.control_exchange(),
            "",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut messages = channel
        .basic_consume(
            queue.name().as_str(),
            &format!("{}-control", ctx.worker_id),
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    connected.mark();
    loop {
        let next = tokio::select! {
            next = messages.next() => next,
            () = cancel.cancelled() => {
                let _ = conn.close(200, "shutdown").await;
                return Ok(());
            }
        };
        match next {
            Some(Ok(delivery)) => match serde_json::from_slice::<Control>(&delivery.data) {
                Ok(Control::Run { cancel_run }) => {
                    let stopped = runner.cancel_run(cancel_run);
                    tracing::info!(run_id = %cancel_run, stopped, "run cancelled; its jobs in flight were told to stop");
                }
                Ok(Control::Job { cancel_job }) => {
                    let stopped = runner.cancel_job(cancel_job);
                    tracing::info!(job_id = %cancel_job, stopped, "job cancelled; told to stop if it runs here");
                }
                Err(err) => tracing::warn!(error = %err, "ignoring an undecodable control message"),
            },
            Some(Err(err)) => return Err(err.into()),
            None => return Err(lapin::Error::InvalidChannelState(lapin::ChannelState::Closed).into()),
        }
    }
}
