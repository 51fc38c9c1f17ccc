#!/usr/bin/env bash
# `npm test`: the whole suite. Installs the test services when missing (etcd, FerretDB), checks that
# generated files are current, then typecheck, lint and the tests (which start their own servers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-services.sh
npm run --silent codegen:check
npm run --silent typecheck
npm run --silent lint
if [ "$#" -gt 0 ]; then
  exec npx vitest run "$@"
fi
# The chaos files (test/chaos/*.e2e.test.ts) each start a cluster of a dozen processes with real etcd
# and FerretDB and measure that sessions end within a deadline: they run after the rest of the suite,
# one at a time, so that two clusters never share the machine's cores with each other or with it.
npx vitest run --exclude 'test/chaos/**'
npx vitest run --no-file-parallelism test/chaos/
