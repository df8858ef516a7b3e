-- Every run starts by marking the runs still 'running' abandoned (their process died); the
-- history is never pruned, so that look-up goes through the few rows it can find, not a scan.
CREATE INDEX run_history_running_idx ON bmm.run_history (id) WHERE outcome = 'running';
