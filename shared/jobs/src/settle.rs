//! Settling a job: its new status and transition, and the message that follows (the event,
//! the retry, the requeue or the dead letter), in the caller's transaction. The one path the
//! worker (after a handler) and the coordinator's reaper (after a lost worker) both take, so
//! every way a job can end is written once.
//!
//! A settle that finds the job no longer at the caller's attempt returns `false`: another
//! attempt owns the job (the fence), and the caller must roll back.

use std::collections::BTreeMap;
use std::time::Duration;

use algoagent_core::{
    ENVELOPE_VERSION, JobEnvelope, JobEvent, JobKind, JobOutcome, JobResult, JobStatus, RETRY_TIERS,
    tier_name,
};
use sqlx::{PgConnection, PgPool};

use crate::db::DbError;
use crate::db::dead_letters::{self, NewDeadLetter};
use crate::db::jobs::{self, Finish, JobRow, Success};
use crate::db::outbox::{self, OutboxMessage};
use crate::queue::{Names, RETRY_TIER_HEADER};

/// Who settles (the actor of the transitions) and where the messages go.
#[derive(Debug, Clone)]
pub struct Settler {
    names: Names,
    actor: String,
    /// Whether a job's end is published as a job event (see [`Settler::without_events`]).
    events: bool,
}

impl Settler {
    /// A settler writing transitions as `actor` (`worker:<id>`, `reaper`) under `names`.
    pub fn new(names: Names, actor: impl Into<String>) -> Self {
        Self { names, actor: actor.into(), events: true }
    }

    /// The same settler publishing no job events: for a deployment with no consumer of them,
    /// where the handler queues what follows in `persist` (the engine's bench). Each job then
    /// costs the broker one message, its successor, instead of two. The coordinator needs the
    /// events (they advance runs), so the worker and the reaper keep them.
    #[must_use]
    pub fn without_events(self) -> Self {
        Self { events: false, ..self }
    }

    /// The job at `row.attempt` succeeded with `result`: `succeeded`, and its event (if any).
    pub async fn succeed(
        &self,
        tx: &mut PgConnection,
        row: &JobRow,
        kind: JobKind,
        result: JobResult,
    ) -> Result<bool, DbError> {
        let finish =
            Finish { to: JobStatus::Succeeded, result: Some(&result), error: None, actor: &self.actor };
        let event = self.event(row, kind, || JobOutcome::Succeeded { result: result.clone() });
        jobs::finish(tx, row.id, row.attempt, finish, event.as_ref()).await
    }

    /// The job at `row.attempt` succeeded with `result`, to be settled with others by
    /// [`Settler::succeed_many`]. Called in the job's span: its event carries that trace.
    pub fn success(&self, row: &JobRow, kind: JobKind, result: JobResult) -> Success {
        let then = self.event(row, kind, || JobOutcome::Succeeded { result: result.clone() });
        Success { job_id: row.id, attempt: row.attempt, result, then }
    }

    /// Every one of `successes` as [`Settler::succeed`] settles one, in one statement; false
    /// when any was fenced out (the caller must roll back: some may have moved).
    pub async fn succeed_many(&self, tx: &mut PgConnection, successes: &[Success]) -> Result<bool, DbError> {
        Ok(jobs::succeed_many(tx, successes, &self.actor).await? == successes.len())
    }

    /// The job at `row.attempt` failed for good: `failed`, and its event, if any (the run
    /// moves on).
    pub async fn fail(
        &self,
        tx: &mut PgConnection,
        row: &JobRow,
        kind: JobKind,
        error: String,
    ) -> Result<bool, DbError> {
        let finish = Finish { to: JobStatus::Failed, result: None, error: Some(&error), actor: &self.actor };
        let event = self.event(row, kind, || JobOutcome::Failed { error: error.clone() });
        jobs::finish(tx, row.id, row.attempt, finish, event.as_ref()).await
    }

    /// The job at `row.attempt` failed for now: back to `queued`, and its message through the
    /// retry tier `tier` (a TTL queue that dead-letters back to the jobs exchange).
    pub async fn retry(
        &self,
        tx: &mut PgConnection,
        row: &JobRow,
        envelope: &JobEnvelope,
        error: &str,
        tier: Duration,
    ) -> Result<bool, DbError> {
        let finish = Finish { to: JobStatus::Queued, result: None, error: Some(error), actor: &self.actor };
        let retry = self.retry_message(envelope, tier, row.trace_headers())?;
        jobs::finish(tx, row.id, row.attempt, finish, Some(&retry)).await
    }

    /// A running job whose lease ran out (its worker is gone): back to `queued`, and its
    /// message straight to the jobs exchange. False when the job moved meanwhile.
    pub async fn requeue(&self, tx: &mut PgConnection, row: &JobRow, reason: &str) -> Result<bool, DbError> {
        let Some(envelope) = row.envelope() else { return Ok(false) };
        if !jobs::set_status(tx, row.id, JobStatus::Queued, Some(reason), &self.actor).await? {
            return Ok(false);
        }
        outbox::push(
            tx,
            &OutboxMessage {
                exchange: self.names.jobs_exchange(),
                routing_key: envelope.kind.as_str().to_owned(),
                payload: encode(&envelope)?,
                headers: row.trace_headers(),
            },
        )
        .await?;
        Ok(true)
    }

    /// Sends the same message back through a retry tier, to look again once the current
    /// holder's lease (`lease`) has run out: a duplicate delivery while another worker runs it.
    pub async fn recheck_later(
        &self,
        pool: &PgPool,
        envelope: &JobEnvelope,
        lease: Duration,
    ) -> Result<(), DbError> {
        let tier = RETRY_TIERS.iter().copied().find(|t| *t >= lease / 2).unwrap_or(RETRY_TIERS[4]);
        let mut tx = pool.begin().await?;
        let trace = algoagent_runtime::tracecontext::current_headers();
        outbox::push(&mut tx, &self.retry_message(envelope, tier, trace)?).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Dead-letters a message that has no usable job row (undecodable, unknown kind,
    /// missing): a `dead_letters` row and the message to `<ns>.dlx` with the reason in headers.
    pub async fn dead_letter_raw(
        &self,
        pool: &PgPool,
        raw: &[u8],
        envelope: Option<&JobEnvelope>,
        reason: &str,
        error: &str,
    ) -> Result<(), DbError> {
        let kind = envelope.map(|e| e.kind.as_str());
        let mut tx = pool.begin().await?;
        let letter = NewDeadLetter {
            job_id: envelope.map(|e| e.job_id),
            run_id: envelope.map(|e| e.run_id),
            kind,
            reason,
            error,
            raw,
        };
        dead_letters::insert(&mut tx, &letter, &self.actor).await?;
        outbox::push(&mut tx, &self.dead_letter_message(raw, kind, reason, error)).await?;
        tx.commit().await?;
        count_dead_letter(kind, reason);
        Ok(())
    }

    /// Dead-letters a job: row `dead` (from `running_attempt`, or from a state that is not
    /// running when `None`), a `dead_letters` row, the message to `<ns>.dlx`, and a `dead`
    /// event so the run shows it (if this settler publishes events). False when the job moved
    /// meanwhile.
    pub async fn dead(
        &self,
        pool: &PgPool,
        row: &JobRow,
        running_attempt: Option<i32>,
        reason: &str,
        error: &str,
    ) -> Result<bool, DbError> {
        let Some(envelope) = row.envelope() else {
            self.dead_letter_raw(pool, row.payload.to_string().as_bytes(), None, reason, error).await?;
            return Ok(true);
        };
        let raw = serde_json::to_vec(&envelope).map_err(|e| DbError::Conflict(e.to_string()))?;
        let mut tx = pool.begin().await?;
        let moved = match running_attempt {
            Some(attempt) => {
                let finish =
                    Finish { to: JobStatus::Dead, result: None, error: Some(error), actor: &self.actor };
                jobs::finish(&mut tx, row.id, attempt, finish, None).await?
            }
            None => jobs::set_status(&mut tx, row.id, JobStatus::Dead, Some(error), &self.actor).await?,
        };
        if !moved {
            return Ok(false);
        }
        let kind = envelope.kind.as_str();
        let letter = NewDeadLetter {
            job_id: Some(row.id),
            run_id: Some(row.run_id),
            kind: Some(kind),
            reason,
            error,
            raw: &raw,
        };
        dead_letters::insert(&mut tx, &letter, &self.actor).await?;
        outbox::push(&mut tx, &self.dead_letter_message(&raw, Some(kind), reason, error)).await?;
        let outcome = || JobOutcome::Dead { reason: reason.to_owned(), error: error.to_owned() };
        if let Some(event) = self.event(row, envelope.kind, outcome) {
            outbox::push(&mut tx, &event).await?;
        }
        tx.commit().await?;
        count_dead_letter(Some(kind), reason);
        Ok(true)
    }

    /// The job event of `outcome`, unless this settler publishes none (then the outcome,
    /// a copy of the result or error, is not built).
    fn event(
        &self,
        row: &JobRow,
        kind: JobKind,
        outcome: impl FnOnce() -> JobOutcome,
    ) -> Option<OutboxMessage> {
        if !self.events {
            return None;
        }
        let outcome = outcome();
        let routing_key = format!("job.{}.{}", kind.as_str(), outcome.word());
        let event = JobEvent {
            v: ENVELOPE_VERSION,
            job_id: row.id,
            run_id: row.run_id,
            kind,
            attempt: row.attempt,
            outcome,
        };
        Some(OutboxMessage {
            exchange: self.names.events_exchange(),
            routing_key,
            payload: serde_json::to_value(&event).unwrap_or_default(),
            // The job's span parents what the coordinator does with the event.
            headers: algoagent_runtime::tracecontext::current_headers(),
        })
    }

    fn retry_message(
        &self,
        envelope: &JobEnvelope,
        tier: Duration,
        mut headers: BTreeMap<String, String>,
    ) -> Result<OutboxMessage, DbError> {
        headers.insert(RETRY_TIER_HEADER.to_owned(), tier_name(tier));
        Ok(OutboxMessage {
            exchange: self.names.retry_exchange(),
            routing_key: envelope.kind.as_str().to_owned(),
            payload: encode(envelope)?,
            headers,
        })
    }

    fn dead_letter_message(
        &self,
        raw: &[u8],
        kind: Option<&str>,
        reason: &str,
        error: &str,
    ) -> OutboxMessage {
        let payload = serde_json::from_slice(raw).unwrap_or_else(|_| {
            serde_json::json!({
                // Escaped, because Postgres text and jsonb refuse NUL and the bytes may be anything.
                "raw": String::from_utf8_lossy(raw).chars().take(4096).collect::<String>().escape_debug().to_string()
            })
        });
        let mut headers = algoagent_runtime::tracecontext::current_headers();
        headers.insert("x-algoagent-reason".to_owned(), reason.to_owned());
        headers.insert("x-algoagent-error".to_owned(), error.chars().take(1024).collect());
        if let Some(kind) = kind {
            headers.insert("x-algoagent-kind".into(), kind.to_owned());
        }
        OutboxMessage {
            exchange: self.names.dlx(),
            routing_key: kind.unwrap_or("unknown").to_owned(),
            payload,
            headers,
        }
    }
}

/// Counts a committed dead letter by kind and reason (a closed set of words).
fn count_dead_letter(kind: Option<&str>, reason: &str) {
    metrics::counter!(
        "algoagent_dead_letters_total",
        "kind" => kind.unwrap_or("unknown").to_owned(),
        "reason" => reason.to_owned()
    )
    .increment(1);
}

/// An envelope as an outbox payload.
fn encode(envelope: &JobEnvelope) -> Result<serde_json::Value, DbError> {
    serde_json::to_value(envelope).map_err(|e| DbError::Conflict(e.to_string()))
}
