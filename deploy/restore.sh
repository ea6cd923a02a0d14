#!/usr/bin/env bash
# Restore popcycle from deploy/backup.sh's dump into a new, empty database, then rebuild.
# Usage: POP_DATABASE_URL=postgresql+psycopg://…/new_db deploy/restore.sh FILE.dump [HEAD_HASH]
# With HEAD_HASH (printed by `pop verify` when the backup was checked), the restored chain must
# end at exactly that head. Stop the processes (or point them elsewhere) while it runs.
set -euo pipefail
dump=${1:?usage: restore.sh FILE.dump [HEAD_HASH]}
url=${POP_DATABASE_URL:?set POP_DATABASE_URL to the new, empty database}
pop=${POP:-pop}
libpq=${url/+psycopg/}
$pop init                                  # the schema of this release, empty read models
psql --quiet --set=ON_ERROR_STOP=1 --command="TRUNCATE log_head" "$libpq"  # the dump holds it
pg_restore --data-only --single-transaction --exit-on-error --dbname="$libpq" "$dump"
$pop projections rebuild                   # the read models, from position 0
if [ -n "${2:-}" ]; then
  $pop verify --expect-head "$2"
else
  $pop verify
fi
