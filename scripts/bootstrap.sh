# Sourced by scripts/serve and scripts/test: make sure .venv exists with medialoom installed.
# Works on a fresh Debian machine: installs python3-venv (as root) when venv is missing.

ensure_python_venv() {
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "medialoom needs Python 3.11 or newer as $python" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$python" -m venv .venv
      else
        echo "python3 -m venv failed: install python3-venv" >&2
        exit 1
      fi
    fi
    .venv/bin/python -m pip install -q --upgrade pip
  fi
  local extras="$1"
  local stamp=".venv/.medialoom-installed-$extras"
  local digest
  digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "Installing medialoom and its dependencies into .venv ..." >&2
    .venv/bin/python -m pip install -q -e ".[$extras]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    .venv/bin/python -c 'import medialoom, pyvips' || { echo "installation failed" >&2; exit 1; }
    echo "$digest" > "$stamp"
  fi
}

ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "The Node SDK tests need node and npm" >&2
      exit 1
    fi
  fi
}

# The scaled-out tests need PostgreSQL on 127.0.0.1:5432 that trusts the postgres role
# (MEDIALOOM_TEST_POSTGRES overrides the address). Start it, or install it, when missing.
ensure_postgres() {
  if [ -n "${MEDIALOOM_TEST_POSTGRES:-}" ]; then return; fi
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not running on 127.0.0.1:5432 (set MEDIALOOM_TEST_POSTGRES to use another)" >&2
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    # A throw-away test server: let the postgres role in over loopback without a password.
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return
    sleep 1
  done
  echo "PostgreSQL did not start" >&2
}
