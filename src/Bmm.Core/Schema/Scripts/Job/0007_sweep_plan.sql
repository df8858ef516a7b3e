-- The models of a sweep too large for one run (more than Job:MaxModelsPerRun), written once when
-- the sweep starts: every later run of the sweep takes its next models from here, in model order,
-- instead of reading the sweep's log rows again (a bulk load's 8.9 million rows were read once per
-- run, 112 s of a 172 s drain). A new sweep replaces its consumer's plan; the transaction that
-- moves the position past the sweep removes it; dropping the consumer drops it.
CREATE TABLE bmm.sweep_plan (
    consumer      TEXT NOT NULL REFERENCES bmm.consumer (name) ON DELETE CASCADE,
    model_id      INTEGER NOT NULL,
    recount_bases TEXT[] NOT NULL,
    PRIMARY KEY (consumer, model_id)
);
