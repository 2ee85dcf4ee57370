#!/usr/bin/env bash
# run.sh - resync benchmark on the local API server (scripts/local-cluster.sh up).
#
# Creates 10,000 idle workloads (replicas 0) in 20 namespaces without any event, starts the real function binary
# (dotnet cachier.dll, its own ServiceAccount token, PORT, Cachier__Kubeconfig, Cachier__Resources), and POSTs /resync
# three times: (a) the first resync creates every Image, (b) a second one finds no drift, (c) one after 10% of the
# Images were deleted by hand. It counts the function's API calls from the API server's audit log and prints a
# Markdown table, also written to bench/resync/RESULTS.md; then it deletes its namespaces. About 10-15 minutes on 2 CPUs.
#
# Usage: bench/resync/run.sh [--workloads N] [--namespaces N]
# Environment: CACHIER_CLUSTER_DIR (default /tmp/cachier-cluster): kubeconfig and logs/audit.log of the local cluster;
#   RESYNC_RESULTS (default bench/resync/RESULTS.md): where the table goes.
# Also a stage of bench/run.sh (BENCH_STAGES=resync).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CLUSTER="${CACHIER_CLUSTER_DIR:-/tmp/cachier-cluster}"
cd "$ROOT"

if ! "$ROOT/scripts/local-cluster.sh" status >/dev/null 2>&1; then
  echo "run.sh: the local API server is not running; start it with scripts/local-cluster.sh up" >&2
  exit 1
fi

# Own build folders (artifacts/ is ignored by git): no clash with a build of the solution running meanwhile.
OUT="$ROOT/artifacts/bench-resync"
dotnet build bench/resync/Cachier.Bench.Resync.csproj -c Release --artifacts-path "$OUT" -nologo -v quiet
exec dotnet "$OUT/bin/Cachier.Bench.Resync/release/cachier-bench-resync.dll" \
  --kubeconfig "$CLUSTER/kubeconfig" --audit-log "$CLUSTER/logs/audit.log" \
  --function "$OUT/bin/Cachier/release/cachier.dll" --results "${RESYNC_RESULTS:-$ROOT/bench/resync/RESULTS.md}" "$@"
