-- What only the owner of a table may do, for a job that runs under a role holding just the
-- GRANTs `migrate` prints: these run as the schema's owner (SECURITY DEFINER, a search_path of
-- the catalog only, every object named with its schema). EXECUTE stays with PUBLIC: only roles
-- granted USAGE on schema bmm can reach them, and each does one fixed, harmless thing.

-- reviews-mv's refresh; readers of the view are not blocked while it is recomputed.
CREATE OR REPLACE FUNCTION bmm.refresh_review_stats() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY bmm.review_stats;
END;
$$;

-- Statistics of the incremental state right after its bootstrap filled it (a non-owner's
-- ANALYZE is skipped with a warning, leaving the planner blind to millions of new rows).
CREATE OR REPLACE FUNCTION bmm.analyze_incremental_state() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ANALYZE bmm.inc_version, bmm.inc_review, bmm.inc_thumb, bmm.inc_bootstrap_pair;
END;
$$;
