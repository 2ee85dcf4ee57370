#!/usr/bin/env bash
# manifests.sh - rewrite knative/ from `cachier manifests` (the default watched kinds, one file per part).
#
# knative/ is generated: edit function/Manifests/, then run this. Cachier.Tests.DeploymentChecks.GeneratedManifestsTests
# fails while knative/ differs from the command's output.
#
# Usage: scripts/manifests.sh        (builds the function once, then runs it three times)

set -Eeuo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/artifacts/manifests-build"
readonly ROOT OUT

dotnet build "$ROOT/function/Cachier.csproj" -c Release -o "$OUT" --nologo -v quiet >&2
for part in service apiserversource warmer; do
  dotnet "$OUT/cachier.dll" manifests --part="$part" >"$ROOT/knative/$part.yaml"
  printf 'manifests: knative/%s.yaml\n' "$part" >&2
done
