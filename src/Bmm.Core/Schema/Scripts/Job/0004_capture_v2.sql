-- Capture v2: each change-log row says what changed, keyed by the row that changed (a version's
-- metric delta, a version's old and new placement, a review, a model), instead of which model
-- changed. The capture then reads no table but the rows being written, so nothing in a writer's
-- snapshot can race with it, and the incremental strategy applies metric changes as deltas.
--
-- How a live database moves to it without losing a change: `migrate` runs every script, this one
-- and the re-applied functions and capture triggers, in one transaction. This one first takes the
-- log's exclusive lock, so every row of the old format was written by a transaction that has
-- finished and none can be added meanwhile; those a recomputing consumer has not read yet become
-- queued models (every strategy takes the queue before the log); positions keep their transaction
-- id and cover all of it; the incremental state is rebuilt from a snapshot by its next run. Rows
-- of the new format can only come from transactions that write after this one commits, whose ids
-- are above every position (a position never passes a running transaction).

LOCK TABLE bmm.change_log IN ACCESS EXCLUSIVE MODE;

INSERT INTO bmm.model_queue (model_id)
SELECT DISTINCT l.model_id
FROM bmm.change_log l JOIN bmm.consumer c ON c.name <> 'incremental' AND (l.xid, l.model_id) > (c.xid, c.model_id)
ON CONFLICT (model_id) DO NOTHING;

TRUNCATE bmm.change_log;
DROP INDEX bmm.change_log_position_idx;
ALTER TABLE bmm.change_log
    DROP COLUMN model_id,
    DROP COLUMN recount,
    DROP COLUMN review_id,
    -- 'm' version metric, 'v' version, 'r' review, 'o' model.
    ADD COLUMN kind "char" NOT NULL,
    -- The row that changed: the version ('m', 'v'), the review ('r'), the model ('o').
    ADD COLUMN row_id INTEGER NOT NULL,
    -- 'm': new minus old downloads and images (an insert or a delete as the whole value).
    ADD COLUMN downloads BIGINT,
    ADD COLUMN images BIGINT,
    -- 'v': the version's model, base model and status in its old and new rows (null where the
    -- row was inserted or deleted).
    ADD COLUMN old_model INTEGER,
    ADD COLUMN new_model INTEGER,
    ADD COLUMN old_base TEXT,
    ADD COLUMN new_base TEXT,
    ADD COLUMN old_status TEXT,
    ADD COLUMN new_status TEXT,
    -- 'r': the review's version in its old and new rows, where the review counted there.
    ADD COLUMN old_version INTEGER,
    ADD COLUMN new_version INTEGER;
-- Positions are (xid, kind, row_id): consumers read in this order, and a cut never splits rows
-- with equal keys (a version changed by two statements of one transaction).
CREATE INDEX change_log_position_idx ON bmm.change_log (xid, kind, row_id);
-- The rows other than metric deltas (versions, reviews, models: a few in a hundred), found
-- without reading the deltas around them.
CREATE INDEX change_log_structure_idx ON bmm.change_log (xid, kind, row_id) WHERE kind <> 'm';

-- A position covers every row at or below (xid, kind, row_id); kind '~' sorts after every kind,
-- so (x, '~', 2147483647) covers all of transaction x.
ALTER TABLE bmm.consumer RENAME COLUMN model_id TO row_id;
ALTER TABLE bmm.consumer
    ADD COLUMN kind "char" NOT NULL DEFAULT '~',
    -- A recomputing consumer's sweep: the rows past its position and below sweep_end are being
    -- recomputed in model order, and the models up to sweep_model are done.
    ADD COLUMN sweep_end BIGINT,
    ADD COLUMN sweep_model INTEGER,
    -- The incremental consumer's bootstrap snapshot: a metric delta of a transaction below
    -- skip_below and not in skip_except was already in the snapshot the state was built from.
    ADD COLUMN skip_below BIGINT,
    ADD COLUMN skip_except BIGINT[];
UPDATE bmm.consumer SET kind = '~', row_id = 2147483647;
ALTER TABLE bmm.consumer ALTER COLUMN kind DROP DEFAULT;

-- The incremental state of v2 keeps no sums of its own: the visible table holds them (clamped to
-- int4 only where bmm.inc_overflow holds the true sums), so a metric change writes nothing but the
-- visible row, and inc_version holds only where each Published version counts.
DELETE FROM bmm.consumer WHERE name = 'incremental';
DROP TABLE bmm.inc_pair;
TRUNCATE bmm.inc_version, bmm.inc_review, bmm.inc_thumb;
ALTER TABLE bmm.inc_version DROP COLUMN downloads, DROP COLUMN images, RESET (fillfactor);
-- A metric delta maps its version to its pair from the primary key alone (an index-only scan).
ALTER TABLE bmm.inc_version DROP CONSTRAINT inc_version_pkey, ADD PRIMARY KEY (version_id) INCLUDE (model_id, base_model);
DROP INDEX bmm.inc_version_model_idx;
CREATE INDEX inc_version_pair_idx ON bmm.inc_version (model_id, base_model);

CREATE TABLE bmm.inc_overflow (
    model_id   INTEGER NOT NULL,
    base_model TEXT NOT NULL,
    downloads  BIGINT NOT NULL,
    images     BIGINT NOT NULL,
    PRIMARY KEY (model_id, base_model)
);

-- A bootstrap in progress: the snapshot its state was built from, and the pairs it computed,
-- written to the visible table in batches before the consumer's position is set.
CREATE TABLE bmm.inc_bootstrap (
    singleton    BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    snapshot_xmin BIGINT NOT NULL,
    snapshot_xmax BIGINT NOT NULL,
    snapshot_xip  BIGINT[] NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE bmm.inc_bootstrap_pair (
    model_id   INTEGER NOT NULL,
    base_model TEXT NOT NULL,
    thumbs     INTEGER NOT NULL,
    downloads  BIGINT NOT NULL,
    images     BIGINT NOT NULL,
    PRIMARY KEY (model_id, base_model)
);
