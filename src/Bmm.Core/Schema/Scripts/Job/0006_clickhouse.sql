-- The clickhouse strategy's row versions: every row it mirrors into ClickHouse carries one, and
-- ReplacingMergeTree keeps the highest, so a batch read later always wins over one read earlier,
-- even when no transaction id was assigned between the two reads.
CREATE SEQUENCE bmm.clickhouse_version;
