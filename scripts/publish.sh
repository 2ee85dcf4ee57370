#!/usr/bin/env bash
# publish.sh - the Native AOT publish of the Dockerfile, without Docker.
#
# Runs the same two commands as the Dockerfile's build stage, so CI (which has no Docker engine)
# proves that the shipped image builds: the restore for linux-x64, then the Native AOT publish.
# A test (Cachier.Tests.DeploymentChecks.PublishCommandTests) keeps the two files in step.
#
# Usage: scripts/publish.sh [OUTPUT_DIR]      (default: artifacts/publish; the binary is ./cachier)
#
# Native AOT links with a C toolchain. The Dockerfile installs clang; here:
#   - clang on PATH             -> used (the same linker as the image);
#   - else, as root with apt    -> "apt-get install -y clang zlib1g-dev" (once; idempotent);
#   - else, gcc on PATH         -> -p:CppCompilerAndLinker=gcc (works; not what the image uses);
#   - else                      -> fail with what to install.
# CACHIER_PUBLISH_LINKER=gcc forces the gcc route (no apt-get).
#
# Every AOT/trim warning fails the publish: Directory.Build.props sets TreatWarningsAsErrors,
# which the ILLink and ILC warnings (IL2xxx, IL3xxx) honour. The warnings are also listed at the end.

set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/artifacts/publish}")"
LOG="$OUT.log"
readonly ROOT OUT LOG

info() { printf 'publish: %s\n' "$*" >&2; }
fail() { printf 'publish: ERROR: %s\n' "$*" >&2; exit 1; }

# Sets LINKER_ARGS: the extra publish argument for the linker, if any.
LINKER_ARGS=()
choose_linker() {
  if [[ ${CACHIER_PUBLISH_LINKER:-} == gcc ]]; then
    command -v gcc >/dev/null || fail "CACHIER_PUBLISH_LINKER=gcc but gcc is not on PATH"
    info "linker: gcc (forced by CACHIER_PUBLISH_LINKER)"
    LINKER_ARGS=(-p:CppCompilerAndLinker=gcc)
    return
  fi
  if ! command -v clang >/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    info "installing clang and zlib1g-dev (apt-get; needed once for Native AOT)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends clang zlib1g-dev >/dev/null 2>&1; then
      apt-get update >/dev/null 2>&1 || true
      apt-get install -y --no-install-recommends clang zlib1g-dev >/dev/null 2>&1 ||
        info "apt-get install clang failed; trying gcc"
    fi
  fi
  if command -v clang >/dev/null; then
    info "linker: $(clang --version | head -n 1)"
  elif command -v gcc >/dev/null; then
    info "linker: clang not available, using $(gcc --version | head -n 1)"
    LINKER_ARGS=(-p:CppCompilerAndLinker=gcc)
  else
    fail "Native AOT needs a C toolchain: install clang (apt-get install -y clang zlib1g-dev) or gcc"
  fi
}

main() {
  command -v dotnet >/dev/null || fail "dotnet is not on PATH (.NET 10 SDK required)"
  choose_linker
  cd "$ROOT"
  mkdir -p "$OUT"

  # The same two commands as the Dockerfile (plus the linker choice on machines without clang).
  info "dotnet restore function/Cachier.csproj -r linux-x64"
  dotnet restore function/Cachier.csproj -r linux-x64
  info "dotnet publish function/Cachier.csproj -c Release -r linux-x64 -o $OUT ${LINKER_ARGS[*]}"
  local started=$SECONDS rc=0
  dotnet publish function/Cachier.csproj -c Release -r linux-x64 -o "$OUT" "${LINKER_ARGS[@]}" 2>&1 |
    tee "$LOG" || rc=$?
  ((rc == 0)) || fail "dotnet publish failed (exit code $rc; log: $LOG)"

  local warnings
  warnings="$(grep -E 'warning (IL[0-9]{4}|AOT|NU[0-9]{4}|CS[0-9]{4})' "$LOG" | sort -u || true)"
  if [[ -n $warnings ]]; then
    info "warnings:"
    printf '%s\n' "$warnings" >&2
  else
    info "no trim/AOT warnings"
  fi
  [[ -x $OUT/cachier ]] || fail "the publish did not produce $OUT/cachier"
  info "done in $((SECONDS - started)) s: $OUT/cachier ($(du -h "$OUT/cachier" | cut -f1))"
}

main "$@"
