#!/usr/bin/env bash
# Regenerates checked-in TypeScript from .proto files with ts-proto through buf (local plugins, no network).
#
# Usage: tools/gen-proto.sh [module-dir ...]
#   A module dir holds buf.yaml (its proto root) and buf.gen.yaml (plugins and options, output to <dir>/gen).
#   Without arguments, every module of the project is regenerated: the kukeon API (src/api) and the containerd
#   subset (src/runtime/containerd).
#
# The output is checked in, so builds and CI never run this; run it after changing a .proto and commit both.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
buf="$repo/node_modules/.bin/buf"
[[ -x "$buf" ]] || { echo "gen-proto: $buf missing; run npm ci" >&2; exit 1; }

modules=("$@")
[[ ${#modules[@]} -gt 0 ]] || modules=(src/api src/runtime/containerd)

for module in "${modules[@]}"; do
  dir="$repo/${module%/}"
  for f in buf.yaml buf.gen.yaml; do
    [[ -f "$dir/$f" ]] || { echo "gen-proto: $module has no $f" >&2; exit 1; }
  done
  echo "gen-proto: $module" >&2
  # Generate into a fresh directory and swap it in, so a failed run leaves the checked-in code untouched.
  tmp="$(mktemp -d "$dir/.gen-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$dir" && "$buf" lint && "$buf" generate --output "$tmp")
  rm -rf "$dir/gen"
  mv "$tmp/gen" "$dir/gen"
  rm -rf "$tmp"
  trap - EXIT
done
