#!/usr/bin/env bash
# Times `bmm backfill` on the emptied table against one INSERT ... SELECT of the oracle.
# Usage: PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=... run.sh [rounds]
# The database must be migrated (`bmm migrate --with-site-schema`) and seeded (seed.sql).
# Not a test: it prints its figures and never fails on time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../../.."
rounds="${1:-3}"
connection="Host=$PGHOST;Port=$PGPORT;Username=$PGUSER;Password=$PGPASSWORD;Database=$PGDATABASE"
dotnet build "$root/src/Bmm" -c Release -o "$here/bin" -v quiet -nologo >/dev/null
for round in $(seq 1 "$rounds"); do
  oracle=$(psql -X -q -f "$here/oracle-insert.sql" | grep -A0 '^Time' | sed -n 4p | awk '{print $2 / 1000}')
  psql -X -q -c 'TRUNCATE "ModelBaseModelMetric"' -c 'CHECKPOINT'
  backfill=$("$here/bin/bmm" backfill --connection "$connection" 2>&1 | grep -oE 'unchanged in [0-9.]+s' | grep -oE '[0-9.]+')
  unchanged=$("$here/bin/bmm" backfill --connection "$connection" 2>&1 | grep -oE 'unchanged in [0-9.]+s' | grep -oE '[0-9.]+')
  echo "round $round: oracle INSERT ... SELECT ${oracle}s; backfill of the empty table ${backfill}s (ratio $(echo "scale=2; $backfill / $oracle" | bc)); backfill of the full, correct table ${unchanged}s"
done
