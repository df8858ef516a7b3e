-- The clickhouse strategy's row versions: every row it mirrors into ClickHouse carries one, and
-- ReplacingMergeTree keeps the highest, so a batch read later always wins over one read earlier,
-- even when no transaction id was assigned between the two reads.
CREATE SEQUENCE bmm.clickhouse_version;

-- Models whose rows the clickhouse strategy has mirrored but whose pairs it has not yet written:
-- filled by a batch in the transaction that advances its position past the rows it mirrored,
-- emptied in model order by the transactions that write them. A backlog of any number of
-- batches thus recomputes each model once, and a killed run leaves position and models to do
-- consistent. whole: every row of the model is compared (a pair may have gone).
CREATE TABLE bmm.clickhouse_pending (
    model_id INTEGER PRIMARY KEY,
    whole    BOOLEAN NOT NULL
);
