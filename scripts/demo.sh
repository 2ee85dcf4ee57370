#!/usr/bin/env bash
# demo.sh - Cachier end to end against a real local kube-apiserver, in plain words.
#
# Brings the local cluster up (scripts/local-cluster.sh), loads the Image CRD, starts the function on 127.0.0.1 and,
# in front of it, "cachier-lab source": a stand-in for the Knative ApiServerSource that watches the workload kinds and
# POSTs each change to the function as the real adapter would. Then it only works the cluster with kubectl (create
# workloads, change an image, delete one) and waits for the Images to follow: no event is sent by hand. The resync a
# PingSource would trigger is shown once, with POST /resync. Cleans up what it started on exit.
#
# With the node (the default): the local cluster gets a real node (kubelet, containerd, a local registry behind a
# 25 MB/s path: local-cluster.sh up --node), the warmer runs beside the function with its own stand-in source (Images,
# Nodes, its pull pods), and the demo shows a workload's Image become Ready on the node, then a pod of it starting
# there without waiting for the pull.
#
# Usage: scripts/demo.sh          (as root; the first run builds the API server and the kubelet once: 8-10 minutes)
# Environment: CACHIER_DEMO_PORT (default 18080; the warmer listens on the next port), CACHIER_DEMO_NODE=0 (no node,
#              no warmer: the API server alone), CACHIER_KEEP_CLUSTER=1 keeps the cluster running.
#
# Layout: one function per part of the story (part_*), run in order at the bottom; a new part is a new function
# and one line there.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PORT="${CACHIER_DEMO_PORT:-18080}"
URL="http://127.0.0.1:$PORT"
WARMER_URL="http://127.0.0.1:$((PORT + 1))"
WITH_NODE="${CACHIER_DEMO_NODE:-1}"
NS=cachier-demo
# The kinds the function handles and the source watches. This API server is Kubernetes 1.20: CronJob is batch/v1beta1.
KINDS=(Deployment.v1.apps ReplicaSet.v1.apps StatefulSet.v1.apps DaemonSet.v1.apps Job.v1.batch CronJob.v1beta1.batch)
IMAGES=images.caching.internal.knative.dev
WORK="$(mktemp -d)"
STARTED="$(date +%s)"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() {
  printf '\ndemo failed: %s\n' "$*" >&2
  for log in cachier source warmer warmer-source; do
    [[ -f $WORK/$log.log ]] && { echo "-- last lines of the $log log:" >&2; tail -n 15 "$WORK/$log.log" >&2; }
  done
  exit 1
}

# until_true SECONDS WHAT COMMAND...: runs COMMAND until it succeeds; fails the demo after SECONDS.
until_true() {
  local seconds=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what (waited ${seconds} s)"
    sleep 0.2
  done
}
image_count() { kubectl get "$IMAGES" -n "$NS" -o name ${1:+-l "$1"} | wc -l; }
images_are() { [[ "$(image_count "$1")" == "$2" ]]; } # SELECTOR COUNT
uid_of() { kubectl get "$1" -n "$NS" -o jsonpath='{.metadata.uid}'; }
images_of() { kubectl get "$IMAGES" -n "$NS" -l "$1" -o jsonpath='{.items[*].spec.image}' | tr ' ' '\n' | sort | xargs; }
images_of_are() { [[ "$(images_of "$1")" == "$2" ]]; } # SELECTOR "IMAGE IMAGE ..." (sorted)
show_images() {
  kubectl get "$IMAGES" -n "$NS" \
    -o custom-columns='NAME:.metadata.name,IMAGE:.spec.image,OWNER:.metadata.ownerReferences[0].kind,OWNER-NAME:.metadata.ownerReferences[0].name,GEN:.metadata.labels.generation,SA:.spec.serviceAccountName,SECRETS:.spec.imagePullSecrets[*].name'
}

# The source's deliveries since they were last shown ("delivered TYPE KIND NS/NAME -> STATUS after N attempts").
shown=0
show_deliveries() {
  local total
  total="$(grep -c -E ' (delivered|dropped) ' "$WORK/source.log" || true)"
  grep -E ' (delivered|dropped) ' "$WORK/source.log" | tail -n +"$((shown + 1))" | sed -E 's/^[0-9:.]+ /   source: /' || true
  shown=$total
}
deliveries_of() { grep -c -E " delivered dev\.knative\.apiserver\.ref\.$1 $2 $NS/$3 -> 200" "$WORK/source.log" || true; } # ACTION KIND NAME
watches_open() { (($(grep -c ': watching' "$WORK/source.log" || true) >= $1)); }
delivered_more() { (($(deliveries_of "$1" "$2" "$3") > $4)); } # ACTION KIND NAME BEFORE

started_cluster=0
function_pid=""
source_pid=""
warmer_pids=()
cleanup() {
  stop_source
  for p in "${warmer_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [[ -n $function_pid ]] && kill "$function_pid" 2>/dev/null && wait "$function_pid" 2>/dev/null || true
  if [[ -n "${KUBECONFIG:-}" ]]; then kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true; fi
  if [[ $started_cluster == 1 && "${CACHIER_KEEP_CLUSTER:-0}" != 1 ]]; then scripts/local-cluster.sh down >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The ApiServerSource stand-in (Reference mode, this namespace only: the cluster may be shared), appending to source.log.
start_source() {
  local resources=() kind before
  for kind in "${KINDS[@]}"; do resources+=(--resource "$kind"); done
  before="$(grep -c ': watching' "$WORK/source.log" 2>/dev/null || true)"
  "$WORK/lab/cachier-lab" source --kubeconfig "$KUBECONFIG" --sink "$URL/" --mode Reference --namespace "$NS" \
    --source-namespace "$NS" "${resources[@]}" >>"$WORK/source.log" 2>&1 &
  source_pid=$!
  until_true 30 "the source did not open its watches" watches_open "$((${before:-0} + ${#KINDS[@]}))"
  echo "cachier-lab source (pid $source_pid) watches ${KINDS[*]} in $NS and sends to $URL/"
}
stop_source() {
  [[ -n $source_pid ]] && kill "$source_pid" 2>/dev/null && wait "$source_pid" 2>/dev/null || true
  source_pid=""
}

part_cluster() {
  say "Starting a real Kubernetes API server on 127.0.0.1 (etcd + kube-apiserver + controller-manager)"
  scripts/local-cluster.sh status >/dev/null 2>&1 || started_cluster=1
  if [[ $WITH_NODE == 1 ]]; then
    say "... with a real node: containerd + kubelet + kube-scheduler, and local registries (one behind a 25 MB/s path)"
    scripts/local-cluster.sh up --node
  else
    scripts/local-cluster.sh up
  fi
  eval "$(scripts/local-cluster.sh env)"
  kubectl get crd "$IMAGES" -o name
}

part_function() {
  say "Building and starting the Cachier function on $URL, and the ApiServerSource stand-in in front of it"
  dotnet build function/Cachier.csproj -c Release -nologo -v quiet -o "$WORK/bin" >/dev/null
  dotnet build tools/Cachier.Lab/Cachier.Lab.csproj -c Release -nologo -v quiet -o "$WORK/lab" >/dev/null
  local resources
  resources="$(IFS=,; echo "${KINDS[*]}")"
  # No Knative here to send tokens: sender authentication off (the function logs a warning saying so).
  Cachier__Resources="$resources" Cachier__LogFormat=simple Cachier__Authentication__Mode=None PORT="$PORT" ASPNETCORE_URLS="$URL" \
    "$WORK/bin/cachier" >"$WORK/cachier.log" 2>&1 &
  function_pid=$!
  until_true 20 "the function did not become ready" curl -fs "$URL/health/readiness"
  echo "function ready (pid $function_pid)"
  kubectl create namespace "$NS" >/dev/null
  start_source
}

part_workloads() {
  say "Creating workloads in namespace $NS with kubectl; the source tells the function"
  kubectl apply -n "$NS" -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: migrate, image: "alpine:3.20"}]
      containers:
      - {name: web, image: "nginx:1.25"}
      - {name: sidecar, image: "busybox:1.36"}
      - {name: again, image: "nginx:1.25"}   # the same image twice: one Image
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      serviceAccountName: db-sa
      imagePullSecrets: [{name: regcred}]
      containers: [{name: db, image: "postgres:16"}]
---
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: "restic/restic:0.16"}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy
  annotations: {cachier.mattmoor.io/decorate: "false"}   # opted out
spec:
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: app, image: "legacy/app:1"}]
YAML
  echo "-- waiting for the Images: web 3 (init container, repeated image), db 1, nightly 1, legacy none (opted out)"
  until_true 60 "the Images of web, db and nightly did not appear" \
    eval 'images_are "controller=$(uid_of deployment/web)" 3 && images_are "controller=$(uid_of statefulset/db)" 1 && images_are "controller=$(uid_of cronjob/nightly)" 1'
  # The controller-manager's Deployment controller creates the ReplicaSet of "web": controlled by it, so not cached itself.
  local rs
  until_true 30 "the Deployment controller created no ReplicaSet for web" \
    eval '[[ -n "$(kubectl get rs -n "$NS" -l app=web -o name)" ]]'
  rs="$(kubectl get rs -n "$NS" -l app=web -o jsonpath='{.items[0].metadata.name}')"
  until_true 30 "the ReplicaSet's event was not delivered" delivered_more add ReplicaSet "$rs" 0
  echo "-- what the source sent (each add; the updates are the controllers writing status):"
  show_deliveries
  images_are "controller=$(uid_of deployment/legacy)" 0 || fail "the opted-out Deployment legacy has Images"
  images_are "controller=$(uid_of "rs/$rs")" 0 || fail "ReplicaSet $rs (controlled by web) has Images of its own"
  say "kubectl get images -n $NS"
  show_images
}

part_no_op_update() {
  say "An update that changes no image (an annotation on web): the event is delivered, nothing is written"
  local before versions
  before="$(deliveries_of update Deployment web)"
  versions="$(kubectl get "$IMAGES" -n "$NS" -o jsonpath='{.items[*].metadata.resourceVersion}')"
  kubectl annotate -n "$NS" deployment/web demo.cachier.dev/touched=yes >/dev/null
  until_true 30 "the update event of web was not delivered" delivered_more update Deployment web "$before"
  show_deliveries
  [[ "$(kubectl get "$IMAGES" -n "$NS" -o jsonpath='{.items[*].metadata.resourceVersion}')" == "$versions" ]] \
    || fail "an update without image changes rewrote Images"
  echo "no Image was written (same resourceVersions)"
}

part_image_change() {
  say "Changing an image of web (nginx:1.25 -> nginx:1.27): the Images follow"
  local web
  web="controller=$(uid_of deployment/web)"
  kubectl set image -n "$NS" deployment/web web=nginx:1.27 again=nginx:1.27 >/dev/null
  until_true 60 "the Images of web did not follow the image change" images_of_are "$web" "alpine:3.20 busybox:1.36 nginx:1.27"
  show_deliveries
  show_images
}

part_backfill() {
  say "A DaemonSet created while nobody watched: the source emits nothing for it, the resync (PingSource) backfills it"
  stop_source
  echo "source stopped"
  kubectl apply -n "$NS" -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "fluent/fluent-bit:3.0"}]
YAML
  start_source
  local agent
  agent="controller=$(uid_of daemonset/agent)"
  images_are "$agent" 0 || fail "the DaemonSet got Images without an event"
  echo "DaemonSet agent exists and has no Image: like the real adapter, the source sends nothing for what already exists"
  echo "-- POST /resync (what a PingSource's dev.knative.sources.ping event triggers every few minutes):"
  curl -s -X POST "$URL/resync"
  echo
  until_true 30 "the resync did not backfill the DaemonSet" images_are "$agent" 1
  kubectl get "$IMAGES" -n "$NS" -l "$agent" -o custom-columns='NAME:.metadata.name,IMAGE:.spec.image,OWNER-NAME:.metadata.ownerReferences[0].name'
}

part_delete() {
  say "Deleting StatefulSet db: the source sends the delete, the garbage collector removes its Images"
  local db
  db="controller=$(uid_of statefulset/db)"
  kubectl delete statefulset db -n "$NS" >/dev/null
  until_true 30 "the delete event of db was not delivered" delivered_more delete StatefulSet db 0
  show_deliveries
  until_true 90 "the Images of db were not garbage-collected" images_are "$db" 0
  echo "the Images of db are gone (the function wrote nothing: they were owned by db)"
  show_images
}

# The warmer: the same binary in the warmer role, with its own stand-in source (Images, Nodes, its pull pods).
part_warmer() {
  say "Starting the warmer on $WARMER_URL (Cachier__Role=warmer) and its source (Images, Nodes, its pull pods)"
  Cachier__Role=warmer Cachier__Warmer__HelperImage="$CACHIER_REGISTRY/lab/busybox:1" Cachier__Warmer__MaxPullPodsPerNode=4 \
    Cachier__Authentication__Mode=None Cachier__LogFormat=simple ASPNETCORE_URLS="$WARMER_URL" \
    "$WORK/bin/cachier" >"$WORK/warmer.log" 2>&1 &
  warmer_pids+=($!)
  until_true 20 "the warmer did not become ready" curl -fs "$WARMER_URL/health/readiness"
  "$WORK/lab/cachier-lab" source --kubeconfig "$KUBECONFIG" --sink "$WARMER_URL/" --mode Reference --source-namespace "$NS" \
    --resource caching.internal.knative.dev/v1alpha1/images --resource v1/nodes \
    --resource 'v1/pods?app.kubernetes.io/managed-by=cachier-warmer' --ping-every 20s >>"$WORK/warmer-source.log" 2>&1 &
  warmer_pids+=($!)
  echo "warmer ready; nodes: $(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')"
  echo "(the demo's other Images name docker.io images, which this machine cannot reach: the warmer reports them"
  echo " Ready=False, ErrImagePull, and retries them with backoff)"
}

image_ready() { [[ "$(kubectl get "$IMAGES" -n "$NS" -l "$1" -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
pod_ready() { [[ "$(kubectl get pods -n "$NS" -l app=big -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}')" == True ]]; }

part_warm_and_start() {
  local image="$CACHIER_REGISTRY_SLOW/lab/large:1" t0 uid
  say "A workload with a large image (316 MB, through the 25 MB/s registry path), no replicas yet"
  t0=$SECONDS
  kubectl apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: big}
spec:
  replicas: 0
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: app, image: "$image", command: [/bin/sleep, "3600"]}]
YAML
  until_true 30 "the Deployment big got no Image" images_are "controller=$(uid_of deployment/big)" 1
  uid="$(uid_of deployment/big)"
  echo "Cachier wrote its Image; the warmer makes each node's kubelet pull it through a short-lived pull pod:"
  kubectl get pods -n "$NS" -l app.kubernetes.io/managed-by=cachier-warmer -o wide 2>/dev/null | cut -c1-120 || true
  until_true 300 "the Image of big did not become Ready" image_ready "controller=$uid"
  echo "Image Ready $((SECONDS - t0)) s after kubectl apply:"
  kubectl get "$IMAGES" -n "$NS" -l "controller=$uid" \
    -o custom-columns='NAME:.metadata.name,READY:.status.conditions[0].status,REASON:.status.conditions[0].reason,MESSAGE:.status.conditions[0].message'
  kubectl get "$IMAGES" -n "$NS" -l "controller=$uid" -o jsonpath='{.items[0].status.annotations}'; echo
  say "Scaling big to 1: its pod starts on a node that already has the image"
  t0="$(date +%s.%N)"
  kubectl scale deployment big -n "$NS" --replicas=1 >/dev/null
  until_true 120 "the pod of big did not become Ready" pod_ready
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "pod Ready %.1f s after the scale (the pull alone takes about 14 s at 25 MB/s):\n", a - b }'
  kubectl get pods -n "$NS" -l app=big -o wide | cut -c1-120
  echo "what the warmer logged:"
  grep -E "Warm pass" "$WORK/warmer.log" | grep -vE "created 0, deleted 0, statuses written 0" | sed -E 's/^[a-z]+: [A-Za-z.]+\[[0-9]+\] /   /' | tail -n 6 || true
}

part_summary() {
  say "What the function logged"
  grep -E "reconciled|ignored|disabled|deleted|Resync" "$WORK/cachier.log" | sed -E 's/^[a-z]+: [A-Za-z.]+\[[0-9]+\] //' | cut -c1-200 || true
  if grep -q ' dropped ' "$WORK/source.log"; then fail "the source dropped events"; fi
  say "Done in $(($(date +%s) - STARTED)) s: every workload has exactly one Image per distinct image, owned by it, and no event was sent by hand."
}

part_cluster
part_function
part_workloads
part_no_op_update
part_image_change
part_backfill
part_delete
if [[ $WITH_NODE == 1 ]]; then
  part_warmer
  part_warm_and_start
fi
part_summary
