#!/usr/bin/env bash
# image.sh - the Dockerfile's image, built without Docker: the same Native AOT binary, user, entry point,
# environment, ports and labels, on a small base assembled from Debian packages, as an OCI image (umoci),
# pushed to a registry (skopeo) and printed as a reference by digest.
#
# Usage: scripts/image.sh [REGISTRY]       REGISTRY: host:port of a plain-HTTP registry (default $CACHIER_REGISTRY,
#                                          which "eval $(scripts/local-cluster.sh env)" sets with the node lab up);
#                                          with neither, the image is built and not pushed
# Prints on stdout only the reference by digest (REGISTRY/cachier@sha256:...) after a push, or the OCI layout
# (artifacts/image/oci:cachier) without one; everything else goes to stderr.
#
# Steps:
#   1. scripts/publish.sh (the Dockerfile's restore and publish) into artifacts/publish; CACHIER_IMAGE_PUBLISHED=1
#      takes artifacts/publish as it is (scripts/test.sh has just published it).
#   2. The base, once per package set, cached in $CACHIER_CACHE/image-base-*: what the Dockerfile's base
#      (runtime-deps:10.0-noble-chiseled) holds, from this machine's Debian release: the libraries of libc6,
#      libgcc-s1 and libssl3 (apt-get download, dpkg -x: nothing is installed), the CA bundle of
#      ca-certificates, os-release of base-files, /etc/passwd and /etc/group with root and app (1654), /home/app,
#      /tmp. No shell, no package manager, no programs. The binary is linked on this machine, so a base of the same
#      release has the glibc it needs (the Dockerfile pairs noble with noble for the same reason).
#   3. The image: the base plus one layer with /app/cachier and /app/appsettings.json (root-owned, as COPY makes
#      them), and the configuration of the Dockerfile's runtime stage plus what its base image sets (see CONFIG below).
#      File times and "created" are the commit's time: the same commit and binary give the same digest.
#
# Environment: CACHIER_CACHE (default ~/.cache/cachier), CACHIER_IMAGE_VERSION (default: the Dockerfile's
# ARG VERSION), CACHIER_IMAGE_PUBLISHED=1 (skip step 1).
# Needs root for apt-get (umoci, skopeo; installed once if missing) and for the root-owned files of the layers.

set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE_DIR="$(realpath -m "${CACHIER_CACHE:-${HOME:-/root}/.cache/cachier}")"
PUBLISH_DIR="$ROOT/artifacts/publish"
LAYOUT="$ROOT/artifacts/image/oci"
readonly ROOT CACHE_DIR PUBLISH_DIR LAYOUT
readonly TAG=cachier REPOSITORY=cachier
# Bump when the recipe of the base changes (the cache key also holds the packages and their versions).
readonly BASE_RECIPE=1
# The Debian counterparts of the chisel slices the Dockerfile's base is made of.
# libstdc++6 of the chiseled base is left out: the binary links only libc and libm (and opens libssl and libcrypto).
readonly BASE_PACKAGES=(base-files libc6 libgcc-s1 libssl3 ca-certificates)
readonly TOOLS=(umoci skopeo)
readonly APP_UID=1654
readonly DESCRIPTION="A Knative Image for every image of every workload, and a warmer that pulls them onto the nodes"

info() { printf 'image: %s\n' "$*" >&2; }
fail() { printf 'image: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND failed"' ERR

# Install what is missing of umoci and skopeo (idempotent; apt-get update only when the install fails).
install_tools() {
  local missing=() t
  for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null || missing+=("$t"); done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) -eq 0 ]] || fail "${missing[*]} missing: apt-get install ${missing[*]} (as root)"
  info "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
    fail "apt-get install ${missing[*]} failed"
}

# The Dockerfile's ARG default of NAME.
dockerfile_arg() { sed -n "s/^ARG $1=//p" "$ROOT/Dockerfile" | head -n 1; }

# build_base DIR: the base as an OCI layout DIR/oci (tag base), from freshly downloaded packages.
build_base() {
  local dir=$1 work deb
  work="$dir/work"
  mkdir -p "$work/debs"
  info "downloading ${BASE_PACKAGES[*]} (apt-get download)"
  if ! (cd "$work/debs" && apt-get download -o APT::Sandbox::User=root "${BASE_PACKAGES[@]}" >&2); then
    apt-get update >&2 || true
    (cd "$work/debs" && apt-get download -o APT::Sandbox::User=root "${BASE_PACKAGES[@]}" >&2) || fail "apt-get download ${BASE_PACKAGES[*]} failed"
  fi
  umoci init --layout "$dir/oci"
  umoci new --image "$dir/oci:base"
  umoci unpack --image "$dir/oci:base" "$work/bundle" >&2
  local rootfs="$work/bundle/rootfs"
  for deb in "$work/debs"/*.deb; do
    dpkg-deb -W --showformat '${Package}=${Version}\n' "$deb" >>"$dir/packages"
    dpkg-deb -x "$deb" "$rootfs"
  done
  # The CA bundle as update-ca-certificates writes it (every certificate ca-certificates ships), and where
  # OpenSSL (Debian's OPENSSLDIR /usr/lib/ssl, which the openssl package would link) looks for it.
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/lib/ssl"
  find "$rootfs/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  ln -sfn /etc/ssl/certs "$rootfs/usr/lib/ssl/certs"
  ln -sfn /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/lib/ssl/cert.pem"
  # Libraries and data only: no programs, documentation, locales or gconv modules (.NET uses none of them).
  rm -rf "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/libexec,usr/share,usr/lib/x86_64-linux-gnu/gconv,var,etc/profile*,etc/skel,etc/update-motd.d,etc/dpkg,etc/default,etc/init.d}
  find "$rootfs" -depth -type d -empty -delete
  # root and app, as the base's chiseled image has them.
  mkdir -p "$rootfs/etc" "$rootfs/home/app" "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:%s:%s::/home/app:/usr/sbin/nologin\n' "$APP_UID" "$APP_UID" >"$rootfs/etc/passwd"
  printf 'root:x:0:\napp:x:%s:\n' "$APP_UID" >"$rootfs/etc/group"
  chown "$APP_UID:$APP_UID" "$rootfs/home/app"
  chmod 1777 "$rootfs/tmp"
  find "$rootfs" -exec touch -h -d @0 {} +
  umoci repack --image "$dir/oci:base" --history.created 1970-01-01T00:00:00Z \
    --history.created_by "scripts/image.sh: $(paste -sd, "$dir/packages")" "$work/bundle" >&2
  umoci gc --layout "$dir/oci"
  rm -rf "$work"
}

# Sets BASE: the cached base layout for this machine's packages (built when missing).
BASE=""
ensure_base() {
  local key
  key="$(printf '%s\n' "$BASE_RECIPE" "${BASE_PACKAGES[@]}" "$(dpkg --print-architecture)" \
    "$(dpkg-query -W -f='${Version}' libc6 2>/dev/null)" | sha256sum | cut -c1-16)"
  BASE="$CACHE_DIR/image-base-$key"
  if [[ -f $BASE/.done ]]; then
    info "base: cached ($BASE)"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || fail "building the base needs root (apt-get, root-owned files)"
  rm -rf "$BASE"
  mkdir -p "$BASE"
  build_base "$BASE"
  : >"$BASE/.done"
  info "base: built ($(du -sh "$BASE/oci" | cut -f1), $(paste -sd, "$BASE/packages"))"
}

main() {
  local registry="${1:-${CACHIER_REGISTRY:-}}" started=$SECONDS version revision source created epoch app
  command -v dpkg-deb >/dev/null || fail "needs a Debian machine (dpkg, apt-get)"
  install_tools

  if [[ ${CACHIER_IMAGE_PUBLISHED:-0} != 1 ]]; then
    bash "$ROOT/scripts/publish.sh" "$PUBLISH_DIR" >&2 || fail "scripts/publish.sh failed"
  fi
  [[ -x $PUBLISH_DIR/cachier ]] || fail "$PUBLISH_DIR/cachier is missing (run scripts/publish.sh)"

  ensure_base

  # The OCI labels' values: the Dockerfile takes them as build arguments.
  version="${CACHIER_IMAGE_VERSION:-$(dockerfile_arg VERSION)}"
  revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  source="$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)"
  [[ $source == https://* ]] || source=""
  epoch="$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)"
  created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

  local bundle="$ROOT/artifacts/image/bundle"
  rm -rf "$LAYOUT" "$bundle"
  mkdir -p "$(dirname "$LAYOUT")"
  cp -a "$BASE/oci" "$LAYOUT"
  # unpack + repack (umoci insert of this version ends the layer's tar early, without the last padding).
  umoci unpack --image "$LAYOUT:base" "$bundle" >&2
  app="$bundle/rootfs/app"
  mkdir -p "$app"
  # Only the binary and its settings, as the Dockerfile's COPY (root-owned, modes kept).
  install -o 0 -g 0 -m 0755 "$PUBLISH_DIR/cachier" "$app/cachier"
  install -o 0 -g 0 -m 0644 "$PUBLISH_DIR/appsettings.json" "$app/appsettings.json"
  touch -h -d "@$epoch" "$app" "$app"/*
  touch -h -d @0 "$bundle/rootfs"
  umoci repack --image "$LAYOUT:$TAG" --history.created "$created" \
    --history.created_by "COPY --from=build /app/cachier /app/appsettings.json /app/" "$bundle" >&2

  # CONFIG: the Dockerfile's runtime stage (WORKDIR, USER, ENV, EXPOSE, ENTRYPOINT, LABEL) plus the environment its
  # base image sets (APP_UID, DOTNET_RUNNING_IN_CONTAINER, DOTNET_SYSTEM_GLOBALIZATION_INVARIANT, PATH).
  # A test (ShippedImageTests) compares the two.
  umoci config --image "$LAYOUT:$TAG" --no-history --created "$created" --architecture amd64 --os linux \
    --config.workingdir /app \
    --config.user "$APP_UID" \
    --config.entrypoint /app/cachier \
    --config.exposedports 8080/tcp \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env APP_UID=$APP_UID \
    --config.env DOTNET_RUNNING_IN_CONTAINER=true \
    --config.env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=true \
    --config.env PORT=8080 \
    --config.env ASPNETCORE_HTTP_PORTS= \
    --config.env DOTNET_EnableDiagnostics=0 \
    --config.env DOTNET_GCgen0size=400000 \
    --config.label org.opencontainers.image.title=cachier \
    --config.label "org.opencontainers.image.description=$DESCRIPTION" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.revision=$revision" \
    --config.label "org.opencontainers.image.source=$source" \
    --config.label "org.opencontainers.image.created=$created"
  umoci gc --layout "$LAYOUT"
  rm -rf "$bundle"
  info "built $LAYOUT:$TAG in $((SECONDS - started)) s ($(du -sh "$LAYOUT" | cut -f1) compressed)"

  if [[ -z $registry ]]; then
    printf '%s\n' "$LAYOUT:$TAG"
    return 0
  fi
  local digest_file
  digest_file="$(mktemp)"
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false --digestfile "$digest_file" \
    "oci:$LAYOUT:$TAG" "docker://$registry/$REPOSITORY:$version" >&2 || fail "skopeo copy to $registry failed"
  info "pushed $registry/$REPOSITORY:$version in $((SECONDS - started)) s in all"
  printf '%s/%s@%s\n' "$registry" "$REPOSITORY" "$(<"$digest_file")"
  rm -f "$digest_file"
}

main "$@"
