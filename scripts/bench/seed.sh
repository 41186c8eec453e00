# Sourced by the bench scripts: keys seeded straight into the database, far faster than the API
# (which hashes and audits each one). Needs DATABASE_URL for PostgreSQL, else the data directory.

# $2 keys for one person, made $first.. one millisecond apart (ids key_seed<N>).
seed_sql() {
  local account=$1 user=$2 membership=$3 first=$4 last=$5 series=$6
  cat <<SQL
INSERT INTO api_keys (id, account_id, user_id, membership_id, kind, name, secret_hash, hint, created_at)
SELECT 'key_seed' || i, '$account', '$user', '$membership', 'user', 'seed key ' || i,
       'seed-hash-' || i, 'kw_seed…0000', 1700000000000 + i
FROM $series WHERE i BETWEEN $first AND $last;
SQL
}

run_sql() {
  local engine=$1 data=$2
  if [ "$engine" = postgres ]; then psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL"; else sqlite3 "$data/keyward.db"; fi
}

seed() {
  local engine=$1 data=$2 account=$3 user=$4 membership=$5 first=$6 last=$7
  if [ "$engine" = postgres ]; then
    { seed_sql "$account" "$user" "$membership" "$first" "$last" "generate_series($first, $last) AS s(i)";
      echo "ANALYZE api_keys;"; } | run_sql "$engine" "$data"
  else
    { echo "WITH RECURSIVE s(i) AS (SELECT $first UNION ALL SELECT i + 1 FROM s WHERE i < $last)";
      seed_sql "$account" "$user" "$membership" "$first" "$last" s; echo "ANALYZE;"; } | run_sql "$engine" "$data"
  fi
}

# The id of a person's (only) membership.
membership_of() {
  local engine=$1 data=$2 user=$3
  echo "SELECT id FROM memberships WHERE user_id = '$user';" | run_sql "$engine" "$data" \
    | tr -d ' ' | grep -v '^$' | grep -v -- '---\|row\|^id$' | head -1
}
