#!/usr/bin/env bash
# Back up popcycle: the log and what is not derived from it, as one consistent pg_dump.
# Usage: POP_DATABASE_URL=postgresql+psycopg://… deploy/backup.sh FILE.dump
# The read models and the scheduler's tables are left out: a restore rebuilds them from the log
# (deploy/restore.sh). pg_dump reads one snapshot, so it may run while popcycle is live.
set -euo pipefail
dump=${1:?usage: backup.sh FILE.dump}
url=${POP_DATABASE_URL:?set POP_DATABASE_URL to the database to back up}
tables=(events streams log_head idempotency_keys subject_keys access_tokens calendar_links)
args=()
for table in "${tables[@]}"; do args+=("--table=$table"); done
# PostgreSQL's own tools take the URL without SQLAlchemy's "+driver".
pg_dump --data-only --format=custom --file="$dump" "${args[@]}" "${url/+psycopg/}"
echo "backed up ${#tables[@]} tables to $dump" >&2
