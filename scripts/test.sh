#!/usr/bin/env bash
# `npm test`: the whole suite. Installs the test services when missing (etcd, FerretDB), checks that
# generated files are current, then typecheck, lint and the tests (which start their own servers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-services.sh
npm run --silent codegen:check
npm run --silent typecheck
npm run --silent lint
npx vitest run "$@"
