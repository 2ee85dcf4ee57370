# node-lab.sh - the "--node" part of scripts/local-cluster.sh (sourced by it, not run on its own).
#
# "local-cluster.sh up --node" adds, all on this machine and on 127.0.0.0/8 only:
#   registry        an OCI registry (Debian docker-registry, distribution 2.8), plain HTTP on 127.0.0.1:$CACHIER_REGISTRY_PORT,
#                   holding lab/pause:1, lab/busybox:1 and lab/large:1 (busybox + ~300 MiB of random data in its own layer)
#   registry-slow   "cachier-lab throttle": a token-bucket TCP proxy in front of it on 127.0.0.1:$CACHIER_REGISTRY_SLOW_PORT
#                   ($CACHIER_REGISTRY_RATE for all connections together): pull 127.0.0.1:PORT/lab/large:1 through it
#   registry-private a second registry with htpasswd basic auth on 127.0.0.1:$CACHIER_PRIVATE_REGISTRY_PORT holding
#                   private/busybox:1; its user:password is in $CACHIER_CLUSTER_DIR/registry/private.auth
#   kube-scheduler  v1.20.2 (same build as kube-apiserver), admin kubeconfig, no leader election
#   per node        containerd + runc (Debian packages; own root, state, socket and config under the state folder)
#                   and kubelet v1.20.2 named 127.0.0.N (N = 1..count; node N binds 127.0.0.N), CNI bridge + host-local
#                   (a bridge without an IPv4 address, gateway or masquerading: pod traffic stays on this machine)
# The test images are built without Docker (umoci, skopeo) once into $CACHIER_CACHE/lab-images-v1 and pushed on each up;
# tools/Cachier.Lab is built into $CACHIER_CACHE/cachier-lab when its sources changed.
# Nodes: 127.0.0.1 by default; with --nodes N also 127.0.0.2 ... (each its own containerd, kubelet, cgroup root, bridge
# and pod subnet 10.244.N.0/24; node 2 and up run in a mount namespace of their own, see start_containerd).
# Outside the state folder the lab touches only: /sys/fs/cgroup/*/cachier-<id>-nN, the bridges cch<id>nN,
# /run/netns/cni-*, /var/lib/cni/results, /var/log/pods and /var/log/containers (node 1), /run/containerd/s (shim
# sockets), and three sysctls; "down" removes or restores each.
#
# Environment (node part):
#   CACHIER_NODE_COUNT             nodes to run (default 1; "--nodes N" does the same)
#   CACHIER_REGISTRY_PORT          plain registry          (default 25000)
#   CACHIER_REGISTRY_SLOW_PORT     throttled proxy to it   (default CACHIER_REGISTRY_PORT + 1)
#   CACHIER_PRIVATE_REGISTRY_PORT  registry with basic auth (default CACHIER_REGISTRY_PORT + 2)
#   CACHIER_REGISTRY_RATE          the proxy's rate        (default 25MB, i.e. 25,000,000 bytes/s)
#   CACHIER_KUBELET_PORT           kubelet API port of every node (default 20250; each node on its own address)
#   CACHIER_KUBELET_HEALTHZ_PORT   kubelet healthz port    (default CACHIER_KUBELET_PORT - 2)
#   CACHIER_SCHEDULER_PORT         kube-scheduler's secure port (default 20259)
#
# Known workarounds for this VM (see NODE-LAB.md in the shared reference): containerd's CRI clamps oom_score_adj
# (restrict_oom_score_adj; root here lacks CAP_SYS_RESOURCE); kubelet's node name is IP-shaped (it refuses a loopback
# --node-ip but reports an IP-shaped --hostname-override as the node's InternalIP); kubelet changes three host
# sysctls at start: they are recorded before and restored once it is healthy and again at down.
# The kubelet API (logs, exec) accepts anonymous requests (the API server has no kubelet client certificate here);
# it listens on 127.0.0.N only.

readonly NODE_PACKAGES=(containerd runc containernetworking-plugins docker-registry umoci skopeo busybox-static
  catatonit apache2-utils iproute2)
readonly NODE_MARKER="$STATE_DIR/node-lab"
readonly LAB_TOOL_DIR="$CACHE_DIR/cachier-lab"
readonly LAB_IMAGES_DIR="$CACHE_DIR/lab-images-v1"
readonly REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
# A short id of this state folder names what lives outside it (cgroups, bridges, CNI network), so that two clusters
# in two state folders do not meet.
LAB_ID="$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-6)"
readonly LAB_ID
readonly LAB_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)

WANT_NODE=0
NODE_COUNT="${CACHIER_NODE_COUNT:-1}"
REGISTRY_PORT="${CACHIER_REGISTRY_PORT:-25000}"
REGISTRY_SLOW_PORT="${CACHIER_REGISTRY_SLOW_PORT:-$((REGISTRY_PORT + 1))}"
PRIVATE_REGISTRY_PORT="${CACHIER_PRIVATE_REGISTRY_PORT:-$((REGISTRY_PORT + 2))}"
REGISTRY_RATE="${CACHIER_REGISTRY_RATE:-25MB}"
KUBELET_PORT="${CACHIER_KUBELET_PORT:-20250}"
KUBELET_HEALTHZ_PORT="${CACHIER_KUBELET_HEALTHZ_PORT:-$((KUBELET_PORT - 2))}"
SCHEDULER_PORT="${CACHIER_SCHEDULER_PORT:-20259}"

# node_value NAME: a value the running node lab was started with (from $NODE_MARKER).
node_value() {
  if [[ -f $NODE_MARKER ]]; then sed -n "s/^$1=//p" "$NODE_MARKER"; fi
}

# node_names: the node names of the running lab (or of the one to start), one a line.
node_names() {
  local n i
  n="$(node_value NODE_COUNT)"
  n="${n:-$NODE_COUNT}"
  for ((i = 1; i <= n; i++)); do printf '127.0.0.%s\n' "$i"; done
}

node_dir() { printf '%s/nodes/%s\n' "$STATE_DIR" "$1"; }
node_index() { printf '%s\n' "${1##*.}"; }
node_sock() { printf '%s/containerd/containerd.sock\n' "$(node_dir "$1")"; }
node_cgroup() { printf 'cachier-%s-n%s\n' "$LAB_ID" "$(node_index "$1")"; }
node_bridge() { printf 'cch%sn%s\n' "$LAB_ID" "$(node_index "$1")"; }
cni_network() { printf 'cachier-%s\n' "$LAB_ID"; }

# ---------------------------------------------------------------------------------------------
# install: packages, the cachier-lab tool, the test images
# ---------------------------------------------------------------------------------------------

# node_install_packages MISSING_ARRAY_NAME: called by cmd_install before it installs (adds what is missing).
node_missing_packages() {
  local p
  for p in "${NODE_PACKAGES[@]}"; do
    if ! pkg_installed "$p"; then printf '%s\n' "$p"; fi
  done
}

# The Debian packages must not start their own daemons (docker-registry would listen on :5000 on every address):
# a policy-rc.d that forbids it while apt-get runs, unless the machine has one.
node_apt_install() {
  local policy=/usr/sbin/policy-rc.d made=0 rc=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    made=1
  fi
  apt-get install -y --no-install-recommends "$@" >>"$APT_LOG" 2>&1 || rc=$?
  if ((made)); then rm -f "$policy"; fi
  return "$rc"
}

# Build tools/Cachier.Lab into the cache when its sources are newer than the last build (own artifacts folder:
# the solution's builds of the same project are not disturbed).
node_build_tool() {
  local stamp="$LAB_TOOL_DIR/.built" log="$CACHE_DIR/cachier-lab-build.log"
  command -v dotnet >/dev/null || fail "dotnet is not on PATH (needed to build tools/Cachier.Lab)"
  if [[ -f $stamp && -x $LAB_TOOL_DIR/cachier-lab ]] &&
    [[ -z "$(find "$REPO_DIR/tools/Cachier.Lab" "$REPO_DIR/Directory.Build.props" "$REPO_DIR/Directory.Packages.props" \
      \( -name bin -o -name obj \) -prune -o -type f -newer "$stamp" -print -quit)" ]]; then
    return 0
  fi
  step "building tools/Cachier.Lab (cachier-lab) into $LAB_TOOL_DIR"
  dotnet build "$REPO_DIR/tools/Cachier.Lab/Cachier.Lab.csproj" -c Release -nologo -v quiet \
    -o "$LAB_TOOL_DIR" --artifacts-path "$CACHE_DIR/cachier-lab-artifacts" >"$log" 2>&1 ||
    fail "dotnet build tools/Cachier.Lab failed" "$log"
  : >"$stamp"
}

# The test images as one OCI layout (tags pause, busybox, large), built once without Docker.
node_build_images() {
  local oci="$LAB_IMAGES_DIR/oci" tmp log="$CACHE_DIR/lab-images.log" a
  [[ -f $LAB_IMAGES_DIR/.done ]] && return 0
  step "building the test images (umoci: pause, busybox, large) into $LAB_IMAGES_DIR"
  rm -rf "$LAB_IMAGES_DIR"
  mkdir -p "$LAB_IMAGES_DIR"
  tmp="$LAB_IMAGES_DIR/work"
  : >"$log"
  {
    umoci init --layout "$oci" &&
      # pause: catatonit in pause mode (static)
      umoci new --image "$oci:pause" &&
      umoci unpack --image "$oci:pause" "$tmp/pause" &&
      install -m 0755 /usr/bin/catatonit "$tmp/pause/rootfs/catatonit" &&
      umoci repack --image "$oci:pause" "$tmp/pause" &&
      umoci config --image "$oci:pause" --config.entrypoint /catatonit --config.entrypoint -P &&
      # busybox: the static busybox with a link per applet (/bin/true is the warmer's no-op)
      umoci new --image "$oci:busybox" &&
      umoci unpack --image "$oci:busybox" "$tmp/busybox" &&
      mkdir -p "$tmp/busybox/rootfs/bin" "$tmp/busybox/rootfs/tmp" &&
      install -m 0755 /usr/bin/busybox "$tmp/busybox/rootfs/bin/busybox" &&
      for a in $(/usr/bin/busybox --list); do
        if [[ $a != busybox ]]; then ln -s busybox "$tmp/busybox/rootfs/bin/$a"; fi
      done &&
      umoci repack --image "$oci:busybox" "$tmp/busybox" &&
      umoci config --image "$oci:busybox" --config.cmd /bin/sh &&
      # large: busybox plus ~300 MiB of incompressible data in a layer of its own
      umoci tag --image "$oci:busybox" large &&
      umoci unpack --image "$oci:large" "$tmp/large" &&
      mkdir -p "$tmp/large/rootfs/data" &&
      head -c 300M /dev/urandom >"$tmp/large/rootfs/data/random" &&
      umoci repack --image "$oci:large" "$tmp/large" &&
      umoci gc --layout "$oci" &&
      rm -rf "$tmp"
  } >>"$log" 2>&1 || fail "building the test images failed" "$log"
  : >"$LAB_IMAGES_DIR/.done"
}

node_install() {
  node_build_tool
  node_build_images
}

# ---------------------------------------------------------------------------------------------
# health checks
# ---------------------------------------------------------------------------------------------
registry_ok() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/v2/")" == "$2" ]]; }
kubelet_ok() {
  [[ "$(curl -s --max-time 5 "http://$1:$(node_value KUBELET_HEALTHZ_PORT)/healthz" 2>/dev/null)" == ok ]]
}
containerd_ok() { ctr --address "$(node_sock "$1")" --timeout 5s version >/dev/null 2>&1; }
scheduler_ok() {
  [[ "$(curl -sk --max-time 5 "https://127.0.0.1:$(node_value SCHEDULER_PORT)/healthz" 2>/dev/null)" == ok ]]
}
node_ready() {
  [[ "$(kc get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
all_nodes() {
  local check=$1 n
  for n in $(node_names); do "$check" "$n" || return 1; done
}

node_components() {
  local n
  printf '%s\n' registry registry-private registry-slow kube-scheduler
  for n in $(node_names); do printf '%s\n' "containerd-$n" "kubelet-$n"; done
}

node_lab_healthy() {
  local c
  [[ -f $NODE_MARKER ]] || return 1
  for c in $(node_components); do running_pid "$c" >/dev/null || return 1; done
  registry_ok "$(node_value REGISTRY_PORT)" 200 && registry_ok "$(node_value REGISTRY_SLOW_PORT)" 200 &&
    registry_ok "$(node_value PRIVATE_REGISTRY_PORT)" 401 && all_nodes kubelet_ok && all_nodes node_ready
}

# ---------------------------------------------------------------------------------------------
# sysctls kubelet changes at start
# ---------------------------------------------------------------------------------------------
sysctls_record() {
  local k
  [[ -f $STATE_DIR/sysctls.saved ]] && return 0
  for k in "${LAB_SYSCTLS[@]}"; do printf '%s=%s\n' "$k" "$(sysctl -n "$k")"; done >"$STATE_DIR/sysctls.saved"
}

sysctls_restore() {
  local line
  [[ -f $STATE_DIR/sysctls.saved ]] || return 0
  while IFS= read -r line; do
    [[ "$(sysctl -n "${line%%=*}")" == "${line#*=}" ]] || sysctl -q -w "$line" >/dev/null || true
  done <"$STATE_DIR/sysctls.saved"
}

# ---------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------
start_registry() {
  local name=$1 port=$2 auth=${3:-}
  mkdir -p "$STATE_DIR/registry/$name"
  {
    printf 'version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\n'
    printf 'storage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\n' "$STATE_DIR/registry/$name"
    printf 'http: {addr: "127.0.0.1:%s", secret: %s}\n' "$port" "$(openssl rand -hex 16)"
    if [[ -n $auth ]]; then printf 'auth:\n  htpasswd: {realm: cachier-lab, path: %s}\n' "$auth"; fi
  } >"$STATE_DIR/registry/$name.yml"
  start_process "$name" docker-registry serve "$STATE_DIR/registry/$name.yml"
}

# push TAG REFERENCE [CREDS]: copy one image of the cached layout into a local registry.
push_image() {
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false ${3:+--dest-creds "$3"} \
    "oci:$LAB_IMAGES_DIR/oci:$1" "docker://$2"
}

push_images() {
  local reg="127.0.0.1:$REGISTRY_PORT" priv="127.0.0.1:$PRIVATE_REGISTRY_PORT" creds
  creds="$(<"$STATE_DIR/registry/private.auth")"
  push_image pause "$reg/lab/pause:1" &&
    push_image busybox "$reg/lab/busybox:1" &&
    push_image busybox "$priv/private/busybox:1" "$creds" &&
    push_image large "$reg/lab/large:1"
}

write_registry_hosts() {
  local port dir
  for port in "$REGISTRY_PORT" "$REGISTRY_SLOW_PORT" "$PRIVATE_REGISTRY_PORT"; do
    dir="$STATE_DIR/registry-hosts/127.0.0.1:$port"
    mkdir -p "$dir"
    printf 'server = "http://127.0.0.1:%s"\n\n[host."http://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' \
      "$port" "$port" >"$dir/hosts.toml"
  done
}

# make_node_config NODE: certificate, kubeconfig, containerd and kubelet configuration, CNI and cgroup root.
make_node_config() {
  local n=$1 d i ca cg ctl
  d="$(node_dir "$n")"
  i="$(node_index "$n")"
  mkdir -p "$d/pki" "$d/containerd" "$d/kubelet" "$d/cni/net.d" "$d/cni/ipam"
  chmod 0700 "$d/pki"
  (
    cd "$d/pki" &&
      openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout kubelet.key -out kubelet.csr -subj "/O=system:nodes/CN=system:node:$n" &&
      openssl x509 -req -in kubelet.csr -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" -CAcreateserial \
        -sha256 -days 3650 -out kubelet.crt
  ) >>"$LOG_DIR/pki.log" 2>&1 || fail "openssl (kubelet certificate of $n) failed" "$LOG_DIR/pki.log"
  ca="$(base64 -w0 <"$PKI_DIR/ca.crt")"
  cat >"$d/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cachier-local
  cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority-data: $ca}
users:
- name: kubelet
  user: {client-certificate: $d/pki/kubelet.crt, client-key: $d/pki/kubelet.key}
contexts:
- name: kubelet
  context: {cluster: cachier-local, user: kubelet}
current-context: kubelet
EOF
  chmod 0600 "$d/kubeconfig"

  cat >"$d/containerd/config.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$d/containerd/containerd.sock"

[ttrpc]
  address = "$d/containerd/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "127.0.0.1:$REGISTRY_PORT/lab/pause:1"
  # root here lacks CAP_SYS_RESOURCE: no negative oom_score_adj (sandboxes ask for -998)
  restrict_oom_score_adj = true
  stream_server_address = "$n"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE_DIR/registry-hosts"
EOF

  # A bridge with no IPv4 address, no gateway, no masquerading: pods reach each other on this node only.
  cat >"$d/cni/net.d/10-cachier.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$(cni_network)-n$i",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$(node_bridge "$n")",
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$d/cni/ipam",
        "ranges": [[{"subnet": "10.244.$i.0/24"}]]
      }
    }
  ]
}
EOF

  # kubelet's cgroup root must exist in every controller; cpuset needs its cpus and mems before tasks can join.
  cg="$(node_cgroup "$n")"
  for ctl in /sys/fs/cgroup/*/; do
    [[ $ctl == */unified/ ]] && continue
    mkdir -p "$ctl$cg"
  done
  if [[ -d /sys/fs/cgroup/cpuset/$cg ]]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$cg/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$cg/cpuset.mems"
  fi

  cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: "$n"
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: "$n"
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: "/$cg"
failSwapOn: false
makeIPTablesUtilChains: false
serializeImagePulls: false
maxPods: 60
clusterDomain: cluster.local
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
runtimeRequestTimeout: 15m
EOF
}

# Every kubelet deletes the folders under /var/log/pods (a fixed path in 1.20) of pods it does not know: a second
# node's containerd and kubelet share a mount namespace of their own where /var/log/pods and /var/log/containers are
# the node's own folders (private propagation: what they mount there goes away with them).
start_containerd() {
  local n=$1 d
  d="$(node_dir "$n")"
  if [[ $(node_index "$n") == 1 ]]; then
    start_process "containerd-$n" containerd --config "$d/containerd/config.toml"
    return 0
  fi
  mkdir -p "$d/log/pods" "$d/log/containers"
  start_process "containerd-$n" unshare --mount --propagation private -- sh -c \
    'mount --bind "$1" /var/log/pods && mount --bind "$2" /var/log/containers && exec containerd --config "$3"' \
    sh "$d/log/pods" "$d/log/containers" "$d/containerd/config.toml"
}

start_kubelet() {
  local n=$1 d
  local -a ns=()
  d="$(node_dir "$n")"
  if [[ $(node_index "$n") != 1 ]]; then ns=(nsenter --target "$(running_pid "containerd-$n")" --mount --); fi
  start_process "kubelet-$n" "${ns[@]}" "$BIN_DIR/kubelet" \
    --config "$d/kubelet.yaml" \
    --kubeconfig "$d/kubeconfig" \
    --hostname-override "$n" \
    --root-dir "$d/kubelet" --cert-dir "$d/kubelet/pki" \
    --container-runtime remote \
    --container-runtime-endpoint "unix://$d/containerd/containerd.sock" \
    --image-service-endpoint "unix://$d/containerd/containerd.sock" \
    --pod-infra-container-image "127.0.0.1:$REGISTRY_PORT/lab/pause:1" \
    --v 1
}

addr_in_use() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

node_check_ports() {
  local p n
  STEP="checking the node lab's ports"
  for p in "$REGISTRY_PORT" "$REGISTRY_SLOW_PORT" "$PRIVATE_REGISTRY_PORT" "$SCHEDULER_PORT"; do
    if port_in_use "$p"; then
      fail "port 127.0.0.1:$p is already in use (set CACHIER_REGISTRY_PORT / CACHIER_REGISTRY_SLOW_PORT / CACHIER_PRIVATE_REGISTRY_PORT / CACHIER_SCHEDULER_PORT)"
    fi
  done
  for n in $(node_names); do
    for p in "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT"; do
      if addr_in_use "$n" "$p"; then
        fail "port $n:$p is already in use (set CACHIER_KUBELET_PORT / CACHIER_KUBELET_HEALTHZ_PORT)"
      fi
    done
  done
}

# node_lab_up: start the node lab beside a healthy cluster (idempotent).
node_lab_up() {
  local started=$SECONDS n pushes user pass
  [[ $NODE_COUNT =~ ^[1-9][0-9]?$ ]] || fail "the node count must be a number from 1 to 99 (got '$NODE_COUNT')"
  if [[ -f $NODE_MARKER ]] && [[ "$(node_value NODE_COUNT)" == "$NODE_COUNT" ]] && node_lab_healthy; then
    info "node lab already up and healthy: $(node_names | paste -sd, -)"
    return 0
  fi
  if [[ -f $NODE_MARKER ]]; then
    STEP="stopping the previous node lab"
    info "the node lab is not healthy or has another node count: stopping it and starting fresh"
    node_lab_down
  fi
  node_check_ports

  STARTING=1
  printf 'NODE_COUNT=%s\nREGISTRY_PORT=%s\nREGISTRY_SLOW_PORT=%s\nPRIVATE_REGISTRY_PORT=%s\nKUBELET_PORT=%s\nKUBELET_HEALTHZ_PORT=%s\nSCHEDULER_PORT=%s\n' \
    "$NODE_COUNT" "$REGISTRY_PORT" "$REGISTRY_SLOW_PORT" "$PRIVATE_REGISTRY_PORT" "$KUBELET_PORT" \
    "$KUBELET_HEALTHZ_PORT" "$SCHEDULER_PORT" >"$NODE_MARKER"

  step "starting the registries on 127.0.0.1:$REGISTRY_PORT and 127.0.0.1:$PRIVATE_REGISTRY_PORT (basic auth)"
  mkdir -p "$STATE_DIR/registry"
  user=cachier
  pass="$(openssl rand -hex 12)"
  htpasswd -Bbn "$user" "$pass" >"$STATE_DIR/registry/private.htpasswd" 2>>"$LOG_DIR/pki.log" ||
    fail "htpasswd failed" "$LOG_DIR/pki.log"
  (umask 077 && printf '%s:%s\n' "$user" "$pass" >"$STATE_DIR/registry/private.auth")
  start_registry registry "$REGISTRY_PORT"
  start_registry registry-private "$PRIVATE_REGISTRY_PORT" "$STATE_DIR/registry/private.htpasswd"
  write_registry_hosts

  step "starting the throttled proxy 127.0.0.1:$REGISTRY_SLOW_PORT -> 127.0.0.1:$REGISTRY_PORT ($REGISTRY_RATE/s)"
  start_process registry-slow "$LAB_TOOL_DIR/cachier-lab" throttle --label "$STATE_DIR" \
    --listen "127.0.0.1:$REGISTRY_SLOW_PORT" --target "127.0.0.1:$REGISTRY_PORT" --rate "$REGISTRY_RATE"

  step "starting containerd for $(node_names | paste -sd' ' -)"
  for n in $(node_names); do
    make_node_config "$n"
    start_containerd "$n"
  done

  STEP="waiting for the registries"
  wait_until 30 registry registry_ok "$REGISTRY_PORT" 200
  wait_until 30 registry-private registry_ok "$PRIVATE_REGISTRY_PORT" 401
  step "pushing lab/pause:1, lab/busybox:1, lab/large:1 and private/busybox:1 (skopeo, in the background)"
  push_images >"$LOG_DIR/push.log" 2>&1 &
  pushes=$!

  step "granting ClusterRole system:node to group system:nodes; starting kube-scheduler on 127.0.0.1:$SCHEDULER_PORT"
  kc apply -f - >>"$LOG_DIR/node-rbac.log" 2>&1 <<'EOF' || fail "kubectl apply (node RBAC) failed" "$LOG_DIR/node-rbac.log"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cachier-lab-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:nodes}
EOF
  start_process kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig "$KUBECONFIG_FILE" \
    --authentication-kubeconfig "$KUBECONFIG_FILE" --authorization-kubeconfig "$KUBECONFIG_FILE" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --port 0 \
    --cert-dir "$STATE_DIR/scheduler" --leader-elect=false

  for n in $(node_names); do
    STEP="waiting for containerd of $n"
    wait_until 30 "containerd-$n" containerd_ok "$n"
  done
  sysctls_record
  step "starting kubelet $K8S_VERSION for $(node_names | paste -sd' ' -)"
  for n in $(node_names); do start_kubelet "$n"; done
  for n in $(node_names); do
    STEP="waiting for kubelet $n /healthz"
    wait_until 60 "kubelet-$n" kubelet_ok "$n"
  done
  sysctls_restore

  STEP="pushing the test images (log: $LOG_DIR/push.log)"
  wait "$pushes" || fail "pushing the test images failed" "$LOG_DIR/push.log"
  STEP="waiting for the proxy 127.0.0.1:$REGISTRY_SLOW_PORT"
  wait_until 30 registry-slow registry_ok "$REGISTRY_SLOW_PORT" 200
  for n in $(node_names); do
    STEP="waiting for node $n to be Ready"
    wait_until 90 "kubelet-$n" node_ready "$n"
    # The kubelet registers with this taint; the node lifecycle controller (not run here) would remove it.
    kc taint node "$n" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
  done
  STEP="waiting for kube-scheduler /healthz"
  wait_until 30 kube-scheduler scheduler_ok
  sysctls_restore
  STARTING=0
  info "node lab up in $((SECONDS - started)) s: nodes $(node_names | paste -sd, -), registries 127.0.0.1:$REGISTRY_PORT (slow: $REGISTRY_SLOW_PORT, private: $PRIVATE_REGISTRY_PORT)"
}

# ---------------------------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------------------------

# node_clean_containers NODE: kill and remove every task and container of the node's containerd, and collect what
# they leave outside the state folder (network namespaces, pod log folders) for node_clean_host.
node_clean_containers() {
  local n=$1 sock ids id pid
  sock="$(node_sock "$n")"
  ids="$(ctr --address "$sock" --timeout 10s -n k8s.io containers ls -q 2>/dev/null)" || return 0
  for pid in $(ctr --address "$sock" --timeout 10s -n k8s.io tasks ls 2>/dev/null | awk 'NR > 1 {print $2}'); do
    if [[ $pid =~ ^[1-9][0-9]*$ ]]; then stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null >>"$STATE_DIR/netns.inodes" || true; fi
  done
  printf '%s\n' $ids >>"$STATE_DIR/container.ids"
  # A node in its own mount namespace: its sandboxes' network namespace files under /run/netns are mount points
  # there only; on the host they are empty files that nothing else removes.
  if [[ $(node_index "$n") != 1 ]] && pid="$(running_pid "containerd-$n")"; then
    awk '$2 ~ /^\/run\/netns\/cni-/ {print $2}' "/proc/$pid/mounts" 2>/dev/null |
      while IFS= read -r id; do
        grep -qF " $id " /proc/self/mounts || printf '%s\n' "$id"
      done >>"$STATE_DIR/netns.files" || true
  fi
  for id in $ids; do
    ctr --address "$sock" --timeout 10s -n k8s.io containers info "$id" 2>/dev/null |
      sed -n 's/.*"io.kubernetes.pod.uid": "\([^"]*\)".*/\1/p' >>"$STATE_DIR/pod.uids" || true
    ctr --address "$sock" --timeout 20s -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $ids; do
    ctr --address "$sock" --timeout 20s -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
    ctr --address "$sock" --timeout 20s -n k8s.io containers rm "$id" >/dev/null 2>&1 || true
  done
}

# Processes left in the lab's cgroups (a shim that died before its container): killed by pid.
node_kill_cgroup_procs() {
  local f pid
  for f in /sys/fs/cgroup/*/cachier-"$LAB_ID"-n*; do
    [[ -d $f ]] || continue
    while IFS= read -r f; do
      while IFS= read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$f"
    done < <(find "$f" -name cgroup.procs 2>/dev/null)
  done
  # shims of our containerd instances (their command line names our socket)
  for f in $(grep -alF -- "$STATE_DIR/" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    pid="${f#/proc/}"
    pid="${pid%/cmdline}"
    if grep -aqF -- containerd-shim "$f" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
}

# Unmount everything below the state folder (deepest first) and the network namespaces of our sandboxes.
node_unmount() {
  local m ino
  if [[ -f $STATE_DIR/netns.inodes ]]; then
    for m in /run/netns/cni-*; do
      [[ -e $m ]] || continue
      ino="$(stat -L -c %i "$m" 2>/dev/null)" || continue
      if grep -qx -- "$ino" "$STATE_DIR/netns.inodes"; then
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        rm -f "$m"
      fi
    done
  fi
  if [[ -f $STATE_DIR/netns.files ]]; then
    while IFS= read -r m; do
      if ! grep -qF " $m " /proc/self/mounts; then rm -f "$m"; fi
    done <"$STATE_DIR/netns.files"
  fi
  while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || info "could not unmount $m"
  done < <(awk -v p="$STATE_DIR/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | uniq)
}

node_clean_host() {
  local d uid n
  # cgroups, leaf first
  for d in /sys/fs/cgroup/*/cachier-"$LAB_ID"-n*; do
    [[ -d $d ]] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    if [[ -d $d ]]; then info "could not remove cgroup $d"; fi
  done
  for n in $(node_names); do
    if ip link show "$(node_bridge "$n")" >/dev/null 2>&1; then ip link del "$(node_bridge "$n")" 2>/dev/null || true; fi
  done
  # libcni's cached results of our sandboxes (the CNI DEL that would remove them never ran)
  rm -f /var/lib/cni/results/"$(cni_network)"-n*
  if [[ -f $STATE_DIR/container.ids ]]; then
    for id in $(<"$STATE_DIR/container.ids"); do
      if [[ $id =~ ^[0-9a-f]{64}$ ]]; then rm -f /var/lib/cni/results/*-"$id"-*; fi
    done
  fi
  if [[ -f $STATE_DIR/pod.uids ]]; then
    for uid in $(sort -u "$STATE_DIR/pod.uids"); do
      [[ $uid =~ ^[0-9a-f-]+$ ]] || continue
      rm -rf /var/log/pods/*_"$uid"
    done
    find /var/log/containers -maxdepth 1 -xtype l -delete 2>/dev/null || true
  fi
}

# node_lab_down: stop the node lab (kubelets first) and leave no containers, mounts, cgroups or bridges.
node_lab_down() {
  local n
  if [[ ! -f $NODE_MARKER ]] && ! grep -qF " $STATE_DIR/" /proc/mounts; then return 0; fi
  for n in $(node_names); do stop_process "kubelet-$n"; done
  for n in $(node_names); do
    if running_pid "containerd-$n" >/dev/null; then node_clean_containers "$n"; fi
    # pods the kubelet still knew (their log folders under /var/log/pods are removed below)
    if [[ -d $(node_dir "$n")/kubelet/pods ]]; then ls "$(node_dir "$n")/kubelet/pods" >>"$STATE_DIR/pod.uids"; fi
  done
  for n in $(node_names); do stop_process "containerd-$n"; done
  node_kill_cgroup_procs
  for n in kube-scheduler registry-slow registry-private registry; do stop_process "$n"; done
  node_unmount
  node_clean_host
  sysctls_restore
  rm -rf --one-file-system "$STATE_DIR/nodes" "$STATE_DIR/registry" "$STATE_DIR/registry-hosts" "$STATE_DIR/scheduler" \
    "$STATE_DIR/netns.inodes" "$STATE_DIR/netns.files" "$STATE_DIR/pod.uids" "$STATE_DIR/container.ids" "$STATE_DIR/sysctls.saved" "$NODE_MARKER"
}

# ---------------------------------------------------------------------------------------------
# status / env
# ---------------------------------------------------------------------------------------------
node_lab_status() {
  local c pid healthy=1 n
  [[ -f $NODE_MARKER ]] || return 0
  for c in $(node_components); do
    if pid="$(running_pid "$c")"; then
      printf '%-30s running (pid %s)\n' "$c" "$pid"
    else
      printf '%-30s NOT running (log: %s)\n' "$c" "$LOG_DIR/$c.log"
      healthy=0
    fi
  done
  for n in $(node_names); do
    if node_ready "$n"; then printf '%-30s Ready\n' "node $n"; else printf '%-30s NOT Ready\n' "node $n"; healthy=0; fi
  done
  if ! registry_ok "$(node_value REGISTRY_SLOW_PORT)" 200; then
    printf '%-30s NOT answering\n' "registry via 127.0.0.1:$(node_value REGISTRY_SLOW_PORT)"
    healthy=0
  fi
  ((healthy))
}

node_lab_env() {
  local n socks=''
  [[ -f $NODE_MARKER ]] || return 0
  for n in $(node_names); do
    running_pid "kubelet-$n" >/dev/null || return 0
    socks+="${socks:+,}$(node_sock "$n")"
  done
  printf 'export CACHIER_REGISTRY=%q\n' "127.0.0.1:$(node_value REGISTRY_PORT)"
  printf 'export CACHIER_REGISTRY_SLOW=%q\n' "127.0.0.1:$(node_value REGISTRY_SLOW_PORT)"
  printf 'export CACHIER_PRIVATE_REGISTRY=%q\n' "127.0.0.1:$(node_value PRIVATE_REGISTRY_PORT)"
  printf 'export CACHIER_PRIVATE_REGISTRY_AUTH=%q\n' "$(<"$STATE_DIR/registry/private.auth")"
  printf 'export CACHIER_NODES=%q\n' "$(node_names | paste -sd, -)"
  printf 'export CACHIER_CONTAINERD_SOCKETS=%q\n' "$socks"
}
