# Sourced by the install scripts: make_venv DIR NAME creates a Python
# virtual environment at DIR with $python (installing Debian's python3-venv
# when run as root and ensurepip is missing); NAME prefixes the messages.
make_venv() {
  local dir=$1 name=$2
  [ -x "$dir/bin/pip" ] && return 0
  mkdir -p "$(dirname "$dir")"
  if ! "$python" -m venv "$dir" >&2; then
    # Debian's python3 needs python3-venv for ensurepip.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      rm -rf "$dir"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
      "$python" -m venv "$dir" >&2
    else
      echo "$name: '$python -m venv' failed: install python3-venv" >&2
      exit 1
    fi
  fi
}
