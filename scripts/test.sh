#!/usr/bin/env bash
# test.sh - every test in one run: format check, unit + contract + integration + deployment tests
# (the integration tier against a real local kube-apiserver), the Native AOT publish, and then the node tier
# (tests marked Tier=Node: a real kubelet, containerd and local registry added by "local-cluster.sh up --node"; they
# also build the shipped image without Docker, scripts/image.sh, and run it there).
# Prints a closing line "N passed, N failed" from the real totals; exits non-zero on any failure.
#
# Usage: scripts/test.sh            (as root on a fresh Debian machine with the .NET SDK)
# Environment: CACHIER_KEEP_CLUSTER=1 leaves a cluster this script started running afterwards.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf '\n== %s\n' "$*"; }

started_cluster=0
cleanup() {
  if [[ $started_cluster == 1 && "${CACHIER_KEEP_CLUSTER:-0}" != 1 ]]; then
    scripts/local-cluster.sh down >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

say "Local Kubernetes API server (the first run builds it once: about 6-10 minutes)"
if ! scripts/local-cluster.sh status >/dev/null 2>&1; then
  started_cluster=1
fi
scripts/local-cluster.sh up
eval "$(scripts/local-cluster.sh env)"
export CACHIER_TEST_KUBECONFIG="$KUBECONFIG"

say "Restore and build"
dotnet build Cachier.sln -c Release -nologo -v quiet

say "Code style (dotnet format --verify-no-changes)"
format_failed=0
dotnet format Cachier.sln --verify-no-changes --no-restore || format_failed=1

say "Native AOT publish (the Dockerfile's settings)"
publish_failed=0
bash scripts/publish.sh >/tmp/cachier-publish.log 2>&1 || { publish_failed=1; tail -n 30 /tmp/cachier-publish.log; }

say "Tests: unit, contract (WireMock), integration and deployment (real API server)"
results="$(mktemp -d)"
test_rc=0
dotnet test Cachier.sln -c Release --no-build -nologo --filter "Tier!=Node" \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$results/api" || test_rc=$?

say "The node lab: a real kubelet, containerd and local registries (the first run builds the test images)"
node_rc=0
if scripts/local-cluster.sh up --node; then
  eval "$(scripts/local-cluster.sh env)"
  # The node tier builds the shipped image (scripts/image.sh) from the binary published above instead of publishing
  # again: the solution build and the linux-x64 publish restore differently, so a second publish would recompile.
  if [[ $publish_failed == 0 ]]; then export CACHIER_IMAGE_PUBLISHED=1; fi
  say "Tests: the node tier (pods, pulls, the warmer on a real node; the shipped image built and run there)"
  dotnet test Cachier.sln -c Release --no-build -nologo --filter "Tier=Node" \
    --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
    --results-directory "$results/node" || test_rc=$?
else
  node_rc=1
fi

mapfile -t trx_files < <(find "$results" -name '*.trx')
if [[ ${#trx_files[@]} == 0 ]]; then
  echo "no test results were written" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
total() { cat "${trx_files[@]}" | grep -o '<Counters [^>]*>' | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" | awk '{s+=$1} END {print s+0}'; }
passed="$(total passed)"
failed=$(( $(total failed) + $(total error) + $(total timeout) + $(total aborted) ))
skipped="$(total notExecuted)"
awk -f scripts/failed-tests.awk "${trx_files[@]}"
rm -rf "$results"

# The format check, the AOT publish and bringing the node up are checks too: each counts as one test.
node_failed=$node_rc
for check in format_failed publish_failed node_failed; do
  if [[ ${!check} == 1 ]]; then failed=$((failed + 1)); echo "FAILED: ${check%_failed}"; else passed=$((passed + 1)); fi
done
if [[ $test_rc != 0 && $failed == 0 ]]; then failed=1; fi

echo
echo "$passed passed, $failed failed, ${skipped:-0} skipped"
[[ $failed == 0 ]]
