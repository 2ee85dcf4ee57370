#!/usr/bin/env bash
# local-cluster.sh - run a real, local Kubernetes API server (no Docker needed).
#
# What runs, all on 127.0.0.1:
#   etcd                     Debian package etcd-server
#   kube-apiserver           v1.20.2, built once from Debian bookworm's source package "kubernetes"
#   kube-controller-manager  v1.20.2, same build (garbage collection, ServiceAccount tokens,
#                            namespace deletion). Without --node there is no scheduler and no kubelet:
#                            Pods stay Pending.
# The CRDs in scripts/crds/ are applied once the API server is ready.
#
# Usage: scripts/local-cluster.sh install|up|down|status|env|stop-apiserver|start-apiserver [--node] [--nodes N]
#   install  install the Debian packages and build the binaries once (cached; idempotent)
#   up       install, then start etcd + kube-apiserver + kube-controller-manager and apply the CRDs
#            (idempotent: when the cluster is already up and healthy it just says so)
#   up --node  the same plus a real node: local registries, kube-scheduler, containerd + kubelet
#            (scripts/node-lab.sh says what runs); --nodes N (or CACHIER_NODE_COUNT=N) runs N nodes
#   down     stop the processes started by "up" (by recorded pid; the node lab's containers, mounts,
#            cgroups too) and remove the state folder
#   status   show what runs (exit code 0 when healthy, 1 otherwise)
#   env      print "export KUBECONFIG=..." (and, with a node up, CACHIER_REGISTRY, CACHIER_REGISTRY_SLOW,
#            CACHIER_PRIVATE_REGISTRY, CACHIER_PRIVATE_REGISTRY_AUTH, CACHIER_NODES, CACHIER_CONTAINERD_SOCKETS);
#            use: eval "$(scripts/local-cluster.sh env)"
#   stop-apiserver / start-apiserver
#            stop or start only kube-apiserver of a running cluster (fault tests)
# Every API request is logged to $CACHIER_CLUSTER_DIR/logs/audit.log (audit level Metadata).
#
# Environment:
#   CACHIER_CACHE           build cache             (default: $HOME/.cache/cachier)
#                           binaries in $CACHIER_CACHE/k8s-v1.20.2/bin/
#   CACHIER_CLUSTER_DIR     runtime state: certificates, tokens, etcd data, logs, pids, kubeconfig
#                           (default: /tmp/cachier-cluster)
#   CACHIER_ETCD_PORT       etcd client port        (default: 23790)
#   CACHIER_ETCD_PEER_PORT  etcd peer port          (default: CACHIER_ETCD_PORT + 10, i.e. 23800)
#   CACHIER_APISERVER_PORT  kube-apiserver port     (default: 16443)
#   (the node lab's settings: see scripts/node-lab.sh)
#
# Must run as root (apt-get, build). Works without a terminal (no prompts).

set -Eeuo pipefail

readonly K8S_VERSION=v1.20.2
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"
readonly SCRIPT_DIR
readonly CRD_DIR="$SCRIPT_DIR/crds"

CACHE_DIR="$(realpath -m "${CACHIER_CACHE:-${HOME:-/root}/.cache/cachier}")"
STATE_DIR="$(realpath -m "${CACHIER_CLUSTER_DIR:-/tmp/cachier-cluster}")"
readonly CACHE_DIR STATE_DIR
readonly BIN_DIR="$CACHE_DIR/k8s-$K8S_VERSION/bin"
readonly WORK_DIR="$CACHE_DIR/build-tree"
readonly BUILD_LOG="$CACHE_DIR/build.log"
readonly APT_LOG="$CACHE_DIR/apt.log"

ETCD_PORT="${CACHIER_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${CACHIER_ETCD_PEER_PORT:-$((ETCD_PORT + 10))}"
APISERVER_PORT="${CACHIER_APISERVER_PORT:-16443}"

readonly PKI_DIR="$STATE_DIR/pki"
readonly LOG_DIR="$STATE_DIR/logs"
readonly PID_DIR="$STATE_DIR/pids"
readonly KUBECONFIG_FILE="$STATE_DIR/kubeconfig"
readonly MARKER="$STATE_DIR/.cachier-local-cluster"
readonly STATE_LOCK="${STATE_DIR%/}.lock"

readonly RUNTIME_PACKAGES=(etcd-server openssl curl util-linux)
readonly BUILD_PACKAGES=(golang-go rsync make dpkg-dev xz-utils
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev)
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager)
# Built in one pass from the same source tree (kubelet and kube-scheduler serve the --node lab).
readonly K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

# The --node part: registries, images, containerd, kubelet, scheduler.
# shellcheck source=node-lab.sh
source "$SCRIPT_DIR/node-lab.sh"

export DEBIAN_FRONTEND=noninteractive

STEP="starting"
STARTING=0

# ---------------------------------------------------------------------------------------------
# messages and errors
# ---------------------------------------------------------------------------------------------
info() { printf 'local-cluster: %s\n' "$*" >&2; }

# fail MESSAGE [LOGFILE]: print which step failed and the end of the relevant log, then exit 1.
fail() {
  trap - ERR
  printf 'local-cluster: ERROR during "%s": %s\n' "$STEP" "$1" >&2
  if [[ -n ${2:-} && -f $2 ]]; then
    printf -- '--- last lines of %s ---\n' "$2" >&2
    tail -n "${CACHIER_LOG_LINES:-30}" "$2" >&2 || true
    printf -- '--- end of %s ---\n' "$2" >&2
  fi
  if ((STARTING)); then
    printf 'local-cluster: what did start is left running for inspection (logs: %s);\n' "$LOG_DIR" >&2
    printf 'local-cluster: "%s down" stops it, the next "up" starts over.\n' "$0" >&2
  fi
  exit 1
}

on_unexpected_error() {
  local rc=$? line=$1
  trap - ERR
  printf 'local-cluster: ERROR during "%s": command failed (exit code %s) at %s line %s\n' \
    "$STEP" "$rc" "$0" "$line" >&2
  exit "$rc"
}
trap 'on_unexpected_error $LINENO' ERR

step() { STEP="$1"; info "$1"; }

usage() {
  sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"
}

require_root() {
  [[ $(id -u) -eq 0 ]] || fail "this needs root (apt-get, building, writing $STATE_DIR); run it as root"
}

# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------

# pid_alive PID: true when PID exists and is not a zombie (PID 1 here does not reap orphans).
pid_alive() {
  local pid=$1 state
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || return 1
  state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]) .*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n $state && $state != Z && $state != X && $state != x ]]
}

# running_pid NAME: prints the recorded pid of component NAME when it is alive and is ours
# (its command line mentions our state folder, which guards against reused pids).
running_pid() {
  local f="$PID_DIR/$1.pid" pid
  [[ -f $f ]] || return 1
  pid="$(<"$f")"
  pid_alive "$pid" || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "$STATE_DIR" >/dev/null || return 1
  printf '%s\n' "$pid"
}

# start_process NAME COMMAND...: start detached from this script (own session, no stdin,
# output to $LOG_DIR/NAME.log) so it keeps running after the script exits; record its pid.
start_process() {
  local name=$1
  shift
  (
    # Close every inherited descriptor above 2: the daemons must not keep the lock files
    # (fd 8, 9: every later up/down would wait for them to exit) nor a caller's pipes open.
    for fd in /proc/"$BASHPID"/fd/*; do
      fd="${fd##*/}"
      if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid nohup "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null
  ) &
  printf '%s\n' "$!" >"$PID_DIR/$name.pid"
}

# stop_process NAME: stop the recorded process (TERM, then KILL after 20 s).
stop_process() {
  local name=$1 pid i
  if ! pid="$(running_pid "$name")"; then
    rm -f "$PID_DIR/$name.pid"
    return 0
  fi
  info "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    info "$name (pid $pid) did not stop after 20 s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    if pid_alive "$pid"; then fail "could not stop $name (pid $pid)"; fi
  fi
  rm -f "$PID_DIR/$name.pid"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# install: packages and the kube-apiserver / kube-controller-manager build
# ---------------------------------------------------------------------------------------------
APT_UPDATED=0

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'install ok installed' >/dev/null
}

apt_update() {
  if ((APT_UPDATED)); then return 0; fi
  step "apt-get update"
  apt-get update >>"$APT_LOG" 2>&1 || fail "apt-get update failed" "$APT_LOG"
  APT_UPDATED=1
}

kubernetes_source_known() {
  apt-cache showsrc kubernetes 2>/dev/null | grep '^Package: kubernetes$' >/dev/null
}

# Add a deb-src entry: a copy of the machine's Debian .sources file with "Types: deb-src".
# Returns 0 when a file was written (the package lists then need an update).
add_deb_src() {
  local src='' f dest=/etc/apt/sources.list.d/cachier-debian-src.sources
  if [[ -f $dest ]]; then return 1; fi
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    src=/etc/apt/sources.list.d/debian.sources
  else
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -f $f && $f != "$dest" ]] || continue
      if grep -qiE '^URIs:.*debian' "$f"; then src=$f; break; fi
    done
  fi
  if [[ -n $src ]]; then
    info "adding deb-src entry $dest (copy of $src)"
    sed -E 's/^Types:.*/Types: deb-src/' "$src" >"$dest"
  elif [[ -f /etc/apt/sources.list ]] && grep -qE '^deb[[:space:]]' /etc/apt/sources.list; then
    dest=/etc/apt/sources.list.d/cachier-debian-src.list
    if [[ -f $dest ]]; then return 1; fi
    info "adding deb-src entry $dest (from /etc/apt/sources.list)"
    sed -nE 's/^deb([[:space:]])/deb-src\1/p' /etc/apt/sources.list >"$dest"
  else
    fail "no Debian apt source found under /etc/apt to derive a deb-src entry from"
  fi
  return 0
}

binaries_ok() {
  local b
  for b in "${K8S_BINARIES[@]}"; do
    [[ -x $BIN_DIR/$b ]] || return 1
    "$BIN_DIR/$b" --version 2>/dev/null | grep -F "$K8S_VERSION" >/dev/null || return 1
  done
}

build_kubernetes() {
  local started=$SECONDS src pair vendor debian b
  rm -rf "$WORK_DIR"
  mkdir -p "$WORK_DIR"
  : >"$BUILD_LOG"

  step "downloading the kubernetes source package (apt-get source kubernetes, ~34 MB)"
  (cd "$WORK_DIR" && apt-get source kubernetes) >>"$BUILD_LOG" 2>&1 ||
    fail "apt-get source kubernetes failed" "$BUILD_LOG"
  src="$(find "$WORK_DIR" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
  [[ -n $src && -f $src/Makefile ]] ||
    fail "apt-get source did not unpack a kubernetes-*/ source tree in $WORK_DIR" "$BUILD_LOG"

  # vendored modern-go/reflect2 v1.0.1 breaks on Go >= 1.18 (kube-apiserver panics in
  # reflect.makemap on the first custom-resource object): use Debian's reflect2 and json-iterator.
  step "patching vendor/ (reflect2, json-iterator) with Debian's copies"
  for pair in modern-go/reflect2 json-iterator/go; do
    vendor="$src/vendor/github.com/$pair"
    debian="/usr/share/gocode/src/github.com/$pair"
    [[ -d $vendor ]] || fail "missing $vendor in the source tree"
    [[ -d $debian ]] || fail "missing $debian (Debian package not installed?)"
    find "$vendor" -mindepth 1 -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) \
      ! -name '*_test.go' -delete
    find "$debian" -mindepth 1 -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) \
      ! -name '*_test.go' -exec cp {} "$vendor/" \;
  done

  step "building ${K8S_BINARIES[*]} $K8S_VERSION (about 8-10 minutes on 2 cores; log: $BUILD_LOG)"
  # GOPATH mode, as Debian's own rules do. (&& chain: "set -e" is off left of "||")
  (
    unset GOFLAGS GO111MODULE GOOS GOARCH GOROOT GOBIN GOTOOLCHAIN &&
      export GOPATH="$src/.go" CGO_ENABLED=0 GOCACHE="$WORK_DIR/go-build" GOPROXY=off &&
      cd "$src" &&
      mkdir -p .go/src/k8s.io &&
      ln -sfn ../../.. .go/src/k8s.io/kubernetes &&
      KUBE_GIT_VERSION="$K8S_VERSION" KUBE_GIT_TREE_STATE=clean \
        make WHAT="${K8S_BINARIES[*]/#/cmd/}"
  ) >>"$BUILD_LOG" 2>&1 || fail "make failed" "$BUILD_LOG"

  step "caching the binaries in $BIN_DIR"
  mkdir -p "$BIN_DIR"
  for b in "${K8S_BINARIES[@]}"; do
    [[ -f $src/_output/bin/$b ]] || fail "the build did not produce _output/bin/$b" "$BUILD_LOG"
    cp "$src/_output/bin/$b" "$BIN_DIR/.$b.tmp"
    chmod 0755 "$BIN_DIR/.$b.tmp"
    mv -f "$BIN_DIR/.$b.tmp" "$BIN_DIR/$b"
  done
  binaries_ok || fail "the built binaries do not run ($BIN_DIR/kube-apiserver --version)" "$BUILD_LOG"

  step "removing the build tree $WORK_DIR"
  rm -rf "$WORK_DIR"
  info "build done in $((SECONDS - started)) s"
}

cmd_install() {
  require_root
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/.install.lock"
  STEP="waiting for another install/build to finish ($CACHE_DIR/.install.lock)"
  flock -w 3600 8 || fail "timed out waiting for the lock"

  local need_build=0 need_update=0 p
  local -a wanted=("${RUNTIME_PACKAGES[@]}") missing=()
  if ! binaries_ok; then
    need_build=1
    wanted+=("${BUILD_PACKAGES[@]}")
  fi
  if ((WANT_NODE)); then wanted+=("${NODE_PACKAGES[@]}"); fi
  for p in "${wanted[@]}"; do
    if ! pkg_installed "$p"; then missing+=("$p"); fi
  done
  if ((${#missing[@]} > 0)); then need_update=1; fi
  if ((need_build)) && ! kubernetes_source_known; then
    STEP="adding a deb-src entry"
    if add_deb_src; then need_update=1; fi
  fi
  if ((need_update)); then apt_update; fi

  if ((${#missing[@]})); then
    step "apt-get install ${missing[*]}"
    node_apt_install "${missing[@]}" || fail "apt-get install failed" "$APT_LOG"
  fi
  command -v etcd >/dev/null || fail "etcd is not on PATH after installing etcd-server"
  command -v kubectl >/dev/null ||
    fail "kubectl is not on PATH (expected /usr/bin/kubectl; 'make WHAT=cmd/kubectl' in the source tree builds one)"

  if ((need_build)); then
    kubernetes_source_known ||
      fail "apt does not know the source package 'kubernetes' (deb-src entry missing?)" "$APT_LOG"
    build_kubernetes
  else
    info "cached binaries OK: $BIN_DIR ($("$BIN_DIR/kube-apiserver" --version))"
  fi
  if ((WANT_NODE)); then node_install; fi
  exec 8>&-
}

# ---------------------------------------------------------------------------------------------
# up / down / status / env
# ---------------------------------------------------------------------------------------------
admin_token() { cut -d, -f1 "$PKI_DIR/tokens.csv"; }

readyz_ok() {
  [[ -f $PKI_DIR/ca.crt && -f $PKI_DIR/tokens.csv ]] || return 1
  [[ "$(curl -sS --max-time 5 --cacert "$PKI_DIR/ca.crt" \
    -H "Authorization: Bearer $(admin_token)" \
    "https://127.0.0.1:$(recorded_port APISERVER_PORT)/readyz" 2>/dev/null)" == ok ]]
}

etcd_ok() {
  curl -sS --max-time 5 "http://127.0.0.1:$(recorded_port ETCD_PORT)/health" 2>/dev/null |
    grep '"health":"true"' >/dev/null
}

# recorded_port NAME: the port the running cluster was started with (falls back to the env).
recorded_port() {
  local v=''
  if [[ -f $STATE_DIR/ports ]]; then v="$(sed -n "s/^$1=//p" "$STATE_DIR/ports")"; fi
  [[ -n $v ]] || v="${!1}"
  printf '%s\n' "$v"
}

cluster_healthy() {
  local c
  for c in "${COMPONENTS[@]}"; do running_pid "$c" >/dev/null || return 1; done
  etcd_ok && readyz_ok
}

kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" --request-timeout 20s "$@"; }

# wait_until TIMEOUT_SECONDS COMPONENT CHECK...: poll CHECK every 0.5 s; fail with the
# component's log when it times out or when the component process died.
wait_until() {
  local timeout=$1 comp=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@"; do
    running_pid "$comp" >/dev/null ||
      fail "$comp exited (see $LOG_DIR/$comp.log)" "$LOG_DIR/$comp.log"
    ((SECONDS < deadline)) || fail "timed out after ${timeout} s" "$LOG_DIR/$comp.log"
    sleep 0.5
  done
}

make_pki() {
  step "creating certificates, service-account key and admin token in $PKI_DIR"
  local log="$LOG_DIR/pki.log"
  # (&& chains: "set -e" has no effect inside a subshell that runs left of "||")
  cat >"$PKI_DIR/apiserver.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1
EOF
  (
    cd "$PKI_DIR" &&
      openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
        -keyout ca.key -out ca.crt -subj "/CN=cachier-local-ca" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" &&
      openssl req -new -nodes -newkey rsa:2048 -sha256 \
        -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" &&
      openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -sha256 -days 3650 -extfile apiserver.ext -out apiserver.crt &&
      openssl genrsa -out sa.key 2048 &&
      openssl rsa -in sa.key -pubout -out sa.pub &&
      token="$(openssl rand -hex 32)" &&
      printf '%s,admin,admin,"system:masters"\n' "$token" >tokens.csv &&
      chmod 0600 ca.key apiserver.key sa.key tokens.csv
  ) >"$log" 2>&1 || fail "openssl failed" "$log"
}

write_kubeconfig() {
  local ca
  ca="$(base64 -w0 <"$PKI_DIR/ca.crt")"
  umask 077
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cachier-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: cachier-admin
  user:
    token: $(admin_token)
contexts:
- name: cachier-local
  context:
    cluster: cachier-local
    user: cachier-admin
    namespace: default
current-context: cachier-local
EOF
  umask 022
}

apply_crds() {
  local log="$LOG_DIR/crds.log"
  compgen -G "$CRD_DIR/*.yaml" >/dev/null || fail "no CRD files in $CRD_DIR"
  step "applying the CRDs in $CRD_DIR"
  kc apply -f "$CRD_DIR" >>"$log" 2>&1 || fail "kubectl apply -f $CRD_DIR failed" "$log"
  step "waiting for the CRDs to be Established"
  kc wait --for condition=Established --timeout 60s -f "$CRD_DIR" >>"$log" 2>&1 ||
    fail "the CRDs did not become Established" "$log"
}

default_sa_has_token() {
  [[ -n "$(kc get serviceaccount default -n default -o jsonpath='{.secrets[0].name}' 2>/dev/null)" ]]
}

# The (pinned v1.20.2) controller-manager logs this once its garbage collector watches everything.
gc_synced() {
  grep -F 'all resource monitors have synced' "$LOG_DIR/kube-controller-manager.log" >/dev/null
}

take_state_lock() {
  mkdir -p "$(dirname "$STATE_LOCK")"
  exec 9>"$STATE_LOCK"
  STEP="waiting for another up/down to finish ($STATE_LOCK)"
  flock -w 3600 9 || fail "timed out waiting for the lock"
}

# Stop what we recorded and remove the state folder (only if it is ours).
teardown() {
  local c
  if [[ -d $STATE_DIR && ! -f $MARKER ]]; then
    fail "$STATE_DIR exists but was not created by this script (no $(basename "$MARKER")); not touching it"
  fi
  node_lab_down
  for ((c = ${#COMPONENTS[@]} - 1; c >= 0; c--)); do
    stop_process "${COMPONENTS[c]}"
  done
  rm -rf --one-file-system "$STATE_DIR"
}

# start_apiserver ETCD_URL: start kube-apiserver and wait for /readyz. Every request is written to
# $LOG_DIR/audit.log (audit level Metadata): the benchmarks count API calls from the server's side.
# --enable-admission-plugins adds to the default plugins (it replaces none of them):
# OwnerReferencesPermissionEnforcement (on in OpenShift) refuses an ownerReference with blockOwnerDeletion
# unless the writer may update the owner's finalizers, which Cachier's Images carry (Cachier.Tests.Deployment
# proves its ServiceAccount may create them).
start_apiserver() {
  local etcd_url=$1 apiserver_bin
  cat >"$STATE_DIR/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
POLICY
  step "starting kube-apiserver $K8S_VERSION on https://127.0.0.1:$APISERVER_PORT"
  apiserver_bin="$BIN_DIR/kube-apiserver"
  start_process kube-apiserver "$apiserver_bin" \
    --audit-policy-file "$STATE_DIR/audit-policy.yaml" \
    --audit-log-path "$LOG_DIR/audit.log" --audit-log-maxsize 200 --audit-log-maxbackup 2 \
    --etcd-servers "$etcd_url" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$APISERVER_PORT" --insecure-port 0 \
    --tls-cert-file "$PKI_DIR/apiserver.crt" --tls-private-key-file "$PKI_DIR/apiserver.key" \
    --client-ca-file "$PKI_DIR/ca.crt" \
    --token-auth-file "$PKI_DIR/tokens.csv" \
    --authorization-mode RBAC \
    --enable-admission-plugins OwnerReferencesPermissionEnforcement \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI_DIR/sa.pub" \
    --service-account-signing-key-file "$PKI_DIR/sa.key" \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/16 \
    --endpoint-reconciler-type none
  STEP="waiting for kube-apiserver /readyz"
  wait_until 90 kube-apiserver readyz_ok
}

# Stop or start only kube-apiserver of a running cluster (fault tests: the API server goes away and comes back).
cmd_stop_apiserver() {
  require_root
  take_state_lock
  [[ -f $MARKER ]] || fail "no cluster in $STATE_DIR: run '$0 up' first"
  step "stopping kube-apiserver"
  stop_process kube-apiserver
}

cmd_start_apiserver() {
  require_root
  take_state_lock
  [[ -f $MARKER ]] || fail "no cluster in $STATE_DIR: run '$0 up' first"
  if readyz_ok; then info "kube-apiserver already running"; return 0; fi
  APISERVER_PORT="$(recorded_port APISERVER_PORT)"
  start_apiserver "http://127.0.0.1:$(recorded_port ETCD_PORT)"
  info "kube-apiserver back on https://127.0.0.1:$(recorded_port APISERVER_PORT)"
}

cmd_up() {
  local started=$SECONDS p etcd_url apiserver_bin cm_bin
  require_root
  cmd_install
  take_state_lock

  if [[ -f $MARKER ]] && cluster_healthy; then
    info "already up and healthy: https://127.0.0.1:$(recorded_port APISERVER_PORT)"
    apply_crds
    if ((WANT_NODE)); then
      APISERVER_PORT="$(recorded_port APISERVER_PORT)"
      node_lab_up
    fi
    info "kubeconfig: $KUBECONFIG_FILE   (eval \"\$($0 env)\")"
    return 0
  fi
  if [[ -d $STATE_DIR ]]; then
    STEP="cleaning up a previous, unhealthy cluster"
    info "found $STATE_DIR but the cluster is not healthy: stopping what is left and starting fresh"
    teardown
  fi

  STEP="checking ports"
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT"; do
    if port_in_use "$p"; then
      fail "port 127.0.0.1:$p is already in use (set CACHIER_ETCD_PORT / CACHIER_ETCD_PEER_PORT / CACHIER_APISERVER_PORT)"
    fi
  done

  STARTING=1
  mkdir -p "$STATE_DIR" "$PKI_DIR" "$LOG_DIR" "$PID_DIR" "$STATE_DIR/etcd"
  chmod 0700 "$STATE_DIR/etcd" "$PKI_DIR"
  : >"$MARKER"
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' \
    "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" >"$STATE_DIR/ports"
  make_pki
  write_kubeconfig

  step "starting etcd on 127.0.0.1:$ETCD_PORT"
  etcd_url="http://127.0.0.1:$ETCD_PORT"
  start_process etcd etcd \
    --name cachier \
    --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "cachier=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state new
  wait_until 30 etcd etcd_ok

  start_apiserver "$etcd_url"

  # CRDs before the controller-manager: its garbage collector then watches the custom
  # resources from the start (otherwise only after its ~30 s discovery resync).
  apply_crds

  step "starting kube-controller-manager $K8S_VERSION"
  cm_bin="$BIN_DIR/kube-controller-manager"
  # --kube-api-qps/burst: the garbage collector deletes dependents at the controller-manager's client rate (20/s by
  # default), and the tests create and delete thousands of owned objects.
  start_process kube-controller-manager "$cm_bin" \
    --kubeconfig "$KUBECONFIG_FILE" \
    --authentication-kubeconfig "$KUBECONFIG_FILE" \
    --authorization-kubeconfig "$KUBECONFIG_FILE" \
    --bind-address 127.0.0.1 --port 0 --secure-port 0 \
    --kube-api-qps 100 --kube-api-burst 200 \
    --leader-elect=false --use-service-account-credentials=false \
    --service-account-private-key-file "$PKI_DIR/sa.key" \
    --root-ca-file "$PKI_DIR/ca.crt" \
    --controllers '*,-nodeipam,-nodelifecycle,-route,-service,-cloud-node-lifecycle,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-pvc-protection,-pv-protection,-ttl'
  STEP="waiting for kube-controller-manager (token for ServiceAccount default/default)"
  wait_until 90 kube-controller-manager default_sa_has_token
  STEP="waiting for the garbage collector to sync"
  wait_until 90 kube-controller-manager gc_synced
  STARTING=0
  if ((WANT_NODE)); then node_lab_up; fi

  info "up in $((SECONDS - started)) s: https://127.0.0.1:$APISERVER_PORT (etcd $etcd_url)"
  info "kubeconfig: $KUBECONFIG_FILE   (eval \"\$($0 env)\")"
  info "logs: $LOG_DIR"
}

cmd_down() {
  take_state_lock
  STEP="stopping the cluster"
  if [[ ! -d $STATE_DIR ]]; then
    info "not running (no $STATE_DIR)"
    return 0
  fi
  teardown
  info "stopped; removed $STATE_DIR"
}

cmd_status() {
  local c pid healthy=1
  if [[ ! -f $MARKER ]]; then
    info "down (no $STATE_DIR)"
    return 1
  fi
  for c in "${COMPONENTS[@]}"; do
    if pid="$(running_pid "$c")"; then
      printf '%-30s running (pid %s)\n' "$c" "$pid"
    else
      printf '%-30s NOT running (log: %s)\n' "$c" "$LOG_DIR/$c.log"
      healthy=0
    fi
  done
  if etcd_ok; then
    printf '%-30s healthy\n' "etcd http://127.0.0.1:$(recorded_port ETCD_PORT)"
  else
    printf '%-30s NOT healthy\n' "etcd http://127.0.0.1:$(recorded_port ETCD_PORT)"
    healthy=0
  fi
  if readyz_ok; then
    printf '%-30s /readyz ok\n' "https://127.0.0.1:$(recorded_port APISERVER_PORT)"
  else
    printf '%-30s /readyz NOT ok\n' "https://127.0.0.1:$(recorded_port APISERVER_PORT)"
    healthy=0
  fi
  node_lab_status || healthy=0
  printf 'kubeconfig: %s\n' "$KUBECONFIG_FILE"
  printf 'binaries:   %s\n' "$BIN_DIR"
  printf 'logs:       %s\n' "$LOG_DIR"
  ((healthy))
}

cmd_env() {
  [[ -f $KUBECONFIG_FILE ]] || info "note: $KUBECONFIG_FILE does not exist yet (run: $0 up)"
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  node_lab_env
}

main() {
  local cmd="${1:-}"
  if (($# > 0)); then shift; fi
  while (($# > 0)); do
    case "$1" in
      --node) WANT_NODE=1 ;;
      --nodes)
        WANT_NODE=1
        NODE_COUNT="${2:-}"
        shift
        ;;
      --nodes=*)
        WANT_NODE=1
        NODE_COUNT="${1#--nodes=}"
        ;;
      *)
        usage >&2
        exit 2
        ;;
    esac
    shift
  done
  case "$cmd" in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    stop-apiserver) cmd_stop_apiserver ;;
    start-apiserver) cmd_start_apiserver ;;
    status) if cmd_status; then exit 0; else exit 1; fi ;;
    env) cmd_env ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
