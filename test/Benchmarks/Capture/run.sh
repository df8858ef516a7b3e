#!/usr/bin/env bash
# Times the capture triggers' cost to the site's writes: the bulk version-metric update of the
# upstream metrics job (2,100 random rows in one statement) and a single-row review insert and
# delete, each its own transaction (so the commit, with its NOTIFY, is timed too). Three modes
# side by side, in blocks of five, alternating, all in one session (as a pooled writer would run
# them: caches warm, trigger functions compiled once): the current capture (v2, keyed by the
# row that changed), the first capture format (v1, keyed by model, which looked versions up; its
# functions come from test/Bmm.Tests/Schema/V1 and write to a log table of their own), and none.
# Usage: PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=... run.sh [blocks]
# The database must be a seeded copy you can spare (`bmm migrate` applied): it changes its data.
# Not a test: it prints its figures and never fails on time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
blocks="${1:-6}"
psql -X -q -v ON_ERROR_STOP=1 -f "$here/setup.sql"
# The first format's functions and triggers, renamed into schema capture_bench.
sed -e 's/bmm\.change_log/capture_bench.change_log/g' \
    -e 's/FUNCTION bmm\.capture_/FUNCTION capture_bench.capture_/g' \
    -e 's/TRIGGER bmm_capture_/TRIGGER capture_bench_v1_/g' \
    "$here/../../Bmm.Tests/Schema/V1/capture_triggers.sql" | psql -X -q -v ON_ERROR_STOP=1
script=$(mktemp)
results=$(mktemp)
trap 'rm -f "$script" "$results"' EXIT
timed=(version_metric_update review_insert review_delete)
tables=('"ModelVersionMetric"' '"ResourceReview"' '"ResourceReview"')
switch() { # switch <prefix> <ENABLE|DISABLE>: the three timed triggers of one format
  for i in 0 1 2; do echo "ALTER TABLE ${tables[$i]} $2 TRIGGER $1${timed[$i]};"; done
}
{
  echo '\timing off'
  n=0
  for block in $(seq 1 "$blocks"); do
    for mode in v2 v1 none; do
      echo '\timing off'
      case $mode in
        v2) switch bmm_capture_ ENABLE; switch capture_bench_v1_ DISABLE ;;
        v1) switch bmm_capture_ DISABLE; switch capture_bench_v1_ ENABLE ;;
        none) switch bmm_capture_ DISABLE; switch capture_bench_v1_ DISABLE ;;
      esac
      echo '\timing on'
      for i in 1 2 3 4 5; do
        n=$((n + 1))
        set_id=$(( (n % 40) + 1 ))
        echo "\\echo $mode bulk"
        echo "UPDATE \"ModelVersionMetric\" m SET \"downloadCount\" = m.\"downloadCount\" + 1, \"updatedAt\" = now() FROM (SELECT unnest(ids) AS id FROM capture_bench_ids WHERE n = $set_id) s WHERE m.\"modelVersionId\" = s.id;"
        echo "\\echo $mode insert"
        echo "INSERT INTO \"ResourceReview\" (\"id\", \"modelId\", \"modelVersionId\", \"userId\", \"rating\") SELECT 2000000000 + $n, v.\"modelId\", v.\"id\", 1999999999, 5 FROM \"ModelVersion\" v WHERE v.\"id\" = (SELECT ids[1] FROM capture_bench_ids WHERE n = $set_id);"
        echo "\\echo $mode delete"
        echo "DELETE FROM \"ResourceReview\" WHERE \"id\" = 2000000000 + $n;"
      done
    done
  done
  echo '\timing off'
  switch bmm_capture_ ENABLE
  echo 'DROP SCHEMA capture_bench CASCADE;'
} > "$script"
psql -X -q -v ON_ERROR_STOP=1 -f "$script" | awk '/^(v2|v1|none) / { label = $1 " " $2; next } /^Time: / { print label, $2 }' > "$results"
for statement in bulk insert delete; do
  for mode in v2 v1 none; do
    grep "^$mode $statement " "$results" | awk '{ print $3 }' | sort -n |
      awk -v m="$mode" -v s="$statement" '{ v[NR] = $1 } END { printf "%-6s capture, %-6s: median %7.2f ms (min %.2f, max %.2f, n %d)\n", m, s, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
  done
done
