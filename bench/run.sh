#!/usr/bin/env bash
# bench/run.sh - Cachier's performance benchmarks, one command, against the local API server.
#
# Builds what it measures (the Native AOT publish of scripts/publish.sh, a Release JIT build, a bare AOT
# echo service, the load generator and the BenchmarkDotNet project), gives the function its own identity
# (a ServiceAccount bound to the ClusterRole of knative/service.yaml) and runs it as shipped (the GC its project
# builds with, DOTNET_EnableDiagnostics=0 and DOTNET_GCgen0size as in the Dockerfile, SSL_CERT_FILE/SSL_CERT_DIR as in knative/service.yaml,
# with the cluster CA for the ServiceAccount's ca.crt), then measures:
#   1. steady-state throughput and latency, function vs a raw API client, concurrency 1 and 8
#   2. API calls per event, per scenario, counted from the API server's audit log
#   3. cold start: AOT, JIT, bare AOT echo, AOT with the machine CA bundle or Server GC (medians of BENCH_COLD_RUNS runs)
#   4. memory: RSS idle, after 10,000 and 20,000 events; the memo's bound
#   4b. backfill: the first POST /resync of BENCH_BACKFILL_WORKLOADS Deployments x 2 images vs a raw client's creates; a second resync
#   4c. sender authentication on vs off: steady state c=1 and c=8, idle RSS, cold start
#   5. planner micro-benchmarks (BenchmarkDotNet)
# and writes bench/RESULTS.md (and prints it). Everything is on loopback; every loop is bounded.
#
# Usage: bench/run.sh            (about 10-15 minutes on 2 cores, most of it the AOT publish and the measurements)
# Environment (optional):
#   BENCH_REQUESTS=2000   measured requests per side and concurrency (steady state)
#   BENCH_COLD_RUNS=11    measured cold starts per variant (plus one discarded warm-up)
#   BENCH_MEMORY_EVENTS=10000  events per memory phase
#   BENCH_MEMORY_GC=default  memory variants: default (as shipped), server (Server GC), gen0-default (no gen0 budget),
#                         machine-ca-bundle (Debian's SSL_CERT_FILE/SSL_CERT_DIR), comma-separated
#   BENCH_BACKFILL_WORKLOADS=1000  Deployments (2 images each) backfilled by the first resync (stage backfill)
#   BENCH_AUTH_REQUESTS   measured requests per side and concurrency in stage auth (default BENCH_REQUESTS)
#   BENCH_STAGES="steady cold"  run only these of: steady calls cold backfill auth memory planner resync soak (default: all); the
#                         report then has only those sections, so point BENCH_REPORT elsewhere. resync and soak keep
#                         their own reports (bench/resync/RESULTS.md, bench/soak/RESULTS.md; RESYNC_*/SOAK_* settings,
#                         see bench/resync/run.sh and bench/soak/run.sh) and run on this bench's cluster
#   BENCH_SKIP_BUILD=1    reuse bench/out builds from a previous run (for iterating on the bench itself)
#   BENCH_REPORT=PATH     where to write the report (default bench/RESULTS.md)
# Needs: root (apt-get for clang/jq when missing), the .NET 10 SDK, kubectl.
# Leaves the local cluster running (it never runs "down"); removes its own namespaces.

set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
RESULTS="$OUT/results"
CLUSTER_DIR="${CACHIER_CLUSTER_DIR:-/tmp/cachier-cluster}"
KUBECONFIG_ADMIN="$CLUSTER_DIR/kubeconfig"
FN_NS=cachier-bench-perf
FN_SA=cachier
FN_ROLE=cachier-bench-perf
# On a 1.20 API server CronJob is served as batch/v1beta1 (SPEC 2).
RESOURCES="${BENCH_RESOURCES:-Deployment.v1.apps,ReplicaSet.v1.apps,StatefulSet.v1.apps,DaemonSet.v1.apps,Job.v1.batch,CronJob.v1beta1.batch}"
REPORT="$(realpath -m "${BENCH_REPORT:-$BENCH/RESULTS.md}")"
readonly ROOT BENCH OUT RESULTS CLUSTER_DIR KUBECONFIG_ADMIN FN_NS FN_SA FN_ROLE RESOURCES REPORT

info() { printf 'bench: %s\n' "$*" >&2; }
fail() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND exited with $?"' ERR

STAGE_STARTED=$SECONDS
STAGE=""
stage() {
  finish_stage
  STAGE="$1"
  STAGE_STARTED=$SECONDS
  info "== $1"
}
finish_stage() {
  if [[ -n $STAGE ]]; then printf '%s\t%s\n' "$STAGE" "$((SECONDS - STAGE_STARTED))" >>"$RESULTS/timings.tsv"; fi
  STAGE=""
}

kc() { kubectl --kubeconfig "$KUBECONFIG_ADMIN" --request-timeout 30s "$@"; }

# The API server is shared: other engineers' fault tests may stop and restart it. Each measurement starts
# only once it answers /readyz (bounded wait); a block that still meets an outage is repeated by the tool.
wait_apiserver() {
  local deadline=$((SECONDS + 180))
  until [[ "$(kc get --raw /readyz 2>/dev/null || true)" == ok ]]; do
    ((SECONDS < deadline)) || fail "the API server did not answer /readyz within 180 s"
    sleep 1
  done
}

ensure_tools() {
  command -v dotnet >/dev/null || fail "dotnet is not on PATH (.NET 10 SDK required)"
  command -v kubectl >/dev/null || fail "kubectl is not on PATH"
  if ! command -v jq >/dev/null; then
    [[ $(id -u) -eq 0 ]] || fail "jq is missing (apt-get install -y jq)"
    info "installing jq (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends jq >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 || true; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends jq >/dev/null; }
  fi
}

# Never tear down a cluster that exists: "up" on an unhealthy cluster stops it and starts afresh (new CA,
# tokens and etcd), which would pull the rug from under anyone else using it - and a cluster is often only
# briefly unhealthy because a fault test stopped its API server. Only when there is no cluster at all is
# "up" safe.
ensure_cluster() {
  local deadline
  if "$ROOT/scripts/local-cluster.sh" status >/dev/null 2>&1; then
    info "local API server is up"
  elif [[ -f $CLUSTER_DIR/.cachier-local-cluster ]]; then
    info "the local cluster exists but is not healthy right now; waiting for it (up to 180 s), never restarting it"
    deadline=$((SECONDS + 180))
    until "$ROOT/scripts/local-cluster.sh" status >/dev/null 2>&1; do
      ((SECONDS < deadline)) ||
        fail "the local cluster in $CLUSTER_DIR is not healthy (scripts/local-cluster.sh status); not touching it: repair it, then run again"
      sleep 2
    done
    info "local API server is up"
  else
    info "no local cluster: scripts/local-cluster.sh up"
    "$ROOT/scripts/local-cluster.sh" up
  fi
  [[ -r $CLUSTER_DIR/logs/audit.log ]] || fail "no audit log at $CLUSTER_DIR/logs/audit.log (scripts/local-cluster.sh writes one)"
}

# The function's own identity: a ServiceAccount bound to the very ClusterRole knative/service.yaml ships
# (copied under another name, so the bench never touches objects a deployment of Cachier would own).
make_identity() {
  local role token ca server
  kc create namespace "$FN_NS" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc -n "$FN_NS" create serviceaccount "$FN_SA" --dry-run=client -o yaml | kc apply -f - >/dev/null
  role="$(kc apply --dry-run=client -o json -f "$ROOT/knative/service.yaml" |
    jq --arg name "$FN_ROLE" '(if .kind == "List" then .items else [.] end)[]
      | select(.kind == "ClusterRole" and .metadata.name == "cachier")
      | .metadata = {name: $name, labels: {"app.kubernetes.io/part-of": "cachier-bench"}}')"
  [[ -n $role ]] || fail "no ClusterRole \"cachier\" in knative/service.yaml"
  printf '%s\n' "$role" | kc apply -f - >/dev/null
  kc create clusterrolebinding "$FN_ROLE" --clusterrole "$FN_ROLE" --serviceaccount "$FN_NS:$FN_SA" \
    --dry-run=client -o yaml | kc apply -f - >/dev/null
  printf '%s\n' "$role" | jq -c '.rules' >"$RESULTS/function-rbac.json"

  if ! token="$(kc -n "$FN_NS" create token "$FN_SA" --duration 2h 2>/dev/null)"; then
    # Older servers without TokenRequest: the controller-manager's Secret token.
    local secret
    for _ in $(seq 1 50); do
      secret="$(kc -n "$FN_NS" get serviceaccount "$FN_SA" -o jsonpath='{.secrets[0].name}' 2>/dev/null || true)"
      [[ -n $secret ]] && break
      sleep 0.2
    done
    [[ -n $secret ]] || fail "no token for ServiceAccount $FN_NS/$FN_SA"
    token="$(kc -n "$FN_NS" get secret "$secret" -o jsonpath='{.data.token}' | base64 -d)"
  fi
  server="$(kc config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(kc config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  printf '%s' "$ca" | base64 -d >"$OUT/ca.crt"
  umask 077
  cat >"$OUT/kubeconfig-function" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $FN_NS-$FN_SA
  user:
    token: $token
contexts:
- name: function
  context: {cluster: local, user: $FN_NS-$FN_SA, namespace: default}
current-context: function
EOF
  umask 022
  export BENCH_SERVER="$server" BENCH_CA_FILE="$OUT/ca.crt" BENCH_FN_TOKEN="$token"
  export BENCH_FN_USER="system:serviceaccount:$FN_NS:$FN_SA" BENCH_FN_KUBECONFIG="$OUT/kubeconfig-function"
  BENCH_ADMIN_TOKEN="$(kc config view --raw --minify -o jsonpath='{.users[0].user.token}')"
  export BENCH_ADMIN_TOKEN
  # Sender authentication (stage auth): the function reads the issuer's keys as knative/service.yaml lets it
  # (system:service-account-issuer-discovery); a second ServiceAccount stands in for the event source, with a token
  # for the audience the function accepts.
  kc create clusterrolebinding "$FN_ROLE-issuer-discovery" --clusterrole system:service-account-issuer-discovery \
    --serviceaccount "$FN_NS:$FN_SA" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc -n "$FN_NS" create serviceaccount sender --dry-run=client -o yaml | kc apply -f - >/dev/null
  export BENCH_SENDER_AUDIENCE=cachier-bench BENCH_SENDER_USER="system:serviceaccount:$FN_NS:sender"
  BENCH_SENDER_TOKEN="$(kc -n "$FN_NS" create token sender --audience "$BENCH_SENDER_AUDIENCE" --duration 2h 2>/dev/null || true)"
  export BENCH_SENDER_TOKEN
  # The function's token can read Deployments but not Secrets: least privilege, as shipped.
  [[ "$(kubectl --kubeconfig "$OUT/kubeconfig-function" auth can-i get deployments.apps -A 2>/dev/null)" == yes ]] ||
    fail "the function's identity cannot get deployments"
  [[ "$(kubectl --kubeconfig "$OUT/kubeconfig-function" auth can-i get secrets -A 2>/dev/null || true)" == no ]] ||
    fail "the function's identity can read Secrets: the ClusterRole is not least privilege"
}

build() {
  if [[ ${BENCH_SKIP_BUILD:-} == 1 && -x $OUT/publish/cachier && -x $OUT/echo/cachier-bench-echo && -x $OUT/forward/cachier-bench-forward && -f $OUT/jit/cachier.dll ]]; then
    info "BENCH_SKIP_BUILD=1: reusing $OUT/publish, $OUT/echo, $OUT/forward, $OUT/jit"
  else
    # Each build has its own intermediate folders (ArtifactsPath), so it never races with someone else's
    # build of function/ (tests, other benches) over function/obj.
    stage "build: Native AOT publish of the function (scripts/publish.sh)"
    UseArtifactsOutput=true ArtifactsPath="$OUT/build-aot" "$ROOT/scripts/publish.sh" "$OUT/publish" >"$OUT/publish.out" 2>&1 ||
      { tail -n 40 "$OUT/publish.out" >&2; fail "scripts/publish.sh failed"; }
    grep -E '^publish: (linker|no trim|warnings|done)' "$OUT/publish.out" >&2 || true

    stage "build: JIT Release build of the function"
    UseArtifactsOutput=true ArtifactsPath="$OUT/build-jit" dotnet build "$ROOT/function/Cachier.csproj" -c Release -o "$OUT/jit" -nologo -v quiet >"$OUT/jit-build.out" 2>&1 ||
      { tail -n 40 "$OUT/jit-build.out" >&2; fail "JIT build failed"; }

    stage "build: bare AOT echo service"
    dotnet publish "$BENCH/Cachier.Bench.Echo/Cachier.Bench.Echo.csproj" -c Release -r linux-x64 -o "$OUT/echo" -nologo -v quiet \
      $(command -v clang >/dev/null || echo -p:CppCompilerAndLinker=gcc) >"$OUT/echo-build.out" 2>&1 ||
      { tail -n 40 "$OUT/echo-build.out" >&2; fail "echo publish failed"; }

    stage "build: bare AOT forwarder (the steady state's floor)"
    dotnet publish "$BENCH/Cachier.Bench.Forward/Cachier.Bench.Forward.csproj" -c Release -r linux-x64 -o "$OUT/forward" -nologo -v quiet \
      $(command -v clang >/dev/null || echo -p:CppCompilerAndLinker=gcc) >"$OUT/forward-build.out" 2>&1 ||
      { tail -n 40 "$OUT/forward-build.out" >&2; fail "forwarder publish failed"; }
  fi

  stage "build: load generator and planner benchmarks"
  dotnet build "$BENCH/Cachier.Bench/Cachier.Bench.csproj" -c Release -o "$OUT/tool" -nologo -v quiet >"$OUT/tool-build.out" 2>&1 ||
    { tail -n 40 "$OUT/tool-build.out" >&2; fail "bench build failed"; }
  dotnet build "$BENCH/Cachier.Bench.Planner/Cachier.Bench.Planner.csproj" -c Release -o "$OUT/planner" -nologo -v quiet >"$OUT/planner-build.out" 2>&1 ||
    { tail -n 40 "$OUT/planner-build.out" >&2; fail "planner build failed"; }
}

machine_notes() {
  local server_gc
  # The GC is a build setting (ServerGarbageCollection); the JIT build's runtimeconfig shows what the project chose.
  server_gc="$(jq -r '.runtimeOptions.configProperties["System.GC.Server"] // false' "$OUT/jit/cachier.runtimeconfig.json" 2>/dev/null || echo unknown)"
  {
    printf 'Run started (UTC)\t%s\n' "$RUN_STARTED"
    printf 'kube-apiserver\t%s\n' "$( (kc version -o json 2>/dev/null || true) | jq -r '.serverVersion.gitVersion // "unknown"' 2>/dev/null || echo unknown)"
    printf 'Load average at start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'Commit\t%s%s\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
      "$([[ -n $(git -C "$ROOT" status --porcelain -- function 2>/dev/null) ]] && echo ' (function/ has uncommitted changes)')"
    printf 'AOT binary\t%s MiB (`scripts/publish.sh`: %s)\n' "$(($(stat -c %s "$OUT/publish/cachier") / 1024 / 1024))" \
      "$(grep -E '^publish: (no trim|warnings)' "$OUT/publish.out" 2>/dev/null | sed 's/^publish: //' | head -n 1 || echo 'reused')"
    printf 'GC\t%s (`System.GC.Server` = %s in the JIT build of function/Cachier.csproj; the AOT publish is of the same project)\n' \
      "$(case $server_gc in true) echo Server GC ;; false) echo Workstation GC ;; *) echo unknown ;; esac)" "$server_gc"
    printf 'Function identity\t`system:serviceaccount:%s:%s`, ClusterRole rules of knative/service.yaml\n' "$FN_NS" "$FN_SA"
    printf 'Cachier__Resources\t`%s`\n' "$RESOURCES"
  } >"$RESULTS/machine.txt"
  # Where the bytes of the AOT binaries are (section sizes): .hydrated is rebuilt in memory at start-up.
  {
    for bin in "$OUT/publish/cachier" "$OUT/echo/cachier-bench-echo"; do
      printf '%s' "${bin#"$OUT/"}"
      size -A "$bin" | awk '$1 ~ /^(\.hydrated|\.rodata|__managedcode|\.text|\.data|\.bss)$/ {printf "\t%s=%d", $1, $2}'
      printf '\tfile=%d\n' "$(stat -c %s "$bin")"
    done
  } >"$RESULTS/sections.tsv"
  # Native code per assembly (symbol sizes of the .dbg file; S_P_CoreLib = System.Private.CoreLib).
  if [[ -f $OUT/publish/cachier.dbg ]] && command -v nm >/dev/null; then
    nm -S -t d "$OUT/publish/cachier.dbg" 2>/dev/null |
      awk 'NF >= 4 { n = split($4, p, "_"); k = p[1]; if (k == "S" && p[2] == "P") k = "S_P_" p[3]; if (k == "") k = "(native runtime and other)"; s[k] += $2 + 0 }
           END { for (k in s) printf "%d\t%s\n", s[k], k }' | sort -rn | head -n 8 >"$RESULTS/code-by-assembly.tsv" || true
  fi
}

# measure COMMAND...: run one measurement; if it fails (say the shared API server was restarted under it),
# wait for the API server and run it once more, from scratch (fresh namespaces).
measure() {
  wait_apiserver
  if "$@"; then return 0; fi
  info "measurement failed; waiting for the API server and running it once more"
  wait_apiserver
  BENCH_RUN_ID="$(date +%H%M%S)r" "$@"
}

main() {
  local started=$SECONDS
  RUN_STARTED="$(date -u '+%Y-%m-%d %H:%M:%S')"
  cd "$ROOT"
  mkdir -p "$OUT"
  rm -rf "$RESULTS" "$OUT/logs" "$OUT/bdn"
  mkdir -p "$RESULTS" "$OUT/logs"

  stage "setup: tools, local API server, the function's identity"
  ensure_tools
  ensure_cluster
  make_identity
  info "function identity: $BENCH_FN_USER"

  build

  export BENCH_AUDIT_LOG="$CLUSTER_DIR/logs/audit.log" BENCH_OUT="$OUT" BENCH_RESOURCES="$RESOURCES"
  export BENCH_AOT="$OUT/publish/cachier" BENCH_JIT_DLL="$OUT/jit/cachier.dll" BENCH_ECHO="$OUT/echo/cachier-bench-echo" BENCH_FORWARD="$OUT/forward/cachier-bench-forward"
  export BENCH_APISERVER_PIDFILE="$CLUSTER_DIR/pids/kube-apiserver.pid"
  BENCH_RUN_ID="$(date +%H%M%S)"
  export BENCH_RUN_ID
  machine_notes
  local tool=(dotnet "$OUT/tool/cachier-bench.dll")
  wants() { [[ " ${BENCH_STAGES:-steady calls cold backfill auth memory planner resync soak} " == *" $1 "* ]]; }

  if wants steady; then
    stage "1. steady-state throughput and latency"
    measure "${tool[@]}" steady --requests "${BENCH_REQUESTS:-2000}" --warmup 200 --workloads 8
  fi

  if wants calls; then
    stage "2. API calls per event (audit log)"
    measure "${tool[@]}" calls
  fi

  if wants cold; then
    stage "3. cold start"
    measure "${tool[@]}" cold --runs "${BENCH_COLD_RUNS:-11}"
  fi

  if wants backfill; then
    stage "4b. backfill: first resync vs raw creates, second resync"
    measure "${tool[@]}" backfill --workloads "${BENCH_BACKFILL_WORKLOADS:-1000}" --parallelism 8
  fi

  if wants auth; then
    [[ -n $BENCH_SENDER_TOKEN ]] || fail "no sender token (kubectl create token needs the TokenRequest API)"
    stage "4c. sender authentication on vs off"
    measure "${tool[@]}" auth --requests "${BENCH_AUTH_REQUESTS:-${BENCH_REQUESTS:-2000}}" --runs "${BENCH_COLD_RUNS:-11}"
  fi

  if wants memory; then
    stage "4. memory"
    measure "${tool[@]}" memory --workloads 200 --events "${BENCH_MEMORY_EVENTS:-10000}" --concurrency 8 --gc "${BENCH_MEMORY_GC:-default}"
    dotnet "$OUT/planner/cachier-bench-planner.dll" memo-size --output "$RESULTS/memo.json" >/dev/null
  fi

  if wants planner; then
    stage "5. planner micro-benchmarks (BenchmarkDotNet)"
    (cd "$OUT" && dotnet "$OUT/planner/cachier-bench-planner.dll" bench --artifacts "$OUT/bdn" >"$OUT/logs/benchmarkdotnet.log" 2>&1) ||
      { tail -n 40 "$OUT/logs/benchmarkdotnet.log" >&2; fail "BenchmarkDotNet failed"; }
  fi

  if wants resync; then
    stage "6. resync of a fleet (bench/resync: its own report)"
    CACHIER_CLUSTER_DIR="$CLUSTER_DIR" "$BENCH/resync/run.sh" >"$OUT/logs/resync.log" 2>&1 ||
      { tail -n 40 "$OUT/logs/resync.log" >&2; fail "the resync bench failed"; }
  fi

  if wants soak; then
    stage "7. soak (bench/soak: its own report)"
    SOAK_KUBECONFIG="$KUBECONFIG_ADMIN" "$BENCH/soak/run.sh" >"$OUT/logs/soak.log" 2>&1 ||
      { tail -n 40 "$OUT/logs/soak.log" >&2; fail "the soak bench failed"; }
  fi

  finish_stage
  printf '%s\t%s\n' "total" "$((SECONDS - started))" >>"$RESULTS/timings.tsv"
  "${tool[@]}" report --out "$OUT" --output "$REPORT"
  info "wrote $REPORT in $((SECONDS - started)) s (raw data: $RESULTS, logs: $OUT/logs)"
  cat "$REPORT"
}

main "$@"
