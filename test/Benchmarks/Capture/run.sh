#!/usr/bin/env bash
# Times the capture triggers' cost to the site's writes: the bulk version-metric update of the
# upstream metrics job (2,100 random rows in one statement) and a single-row review insert and
# delete, each its own transaction (so the commit, with its NOTIFY, is timed too), in blocks of
# five with the capture triggers enabled and disabled, alternating, all in one session (as a
# pooled writer would run them: caches warm, trigger functions compiled once).
# Usage: PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=... run.sh [blocks]
# The database must be a seeded copy you can spare (`bmm migrate` applied): it changes its data.
# Not a test: it prints its figures and never fails on time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
blocks="${1:-6}"
psql -X -q -v ON_ERROR_STOP=1 -f "$here/setup.sql"
script=$(mktemp)
results=$(mktemp)
trap 'rm -f "$script" "$results"' EXIT
{
  n=0
  for block in $(seq 1 "$blocks"); do
    for mode in ENABLE DISABLE; do
      echo '\timing off'
      for trigger in '"ModelVersionMetric" % bmm_capture_version_metric_update' '"ResourceReview" % bmm_capture_review_insert' '"ResourceReview" % bmm_capture_review_delete'; do
        echo "ALTER TABLE ${trigger%% %*} $mode TRIGGER ${trigger##*% };"
      done
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
  for trigger in '"ModelVersionMetric" % bmm_capture_version_metric_update' '"ResourceReview" % bmm_capture_review_insert' '"ResourceReview" % bmm_capture_review_delete'; do
    echo "ALTER TABLE ${trigger%% %*} ENABLE TRIGGER ${trigger##*% };"
  done
} > "$script"
psql -X -q -v ON_ERROR_STOP=1 -f "$script" | awk '/^(ENABLE|DISABLE) / { label = $1 " " $2; next } /^Time: / { print label, $2 }' > "$results"
for mode in ENABLE DISABLE; do
  for statement in bulk insert delete; do
    grep "^$mode $statement " "$results" | awk '{ print $3 }' | sort -n |
      awk -v m="$mode" -v s="$statement" '{ v[NR] = $1 } END { printf "%-8s capture, %-6s: median %7.2f ms (min %.2f, max %.2f, n %d)\n", (m == "ENABLE" ? "with" : "without"), s, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
  done
done
