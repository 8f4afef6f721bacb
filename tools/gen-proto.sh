#!/usr/bin/env bash
# Regenerates the TypeScript of every .proto in the project with ts-proto through buf (local plugins, no
# network): the kukeon API (src/api) and the containerd subset (src/runtime/containerd). The output is checked
# in, so builds and CI never need to run this.
set -euo pipefail
cd "$(dirname "$0")/.."
buf="$PWD/node_modules/.bin/buf"
for module in src/api src/runtime/containerd; do
  rm -rf "$module/gen"
  (cd "$module" && "$buf" lint && "$buf" generate)
done
