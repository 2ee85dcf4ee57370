#!/usr/bin/env bash
# bench/warm/run.sh - the warmer's figure that matters, on the node lab, side by side in one run:
# a workload's new pod (scale 0 -> 1), create -> Ready, through the bandwidth-limited registry path with the large
# image: (a) nothing warmed, (b) after Cachier and the warmer ran from the stand-in source's events, (c) the image
# pulled onto the nodes by hand beforehand (the floor); apply -> Image Ready; the warmer's API calls per Image per
# node (audit log). Writes bench/out/warm/results.md and the "warmer" section of bench/RESULTS.md.
#
# Usage: bench/warm/run.sh        (as root; brings the node lab up: scripts/local-cluster.sh up --node)
# Environment: BENCH_WARM_RUNS (default 5), CACHIER_KEEP_CLUSTER=1 keeps a cluster this script started.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="$ROOT/bench/out/warm"
RUNS="${BENCH_WARM_RUNS:-5}"
mkdir -p "$OUT"
pids=()
started_cluster=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $started_cluster == 1 && "${CACHIER_KEEP_CLUSTER:-0}" != 1 ]]; then scripts/local-cluster.sh down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

scripts/local-cluster.sh status >/dev/null 2>&1 || started_cluster=1
scripts/local-cluster.sh up --node
eval "$(scripts/local-cluster.sh env)"
export BENCH_AUDIT_LOG="${CACHIER_CLUSTER_DIR:-/tmp/cachier-cluster}/logs/audit.log"

echo "== building the function, the stand-in source and the bench"
dotnet build function -c Release -nologo -v quiet -o "$OUT/cachier" >/dev/null
dotnet build tools/Cachier.Lab -c Release -nologo -v quiet -o "$OUT/lab" >/dev/null
dotnet build bench/warm -c Release -nologo -v quiet -o "$OUT/bench" >/dev/null

echo "== identities: the ServiceAccounts and ClusterRoles of knative/service.yaml and knative/warmer.yaml"
kubectl apply -f knative/service.yaml -f knative/warmer.yaml >/dev/null
kubeconfig_for() { # service account -> kubeconfig path
  local token server ca
  token="$(kubectl create token "$1" -n cachier-system --duration=2h)"
  server="$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "%s", certificate-authority-data: %s}\nusers:\n- name: u\n  user: {token: %s}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n' \
    "$server" "$ca" "$token" >"$OUT/$1.kubeconfig"
  echo "$OUT/$1.kubeconfig"
}
cachier_kc="$(kubeconfig_for cachier)"
warmer_kc="$(kubeconfig_for cachier-warmer)"

echo "== starting Cachier (images), the warmer and their two stand-in sources"
# The stand-in sources send no token here: sender authentication off (its cost is bench/run.sh's subject).
Cachier__Kubeconfig="$cachier_kc" Cachier__Resources="Deployment.v1.apps" Cachier__LogFormat=simple Cachier__Authentication__Mode=None \
  ASPNETCORE_URLS=http://127.0.0.1:18181 dotnet "$OUT/cachier/cachier.dll" >"$OUT/cachier.log" 2>&1 &
pids+=($!)
Cachier__Kubeconfig="$warmer_kc" Cachier__Role=warmer Cachier__Authentication__Mode=None Cachier__Warmer__HelperImage="$CACHIER_REGISTRY/lab/busybox:1" \
  Cachier__Warmer__ImageSelector=app.kubernetes.io/managed-by=cachier Cachier__LogFormat=simple \
  ASPNETCORE_URLS=http://127.0.0.1:18182 dotnet "$OUT/cachier/cachier.dll" >"$OUT/warmer.log" 2>&1 &
pids+=($!)
for port in 18181 18182; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health/readiness" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$port/health/readiness" >/dev/null || { tail -n 20 "$OUT"/*.log; exit 1; }
done
dotnet "$OUT/lab/cachier-lab.dll" source --sink http://127.0.0.1:18181/ --resource apps/v1/deployments \
  --ping-every 5m >"$OUT/source-cachier.log" 2>&1 &
pids+=($!)
dotnet "$OUT/lab/cachier-lab.dll" source --sink http://127.0.0.1:18182/ \
  --resource caching.internal.knative.dev/v1alpha1/images --resource v1/nodes \
  --resource 'v1/pods?app.kubernetes.io/managed-by=cachier-warmer' --ping-every 5m >"$OUT/source-warmer.log" 2>&1 &
pids+=($!)

# An interrupted run's namespaces (none on a fresh cluster: grep's "no match" is not a failure here).
kubectl get namespaces -o name | { grep '^namespace/warm-bench-' || true; } | xargs -r kubectl delete --wait=false >/dev/null
echo "== measuring ($RUNS runs of a, b, c)"
dotnet "$OUT/bench/cachier-bench-warm.dll" "$RUNS" "$OUT/results.md"

# The "warmer" section of bench/RESULTS.md, between its markers (appended the first time).
update_results() {
  local file=bench/RESULTS.md begin='<!-- warm:begin -->' end='<!-- warm:end -->' body
  body="$(printf '%s\n## 6. The warmer: pod start with and without warming (bench/warm/run.sh)\n\nMeasured %s, commit %s.\n\n%s\n%s' \
    "$begin" "$(date -u +%Y-%m-%d)" "$(git rev-parse --short HEAD)" "$(cat "$OUT/results.md")" "$end")"
  if grep -qF "$begin" "$file"; then
    awk -v b="$begin" -v e="$end" -v body="$body" '$0==b{print body; skip=1; next} $0==e{skip=0; next} !skip' "$file" >"$file.tmp"
    mv "$file.tmp" "$file"
  else
    printf '\n%s\n' "$body" >>"$file"
  fi
}
update_results
echo "== bench/RESULTS.md updated (section 6)"
