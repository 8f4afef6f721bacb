#!/usr/bin/env bash
# The project's test command (README, .ci/run): sets the host up (tools/setup.sh), lints and typechecks, then runs
# every test tier. Integration and e2e tests start their own private containerd; they need root.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
echo "test: lint + typecheck" >&2
npm run --silent lint
echo "test: unit, property, integration, e2e" >&2
exec npx vitest run "$@"
