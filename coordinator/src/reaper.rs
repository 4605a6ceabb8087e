//! The reaper: jobs whose lease ran out (their worker died without a word) go back to the
//! queue. One coordinator replica reaps per tick (transaction-scoped advisory lock), and rows
//! are taken with `SKIP LOCKED`, so replicas never double-reap.

use std::time::Duration;

use algoagent_jobs::db::jobs;
use algoagent_jobs::settle::Settler;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Advisory lock key of the reaper leader ("reap" in ASCII).
const REAPER_LOCK: i64 = 0x7265_6170;

/// Reaps every few seconds until cancelled.
pub async fn run(state: AppState, cancel: CancellationToken) {
    metrics::counter!("algoagent_leases_expired_total").increment(0);
    let every =
        (state.settings.common.lease_ttl / 4).clamp(Duration::from_millis(500), Duration::from_secs(10));
    loop {
        match reap_once(&state).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(requeued = n, "reaper requeued jobs with expired leases");
                metrics::counter!("algoagent_leases_expired_total").increment(n as u64);
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "reaper tick failed"),
        }
        if algoagent_runtime::backoff::sleep_or_cancel(every, &cancel).await {
            return;
        }
    }
}

/// One reaping pass; returns how many jobs were requeued.
pub async fn reap_once(state: &AppState) -> anyhow::Result<usize> {
    let mut tx = state.pool.begin().await?;
    let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(REAPER_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !leader {
        return Ok(0);
    }
    let expired = jobs::expired_leases(&mut tx, 100).await?;
    let settler = Settler::new(state.names.clone(), "reaper");
    let mut requeued = 0;
    for row in expired {
        if settler.requeue(&mut tx, &row, "lease expired: worker lost").await? {
            requeued += 1;
        }
    }
    tx.commit().await?;
    Ok(requeued)
}
