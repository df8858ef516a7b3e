#!/usr/bin/env bash
# Times the capture triggers' cost to the site's writes: the bulk version-metric update of the
# upstream metrics job (2,100 random rows in one statement) and a single-row review insert and
# delete, each in its own transaction (so the commit, with its NOTIFY, is timed too), in blocks
# of five with the capture triggers enabled and disabled, alternating.
# Usage: PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=... run.sh [blocks]
# The database must be a seeded copy you can spare (`bmm migrate` applied): it changes its data.
# Not a test: it prints its figures and never fails on time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
blocks="${1:-4}"
psql -X -q -v ON_ERROR_STOP=1 -f "$here/setup.sql"

# Prints the server-side time of one statement, in milliseconds.
timed() {
  psql -X -q -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}

capture() {
  psql -X -q -v ON_ERROR_STOP=1 -c "ALTER TABLE \"ModelVersionMetric\" $1 TRIGGER bmm_capture_version_metric_update" \
    -c "ALTER TABLE \"ResourceReview\" $1 TRIGGER bmm_capture_review_insert" -c "ALTER TABLE \"ResourceReview\" $1 TRIGGER bmm_capture_review_delete"
}

n=0
for block in $(seq 1 "$blocks"); do
  for mode in ENABLE DISABLE; do
    capture "$mode"
    for i in 1 2 3 4 5; do
      n=$((n + 1))
      bulk=$(timed "UPDATE \"ModelVersionMetric\" m SET \"downloadCount\" = m.\"downloadCount\" + 1, \"updatedAt\" = now()
                    FROM (SELECT unnest(ids) AS id FROM capture_bench_ids WHERE n = $(( (n % 40) + 1 ))) s WHERE m.\"modelVersionId\" = s.id")
      insert=$(timed "INSERT INTO \"ResourceReview\" (\"id\", \"modelId\", \"modelVersionId\", \"userId\", \"rating\")
                      SELECT 2000000000 + $n, v.\"modelId\", v.\"id\", 1999999999, 5 FROM \"ModelVersion\" v
                      WHERE v.\"id\" = (SELECT ids[1] FROM capture_bench_ids WHERE n = $(( (n % 40) + 1 )))")
      delete=$(timed "DELETE FROM \"ResourceReview\" WHERE \"id\" = 2000000000 + $n")
      echo "$mode bulk_metric_update_ms=$bulk review_insert_ms=$insert review_delete_ms=$delete"
    done
  done
done | tee /tmp/capture-bench.txt
capture ENABLE
for mode in ENABLE DISABLE; do
  for column in bulk_metric_update_ms review_insert_ms review_delete_ms; do
    grep "^$mode " /tmp/capture-bench.txt | grep -oE "$column=[0-9.]+" | cut -d= -f2 | sort -n |
      awk -v m="$mode" -v c="$column" '{ v[NR] = $1 } END { printf "%s capture %s: median %.2f (min %.2f, max %.2f, n %d)\n", (m == "ENABLE" ? "with" : "without"), c, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
  done
done
