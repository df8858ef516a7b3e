-- Every function of the job but the capture's trigger functions is dropped here and created
-- again by the scripts after this one, in migrate's transaction: a function whose arguments or
-- results changed between versions is replaced as simply as one that did not, and no function of
-- an older version lingers. Nothing but the job's own code calls them (by name, at run time), so
-- dropping them breaks nothing that the same transaction does not restore.
DO $$
DECLARE
    f REGPROCEDURE;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'bmm' AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END;
$$;
