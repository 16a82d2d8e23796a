#!/usr/bin/env bash
# startmem.sh: how long `apigw serve` takes to become ready on a
# configuration, and its memory: VmHWM (the peak resident set) and VmRSS
# 3 s after ready, and the CPU spent. docs/performance.md ("Session 13").
#
#   test/bench/startmem.sh BINARY CONFIG [CGROUP_MIB] [VAR=VALUE...]
#
# With CGROUP_MIB (a number), the server runs in a cgroup v1 memory cgroup
# of that limit (/sys/fs/cgroup/memory/apigw-startmem, created; needs
# root), as in a container, and the cgroup's peak usage is reported too.
# VAR=VALUE pairs are set in the server's environment (GOGC=50,
# GOMEMLIMIT=1GiB, ...). The configuration's server addresses must be free.
#
# With STARTMEM_EDIT set to a sed expression, the server serves a copy of
# CONFIG, and once ready the copy is edited with it: the script then
# reports how long the reload took (to the "config reloaded" line, with
# its apply_ms), the peak resident set since the edit, and whether the
# process survived (in a cgroup the kernel may kill it). For example, a
# change every group depends on:
#
#   STARTMEM_EDIT='s/^environments: \[{name: BETA}\]/environments: [{name: BETA, variables: {x: "1"}}]/' \
#     test/bench/startmem.sh bin/apigw /tmp/gw100k.yaml 2000
set -euo pipefail

bin=${1:?usage: startmem.sh BINARY CONFIG [CGROUP_MIB] [VAR=VALUE...]}
config=${2:?usage: startmem.sh BINARY CONFIG [CGROUP_MIB] [VAR=VALUE...]}
shift 2
limit=""
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
	limit=$1
	shift
fi

log=$(mktemp)
if [[ -n ${STARTMEM_EDIT:-} ]]; then
	copy=$(mktemp --suffix .yaml)
	cp "$config" "$copy"
	config=$copy
fi
cg=/sys/fs/cgroup/memory/apigw-startmem
if [[ -n $limit ]]; then
	mkdir -p "$cg"
	echo $((limit * 1024 * 1024)) >"$cg/memory.limit_in_bytes"
	echo 0 >"$cg/memory.max_usage_in_bytes"
fi

start=$(date +%s.%N)
if [[ -n $limit ]]; then
	# shellcheck disable=SC2016 # expanded by the inner shell
	env "$@" bash -c 'echo $$ >"$1/cgroup.procs"; exec "$2" serve --config "$3" --log-level info' _ "$cg" "$bin" "$config" >"$log" 2>&1 &
else
	env "$@" "$bin" serve --config "$config" --log-level info >"$log" 2>&1 &
fi
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" ${copy:+"$copy"}' EXIT

for _ in $(seq 1 1200); do
	grep -q 'apigw ready' "$log" && break
	if ! kill -0 $pid 2>/dev/null; then
		cat "$log" >&2
		exit 1
	fi
	sleep 0.1
done
grep -q 'apigw ready' "$log" || {
	echo "startmem: not ready after 120 s" >&2
	exit 1
}
ready=$(echo "$(date +%s.%N) - $start" | bc)
sleep 3
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{print ($14 + $15) / t}' /proc/$pid/stat)
printf '%s %s%s: ready after %.1f s, VmHWM %d MB, VmRSS %d MB, CPU %.1f s' \
	"$(basename "$bin")" "${limit:+cgroup ${limit} MiB }" "$*" "$ready" $((hwm * 1024 / 1000000)) $((rss * 1024 / 1000000)) "$cpu"
if [[ -n $limit ]]; then
	printf ', cgroup peak %d MiB' $(($(cat "$cg/memory.max_usage_in_bytes") / 1024 / 1024))
fi
echo
grep 'memory limit set' "$log" || true

if [[ -n ${STARTMEM_EDIT:-} ]]; then
	echo 5 >/proc/$pid/clear_refs # VmHWM from now on
	edited=$(date +%s.%N)
	sed -i "$STARTMEM_EDIT" "$config"
	for _ in $(seq 1 1200); do
		grep -q 'config reloaded\|reload refused' "$log" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	took=$(echo "$(date +%s.%N) - $edited" | bc)
	if ! kill -0 $pid 2>/dev/null; then
		printf 'edit: the process died %.1f s after the edit (killed by the kernel?)\n' "$took"
		exit 1
	fi
	if ! grep -q 'config reloaded' "$log"; then
		grep 'reload refused' "$log" >&2 || echo "startmem: no reload after 120 s" >&2
		exit 1
	fi
	sleep 1
	hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
	printf 'edit: reloaded %.1f s after the edit (%s, %s), VmHWM since the edit %d MB\n' "$took" \
		"$(grep -o 'apply_ms=[0-9.]*' "$log" | tail -1)" "$(grep 'xds configuration published' "$log" | tail -1 | grep -o 'stages=[0-9]*' || echo 'not staged')" $((hwm * 1024 / 1000000))
fi
