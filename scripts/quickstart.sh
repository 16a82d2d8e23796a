#!/usr/bin/env bash
# make quickstart: run the whole quickstart on loopback —
#   two echo backends (RELEASE 127.0.0.1:18080, BETA 127.0.0.1:18081),
#   apigw serve on examples/quickstart/gateway.yaml (gRPC 18000, admin 18001),
#   Envoy on examples/quickstart/envoy.yaml (APIs on 10080, admin 9901):
#   $ENVOY_BIN, else .tools/envoy/bin/envoy, else envoy on PATH, else the
#   pinned Envoy installed into .tools/envoy by scripts/install-envoy.sh
#   (`make envoy`; when that fails, apigw runs without Envoy and the script
#   says how to start one);
# then print what to try, and stop everything on Ctrl-C (exit status 0).
#
# Environment: GO (go), ENVOY_BIN, ENVOY_INSTALL (0: do not install Envoy),
# ENVOY_IMAGE (for the docker hint), LOG_DIR (where echo and Envoy logs go;
# default a new temporary directory). Works with the bash 3.2 of macOS.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
CONFIG=examples/quickstart/gateway.yaml
BOOTSTRAP=examples/quickstart/envoy.yaml
ENVOY_IMAGE=${ENVOY_IMAGE:-envoyproxy/envoy:v$(tr -d '[:space:]' <envoy/VERSION)}
if [ -z "${ENVOY_BIN:-}" ]; then
  if [ -x .tools/envoy/bin/envoy ]; then
    ENVOY_BIN=$PWD/.tools/envoy/bin/envoy
  else
    ENVOY_BIN=$(command -v envoy 2>/dev/null || true)
  fi
  if [ -z "$ENVOY_BIN" ] && [ "${ENVOY_INSTALL:-1}" != 0 ]; then
    printf '==> no Envoy found: installing the pinned version (scripts/install-envoy.sh)\n'
    ENVOY_BIN=$(bash scripts/install-envoy.sh) || ENVOY_BIN=
  fi
fi
LOG_DIR=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/apigw-quickstart.XXXXXX")}
mkdir -p "$LOG_DIR"

# What the quickstart configuration and bootstrap expect.
GRPC=127.0.0.1:18000
ADMIN=127.0.0.1:18001
RELEASE=127.0.0.1:18080
BETA=127.0.0.1:18081
LISTENER=127.0.0.1:10080
ENVOY_ADMIN=127.0.0.1:9901

say() { printf '==> %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# port_open HOST:PORT: something accepts connections there.
port_open() {
  local host=${1%:*} port=${1##*:}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# wait_port HOST:PORT PID WHAT: wait (at most 30 s) until the port accepts
# connections, failing early if the process died.
wait_port() {
  local i
  for i in $(seq 1 300); do
    if port_open "$1"; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then die "$3 exited during start-up (see above or $LOG_DIR)"; fi
    sleep 0.1
  done
  die "$3 is not listening on $1 after 30 s (logs: $LOG_DIR)"
}

# Refuse to start over something already running (an earlier quickstart?).
check_free() {
  local addr
  for addr in "$@"; do
    if port_open "$addr"; then
      die "$addr is already in use: stop what listens there (an earlier quickstart?) and retry"
    fi
  done
}

say "building bin/apigw and bin/echo"
mkdir -p bin
"$GO" build -o bin/apigw ./cmd/apigw
"$GO" build -o bin/echo ./examples/echo
bin/apigw validate --config "$CONFIG"

ports=("$GRPC" "$ADMIN" "$RELEASE" "$BETA")
if [ -n "$ENVOY_BIN" ]; then ports+=("$LISTENER" "$ENVOY_ADMIN"); fi
check_free "${ports[@]}"

pids=()
cleanup() {
  trap - EXIT INT TERM
  say "stopping"
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  say "stopped (logs kept in $LOG_DIR)"
}
trap cleanup EXIT
# Ctrl-C is how the quickstart is meant to stop: a success.
trap 'exit 0' INT
trap 'exit 143' TERM

say "starting the echo backends: RELEASE on $RELEASE, BETA on $BETA (logs: $LOG_DIR/echo-*.log)"
bin/echo -listen "$RELEASE" -name release >"$LOG_DIR/echo-release.log" 2>&1 &
pids+=($!)
wait_port "$RELEASE" "$!" "echo (release)"
bin/echo -listen "$BETA" -name beta >"$LOG_DIR/echo-beta.log" 2>&1 &
pids+=($!)
wait_port "$BETA" "$!" "echo (beta)"

say "starting apigw serve --config $CONFIG (its log follows)"
bin/apigw serve --config "$CONFIG" &
pids+=($!)
wait_port "$ADMIN" "$!" "apigw"
wait_port "$GRPC" "$!" "apigw"

say "writing the Envoy bootstrap to $BOOTSTRAP"
bin/apigw bootstrap --xds-address "$GRPC" >"$BOOTSTRAP.tmp"
mv "$BOOTSTRAP.tmp" "$BOOTSTRAP"

if [ -n "$ENVOY_BIN" ]; then
  say "starting Envoy ($ENVOY_BIN) on $BOOTSTRAP (log: $LOG_DIR/envoy.log)"
  "$ENVOY_BIN" -c "$BOOTSTRAP" --disable-hot-restart --log-level info >"$LOG_DIR/envoy.log" 2>&1 &
  pids+=($!)
  wait_port "$LISTENER" "$!" "envoy"
else
  cat <<EOF

No Envoy binary found (ENVOY_BIN, .tools/envoy/bin/envoy, envoy on PATH);
\`make envoy\` installs the tested version. apigw is running; start Envoy
yourself in another terminal, either installed:

    envoy -c $BOOTSTRAP

or with Docker (Linux; --network host lets it reach apigw on loopback):

    docker run --rm --network host -v "\$PWD/$BOOTSTRAP:/etc/envoy/envoy.yaml:ro" \\
      $ENVOY_IMAGE -c /etc/envoy/envoy.yaml

or stop this and run the whole quickstart in Docker Compose instead:

    docker compose -f examples/quickstart/compose.yaml up --build
EOF
fi

cat <<EOF

Try it (in another terminal, from $(pwd)):

  # a signed app request (what the official SDKs send); the backend echoes
  # the identity headers apigw added (x-apig-app-id: demo-app)
  export APIGW_KEY=4f5a1c2e9b8d4e6f8a7b6c5d4e3f2a1b APIGW_SECRET=quickstart-app-secret-change-me
  bin/apigw sign --url http://$LISTENER/hello -o curl          # prints the curl command
  bin/apigw sign --url http://$LISTENER/hello -o curl | sh     # runs it
  bin/apigw sign --url http://$LISTENER/hello -H 'X-Stage: BETA' -o curl | sh   # the BETA backend
  bin/apigw sign --url http://$LISTENER/hello --explain         # canonical request, string to sign

  # an IAM-signed request (AK/SK), any method under /orders/
  APIGW_KEY=QUICKSTARTAK0000000001 APIGW_SECRET=quickstart-iam-secret-change-me \\
    bin/apigw sign -X POST --url http://$LISTENER/orders/42 -d '{"qty":1}' -o curl | sh

  # no signature: the public mock, and an unsigned call to a signed API (APIG.0303)
  curl -s http://$LISTENER/public
  curl -s http://$LISTENER/hello

  # apigw admin: configuration (secrets redacted), Envoy's xDS ACKs, reloads
  curl -s http://$ADMIN/debug/config
  curl -s http://$ADMIN/debug/xds
  # the backends directly
  curl -s "http://$RELEASE/anything?x=1"

Edit $CONFIG: apigw reloads it within a second and Envoy follows
(a broken edit is refused and listed at http://$ADMIN/debug/reload).

Ctrl-C stops everything.
EOF

# Run until Ctrl-C, or until one of the processes exits on its own.
while :; do
  for pid in ${pids[@]+"${pids[@]}"}; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null && status=0 || status=$?
      die "process $pid exited (status $status); logs: $LOG_DIR"
    fi
  done
  sleep 1
done
