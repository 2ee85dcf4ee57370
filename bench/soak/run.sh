#!/usr/bin/env bash
# run.sh - soak benchmark of Cachier (issue 8): mixed CloudEvents at a steady rate for SOAK_SECONDS against the
# Release build of the function (its own process, on a free loopback port) talking to the local kube-apiserver.
# Reports errors (must be 0), p99 latency and RSS per window, resync times and whether the Images converged
# exactly, and writes bench/soak/RESULTS.md. Not a timed test: run it by hand.
#
# Usage: bench/soak/run.sh                         (needs scripts/local-cluster.sh up; also a stage of bench/run.sh)
# Environment:
#   SOAK_SECONDS       duration of the measured run       (default 300)
#   SOAK_RATE          events per second                  (default 20)
#   SOAK_WORKLOADS     Deployments created up front       (default 40)
#   SOAK_WINDOW        report window in seconds           (default 30)
#   SOAK_RESYNC_EVERY  seconds between resyncs            (default 60)
#   SOAK_KUBECONFIG    the cluster                        (default: $CACHIER_TEST_KUBECONFIG, else /tmp/cachier-cluster/kubeconfig)
#   SOAK_OUT           build output and the function log  (default /tmp/cachier-soak)
#   SOAK_RESULTS       the report                         (default bench/soak/RESULTS.md)
# Everything it sends goes to 127.0.0.1; the run stops by itself after SOAK_SECONDS (+ at most ~3 minutes of
# set-up, drain and convergence check). It creates one namespace soak-* and deletes it at the end.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SECONDS_TO_RUN="${SOAK_SECONDS:-300}"
RATE="${SOAK_RATE:-20}"
WORKLOADS="${SOAK_WORKLOADS:-40}"
WINDOW="${SOAK_WINDOW:-30}"
RESYNC_EVERY="${SOAK_RESYNC_EVERY:-60}"
KUBECONFIG_FILE="${SOAK_KUBECONFIG:-${CACHIER_TEST_KUBECONFIG:-/tmp/cachier-cluster/kubeconfig}}"
OUT="${SOAK_OUT:-/tmp/cachier-soak}"
RESULTS="${SOAK_RESULTS:-$ROOT/bench/soak/RESULTS.md}"

say() { printf 'soak: %s\n' "$*" >&2; }

[[ -f $KUBECONFIG_FILE ]] || { say "no kubeconfig at $KUBECONFIG_FILE: run scripts/local-cluster.sh up (or set SOAK_KUBECONFIG)"; exit 1; }
kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz >/dev/null || { say "the API server of $KUBECONFIG_FILE is not ready"; exit 1; }

mkdir -p "$OUT"
say "building the function (Release) and the driver into $OUT"
dotnet build "$ROOT/function/Cachier.csproj" -c Release -o "$OUT/function" -nologo -v quiet >"$OUT/build.log" 2>&1 \
  || { tail -n 30 "$OUT/build.log"; exit 1; }
dotnet build "$ROOT/bench/soak/SoakDriver/SoakDriver.csproj" -c Release -o "$OUT/driver" -nologo -v quiet >>"$OUT/build.log" 2>&1 \
  || { tail -n 30 "$OUT/build.log"; exit 1; }

say "running for ${SECONDS_TO_RUN} s at ${RATE} events/s (function log: $OUT/function.log)"
timeout $((SECONDS_TO_RUN + 600)) dotnet "$OUT/driver/SoakDriver.dll" \
  --function-dll "$OUT/function/cachier.dll" --kubeconfig "$KUBECONFIG_FILE" \
  --seconds "$SECONDS_TO_RUN" --rate "$RATE" --workloads "$WORKLOADS" --window "$WINDOW" \
  --resync-every "$RESYNC_EVERY" --results "$RESULTS" --log "$OUT/function.log"
