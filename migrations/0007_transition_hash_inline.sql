-- The hash chain's trigger computed each row's hash by calling the SQL function
-- transition_hash(), which PostgreSQL parses and plans again on every call from PL/pgSQL
-- (its cache lives only as long as one transaction): a profile of the job engine found
-- that parse in every transition insert. The trigger now evaluates the same expression
-- itself, where PL/pgSQL keeps its plan. transition_hash() stays, unchanged, for verifying
-- a chain (transitions_broken_links), and both must compute the same value: the
-- expression below is transition_hash()'s, with NEW for t.
CREATE OR REPLACE FUNCTION transitions_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    prev TEXT;
BEGIN
    -- One writer per entity chain at a time; other entities proceed in parallel.
    PERFORM pg_advisory_xact_lock(hashtextextended(NEW.entity_type || ':' || NEW.entity_id, 7));
    SELECT hash INTO prev FROM transitions
     WHERE entity_type = NEW.entity_type AND entity_id = NEW.entity_id
     ORDER BY id DESC LIMIT 1;
    NEW.at := clock_timestamp();
    NEW.prev_hash := coalesce(prev, 'genesis');
    NEW.hash := encode(sha256(convert_to(concat_ws(E'\x1f',
        NEW.prev_hash, NEW.entity_type, NEW.entity_id, coalesce(NEW.from_state, ''), NEW.to_state,
        NEW.actor, coalesce(NEW.job_id::text, ''), NEW.details::text,
        to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')), 'UTF8')), 'hex');
    RETURN NEW;
END $$;
