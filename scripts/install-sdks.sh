#!/usr/bin/env bash
# Install the official Huawei Cloud SDK cores whose signers the end-to-end
# suite (test/e2e, sdk_test.go) uses as clients, at pinned versions, into
# project-local directories:
#
#   .tools/node    npm's @huaweicloud/huaweicloud-sdk-core (needs node, npm)
#   .tools/pysdk   a Python venv with PyPI's huaweicloudsdkcore (needs python3)
#
# The Go SDK is a test dependency in go.mod. A second run finds the pinned
# versions installed and does nothing. .ci/run calls it. Environment:
# PYTHON (python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
node_version=3.1.211
py_version=3.1.219
nodedir="$root/.tools/node"
venv="$root/.tools/pysdk"
python=${PYTHON:-python3}

# npm: the JavaScript SDK core.
node_installed() {
  [ -f "$nodedir/node_modules/@huaweicloud/huaweicloud-sdk-core/package.json" ] &&
    grep -q "\"version\": *\"$node_version\"" "$nodedir/node_modules/@huaweicloud/huaweicloud-sdk-core/package.json"
}
if ! node_installed; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-sdks: npm not found: install Node.js and npm" >&2
    exit 1
  fi
  echo "install-sdks: installing @huaweicloud/huaweicloud-sdk-core@$node_version into $nodedir" >&2
  mkdir -p "$nodedir"
  npm install --prefix "$nodedir" --no-audit --no-fund --no-save --loglevel=error \
    "@huaweicloud/huaweicloud-sdk-core@$node_version" >&2
  node_installed || { echo "install-sdks: @huaweicloud/huaweicloud-sdk-core@$node_version did not install" >&2; exit 1; }
fi

# pip: the Python SDK core.
py_installed() {
  [ -x "$venv/bin/python" ] && compgen -G "$venv/lib/python*/site-packages/huaweicloudsdkcore-$py_version.dist-info" >/dev/null
}
if ! py_installed; then
  echo "install-sdks: installing huaweicloudsdkcore==$py_version into $venv" >&2
  . "$root/scripts/venv.sh"
  make_venv "$venv" install-sdks
  "$venv/bin/pip" install --quiet --disable-pip-version-check "huaweicloudsdkcore==$py_version" >&2
  py_installed || { echo "install-sdks: huaweicloudsdkcore==$py_version did not install" >&2; exit 1; }
fi
echo "$nodedir $venv"
