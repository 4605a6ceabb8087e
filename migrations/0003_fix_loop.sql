-- The fix loop: a fixed version points at the version it repairs, and a version that failed
-- keeps why (validator findings or the backtest's error), which the fix prompt quotes.
ALTER TABLE strategy_versions ADD COLUMN parent_id BIGINT REFERENCES strategy_versions(id);
ALTER TABLE strategy_versions ADD COLUMN failure TEXT;
