#!/usr/bin/env bash
# Installs the services the test suite runs against, when they are missing:
#   - etcd 3.4 from Debian's etcd-server package
#   - FerretDB v1 (MongoDB wire-compatible, SQLite backend) built with `go install`
# Idempotent: a second run finds both and returns at once.
set -euo pipefail

FERRETDB_VERSION="v1.24.2"
LCM_TOOLS_DIR="${LCM_TOOLS_DIR:-$HOME/.cache/lcm-tools}"
mkdir -p "$LCM_TOOLS_DIR/bin"

have_etcd() { command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ]; }

if ! have_etcd; then
  echo "[test-services] installing etcd-server (Debian)"
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq etcd-server >/dev/null
  # Debian starts a system etcd on 2379 when the package installs; the tests start their own.
  ($SUDO systemctl stop etcd 2>/dev/null || $SUDO service etcd stop 2>/dev/null || true) >/dev/null 2>&1
fi

if [ ! -x "$LCM_TOOLS_DIR/bin/ferretdb" ]; then
  echo "[test-services] building FerretDB $FERRETDB_VERSION (go install)"
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
      echo "Go is required to build FerretDB" >&2; exit 1; fi
  fi
  # `go install pkg@version` is the plain way. It fails here in two known ways: the module proxy may
  # refuse the version-list lookup `go install` makes for deprecation notices, and a binary built
  # outside FerretDB's own repository panics at start for want of build/version/version.txt. So, when
  # the plain way does not give a binary that starts, build the same pinned module from its source in
  # the module cache, with version.txt written as FerretDB's release process writes it.
  GOBIN="$LCM_TOOLS_DIR/bin" go install "github.com/FerretDB/FerretDB/cmd/ferretdb@$FERRETDB_VERSION" 2>/dev/null || true
  if ! "$LCM_TOOLS_DIR/bin/ferretdb" --version >/dev/null 2>&1; then
    rm -f "$LCM_TOOLS_DIR/bin/ferretdb"
    scratch=$(mktemp -d)
    (cd "$scratch" && go mod init lcm-ferretdb-fetch >/dev/null 2>&1 \
      && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" > dl.json)
    moddir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$scratch/dl.json")
    cp -r "$moddir/." "$scratch/src/" 2>/dev/null || { mkdir -p "$scratch/src" && cp -r "$moddir/." "$scratch/src/"; }
    chmod -R u+w "$scratch/src"
    echo "$FERRETDB_VERSION" > "$scratch/src/build/version/version.txt"
    (cd "$scratch/src" && go build -o "$LCM_TOOLS_DIR/bin/ferretdb" ./cmd/ferretdb)
    rm -rf "$scratch"
  fi
fi

echo "[test-services] etcd: $(command -v etcd || echo /usr/bin/etcd)"
echo "[test-services] ferretdb: $LCM_TOOLS_DIR/bin/ferretdb"

# ---- CML's own Python client (virl2-client) for the CML simulator's third-party-client test -------
# A venv outside the repository; simulators/cml/third-party-client.test.ts runs
# simulators/cml/third-party-client.py with it. Idempotent: skipped when the pinned version is there.
VIRL2_CLIENT_VERSION="2.9.1"
VIRL2_VENV="${LCM_VIRL2_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lcm-test/virl2-venv}"
if ! "$VIRL2_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('virl2-client') != '$VIRL2_CLIENT_VERSION')" >/dev/null 2>&1; then
  echo "[test-services] installing virl2-client $VIRL2_CLIENT_VERSION into $VIRL2_VENV"
  python3 -m venv "$VIRL2_VENV"
  "$VIRL2_VENV/bin/python" -m pip install -q --disable-pip-version-check "virl2-client==$VIRL2_CLIENT_VERSION"
fi
echo "[test-services] virl2-client: $VIRL2_VENV"

# ---- Chromium for the dashboard's browser tests (test/browser/, driven by playwright-core) --------
# Debian's chromium at /usr/bin/chromium; Playwright's own browser downloads are never used.
# Idempotent: skipped when /usr/bin/chromium is there.
if [ ! -x /usr/bin/chromium ]; then
  echo "[test-services] installing chromium (Debian)"
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "[test-services] chromium: /usr/bin/chromium"

# ---- Helm for the chart's offline validation (test/deploy/helm.int.test.ts) -----------------------
# Built with Go like FerretDB, pinned, into $LCM_TOOLS_DIR/bin. The ldflags are those of Helm's own
# Makefile: without them the binary calls itself "v3.22" and assumes Kubernetes 1.20 (so `helm template`
# refuses the chart's kubeVersion); the Kubernetes version is the one of the client-go Helm is built on
# (k8s.io/client-go v0.37 → 1.37). Idempotent: skipped when that version is there.
HELM_VERSION="v3.22.0"
HELM_K8S_MINOR="37"
if [ "$("$LCM_TOOLS_DIR/bin/helm" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]; then
  echo "[test-services] building Helm $HELM_VERSION (go install)"
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; else
      echo "Go is required to build Helm" >&2; exit 1; fi
  fi
  GOBIN="$LCM_TOOLS_DIR/bin" CGO_ENABLED=0 go install -trimpath -ldflags "-w -s \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
echo "[test-services] helm: $LCM_TOOLS_DIR/bin/helm"
