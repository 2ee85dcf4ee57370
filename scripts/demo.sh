#!/usr/bin/env bash
# demo.sh - Cachier end to end against a real local kube-apiserver, in plain words.
#
# Brings the local cluster up (scripts/local-cluster.sh), loads the Image CRD, starts the function on
# 127.0.0.1, creates real workloads with kubectl, sends the CloudEvents an ApiServerSource would send
# (with curl, binary and structured mode), shows the Images, then changes an image, deletes a workload
# and lets the garbage collector remove its Images. Cleans up what it started on exit.
#
# Usage: scripts/demo.sh          (as root; the first run builds the API server once: 6-10 minutes)
# Environment: CACHIER_DEMO_PORT (default 18080), CACHIER_KEEP_CLUSTER=1 keeps the cluster running.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PORT="${CACHIER_DEMO_PORT:-18080}"
URL="http://127.0.0.1:$PORT"
NS=cachier-demo
WORK="$(mktemp -d)"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\ndemo failed: %s\n' "$*" >&2; [[ -f $WORK/cachier.log ]] && tail -n 20 "$WORK/cachier.log" >&2; exit 1; }

started_cluster=0
function_pid=""
cleanup() {
  [[ -n $function_pid ]] && kill "$function_pid" 2>/dev/null && wait "$function_pid" 2>/dev/null || true
  if [[ -n "${KUBECONFIG:-}" ]]; then kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true; fi
  if [[ $started_cluster == 1 && "${CACHIER_KEEP_CLUSTER:-0}" != 1 ]]; then scripts/local-cluster.sh down >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

say "Starting a real Kubernetes API server on 127.0.0.1 (etcd + kube-apiserver + controller-manager)"
scripts/local-cluster.sh status >/dev/null 2>&1 || started_cluster=1
scripts/local-cluster.sh up
eval "$(scripts/local-cluster.sh env)"
kubectl get crd images.caching.internal.knative.dev -o name

say "Building and starting the Cachier function on $URL"
dotnet build function/Cachier.csproj -c Release -nologo -v quiet -o "$WORK/bin" >/dev/null
# This API server is Kubernetes 1.20: CronJob is served as batch/v1beta1 only.
Cachier__Resources="Deployment.v1.apps,ReplicaSet.v1.apps,StatefulSet.v1.apps,DaemonSet.v1.apps,Job.v1.batch,CronJob.v1beta1.batch" \
Cachier__LogFormat=simple PORT="$PORT" ASPNETCORE_URLS="$URL" \
  "$WORK/bin/cachier" >"$WORK/cachier.log" 2>&1 &
function_pid=$!
for _ in $(seq 1 100); do curl -fs "$URL/health/readiness" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$URL/health/readiness" >/dev/null || fail "the function did not become ready"
echo "ready (pid $function_pid)"

say "Creating workloads in namespace $NS"
kubectl create namespace "$NS" >/dev/null
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
# The controller-manager's Deployment controller creates the ReplicaSet of "web" (controlled by it).
rs=""
for _ in $(seq 1 100); do
  rs="$(kubectl get rs -n "$NS" -l app=web -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)"
  [[ -n $rs ]] && break; sleep 0.2
done
[[ -n $rs ]] || fail "the Deployment controller created no ReplicaSet for web"
echo "ReplicaSet $rs is controlled by Deployment web"

# binary mode: ce-* headers and the object reference as the body, as the ApiServerSource adapter sends it
send_binary() { # type apiVersion kind name
  curl -s -X POST "$URL/" -H "Content-Type: application/json" \
    -H "Ce-Specversion: 1.0" -H "Ce-Id: $(cat /proc/sys/kernel/random/uuid)" -H "Ce-Source: https://10.96.0.1:443" \
    -H "Ce-Type: $1" -H "Ce-Apiversion: $2" -H "Ce-Kind: $3" -H "Ce-Name: $4" -H "Ce-Namespace: $NS" \
    -d "{\"kind\":\"$3\",\"namespace\":\"$NS\",\"name\":\"$4\",\"apiVersion\":\"$2\"}"
  echo
}
# structured mode: the whole event as application/cloudevents+json
send_structured() { # type apiVersion kind name
  curl -s -X POST "$URL/" -H "Content-Type: application/cloudevents+json" -d "{
    \"specversion\":\"1.0\",\"id\":\"$(cat /proc/sys/kernel/random/uuid)\",\"source\":\"https://10.96.0.1:443\",
    \"type\":\"$1\",\"apiversion\":\"$2\",\"kind\":\"$3\",\"name\":\"$4\",\"namespace\":\"$NS\",
    \"datacontenttype\":\"application/json\",
    \"data\":{\"kind\":\"$3\",\"namespace\":\"$NS\",\"name\":\"$4\",\"apiVersion\":\"$2\"}}"
  echo
}
show_images() {
  kubectl get images.caching.internal.knative.dev -A \
    -o custom-columns='NAMESPACE:.metadata.namespace,NAME:.metadata.name,IMAGE:.spec.image,OWNER:.metadata.ownerReferences[0].kind,OWNER-NAME:.metadata.ownerReferences[0].name,GEN:.metadata.labels.generation,SA:.spec.serviceAccountName,SECRETS:.spec.imagePullSecrets[*].name'
}

say "Sending the ApiServerSource CloudEvents (Reference mode) with curl"
echo "-- Deployment web (binary mode): init container + repeated image"
send_binary dev.knative.apiserver.ref.add apps/v1 Deployment web
echo "-- StatefulSet db (structured mode): pull secrets and service account"
send_structured dev.knative.apiserver.ref.add apps/v1 StatefulSet db
echo "-- CronJob nightly (binary mode, batch/v1beta1)"
send_binary dev.knative.apiserver.ref.add batch/v1beta1 CronJob nightly
echo "-- ReplicaSet $rs (structured mode): controlled by web, so not cached itself"
send_structured dev.knative.apiserver.ref.add apps/v1 ReplicaSet "$rs"
echo "-- Deployment legacy (binary mode): opted out by annotation"
send_binary dev.knative.apiserver.ref.add apps/v1 Deployment legacy
echo "-- a Secret event: not a watched kind, ignored without any API call"
send_binary dev.knative.apiserver.ref.add v1 Secret anything

say "kubectl get images -A"
show_images

say "Redelivering the same event three times: no duplicates, no writes"
for _ in 1 2 3; do send_binary dev.knative.apiserver.ref.update apps/v1 Deployment web; done

say "Changing an image of web (nginx:1.25 -> nginx:1.27) and sending the update event"
kubectl set image -n "$NS" deployment/web web=nginx:1.27 again=nginx:1.27 >/dev/null
send_binary dev.knative.apiserver.ref.update apps/v1 Deployment web
show_images

say "A DaemonSet created while nobody watched: the resync (PingSource) backfills it"
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
curl -s -X POST "$URL/resync"; echo

say "Deleting StatefulSet db: the controller-manager's garbage collector removes its Images"
db_uid="$(kubectl get statefulset db -n "$NS" -o jsonpath='{.metadata.uid}')"
kubectl delete statefulset db -n "$NS" >/dev/null
send_structured dev.knative.apiserver.ref.delete apps/v1 StatefulSet db
kubectl wait --for=delete images.caching.internal.knative.dev -n "$NS" -l "controller=$db_uid" --timeout=90s >/dev/null
show_images
[[ -z "$(kubectl get images.caching.internal.knative.dev -n "$NS" -l "controller=$db_uid" -o name)" ]] \
  || fail "the Images of db were not garbage-collected"

say "What the function logged"
grep -E "reconciled|ignored|disabled|deleted|Resync" "$WORK/cachier.log" | sed -E 's/^[a-z]+: [A-Za-z.]+\[[0-9]+\] //' | cut -c1-200

say "Done: every workload has exactly one Image per distinct image, owned by it."
