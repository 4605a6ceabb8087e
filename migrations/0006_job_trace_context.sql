-- The W3C trace context (traceparent, tracestate) a job was enqueued under, so every message
-- of the job (first delivery, retries, a requeue after a lost lease) continues the run's one
-- trace. Empty when tracing was off.
ALTER TABLE jobs ADD COLUMN trace_context JSONB NOT NULL DEFAULT '{}'::jsonb;
