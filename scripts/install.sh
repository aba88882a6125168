#!/usr/bin/env bash
# Install, upgrade or uninstall classroom-box as a systemd service (Debian / Raspberry Pi OS).
#
#   sudo scripts/install.sh [--name "Room 12"] [--port 8080]     install or upgrade in place
#   sudo scripts/install.sh --uninstall [--purge]                 remove (--purge: data too)
#
# Options:
#   --source DIR            checkout to install from (default: the repo holding this script)
#   --prefix DIR            install under DIR instead of / (also: DESTDIR=DIR); implies
#                           --no-systemctl. Used by the tests.
#   --no-systemctl          do not run systemctl (no enable/start/stop/daemon-reload)
#   --python PY             interpreter for the venv (default: python3, needs >= 3.11)
#   --system-site-packages  let the venv see system packages (e.g. apt python3-* packages)
#   --pip-arg ARG           extra argument for pip install (repeatable), e.g. --no-deps
#   --name NAME, --port N   written to the env file on first install only
#
# Rerunning upgrades the package in place; the env file and the data are never overwritten.
set -euo pipefail

SERVICE=classroom-box
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(cd "$SCRIPT_DIR/.." && pwd)
PREFIX=${DESTDIR:-}
USE_SYSTEMCTL=1
UNINSTALL=0
PURGE=0
PYTHON=python3
VENV_ARGS=()
PIP_ARGS=()
NAME=""
PORT=""

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --source) SOURCE=$(cd "${2:?--source needs a directory}" && pwd); shift 2 ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --no-systemctl) USE_SYSTEMCTL=0; shift ;;
        --python) PYTHON=${2:?--python needs an interpreter}; shift 2 ;;
        --system-site-packages) VENV_ARGS+=(--system-site-packages); shift ;;
        --pip-arg) PIP_ARGS+=("${2:?--pip-arg needs a value}"); shift 2 ;;
        --name) NAME=${2:?--name needs a value}; shift 2 ;;
        --port) PORT=${2:?--port needs a value}; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

if [ -n "$PREFIX" ]; then
    mkdir -p "$PREFIX"
    PREFIX=$(cd "$PREFIX" && pwd)
    [ "$PREFIX" != "/" ] || PREFIX=""
fi
if [ -n "$PREFIX" ]; then
    USE_SYSTEMCTL=0  # never touch the running system when laying files into a tree
elif [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo), or use --prefix DIR"
fi
if [ "$USE_SYSTEMCTL" = 1 ] && { ! command -v systemctl >/dev/null || [ ! -d /run/systemd/system ]; }; then
    say "systemd is not running here: skipping systemctl"
    USE_SYSTEMCTL=0
fi
if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then
    die "--purge only goes with --uninstall"
fi

APP_DIR="$PREFIX/opt/$SERVICE"
VENV="$APP_DIR/venv"
UNIT_DIR="$PREFIX/etc/systemd/system"
UNIT="$UNIT_DIR/$SERVICE.service"
LIMIT="$SERVICE-connection-limit"  # the kernel's per-device limit on new connections (nftables)
LIMIT_UNIT="$UNIT_DIR/$LIMIT.service"
DROPIN_DIR="$UNIT_DIR/$SERVICE.service.d"
ETC_DIR="$PREFIX/etc/$SERVICE"
ENV_FILE="$ETC_DIR/env"
ADMIN="$PREFIX/usr/local/sbin/$SERVICE-admin"
DATA_LINK="$PREFIX/var/lib/$SERVICE"
DATA_PRIVATE="$PREFIX/var/lib/private/$SERVICE"  # where DynamicUser= keeps StateDirectory=

run_systemctl() {
    if [ "$USE_SYSTEMCTL" = 1 ]; then systemctl "$@"; fi
}

uninstall() {
    say "stopping and disabling $SERVICE"
    run_systemctl disable --now "$SERVICE.service" "$LIMIT.service" 2>/dev/null || true
    rm -f "$UNIT" "$LIMIT_UNIT" "$ADMIN"
    rm -rf "$DROPIN_DIR" "$APP_DIR" "$ETC_DIR"
    run_systemctl daemon-reload
    if [ "$PURGE" = 1 ]; then
        say "purging data in $DATA_LINK"
        rm -rf "$DATA_LINK" "$DATA_PRIVATE"
    elif [ -e "$DATA_LINK" ] || [ -e "$DATA_PRIVATE" ]; then
        say "kept the data in $DATA_LINK (remove it with --uninstall --purge)"
    fi
    say "classroom-box uninstalled"
}

env_value() {  # env_value KEY: the value of KEY in the env file, quotes stripped
    sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1 | tr -d "\"'"
}

write_env_file() {
    mkdir -p "$ETC_DIR"
    if [ -e "$ENV_FILE" ]; then
        say "keeping $ENV_FILE"
        if [ -n "$NAME$PORT" ]; then say "(--name/--port ignored: edit $ENV_FILE instead)"; fi
        return
    fi
    local name=${NAME:-$(hostname -s 2>/dev/null || echo Classroom)}
    local port=${PORT:-8080}
    case "$port" in ''|*[!0-9]*) die "--port must be a number" ;; esac
    if [[ $name == *[\"\\\$\`]* ]]; then die "--name must not contain \", \\, \$ or \`"; fi
    umask 022
    cat >"$ENV_FILE" <<EOF
# classroom-box settings (see: classroom-box serve --help). Kept across upgrades.
# After editing: sudo systemctl restart classroom-box
CLASSROOM_BOX_NAME="$name"
CLASSROOM_BOX_PORT=$port
#CLASSROOM_BOX_LOG_LEVEL=INFO
#CLASSROOM_BOX_MDNS_INTERFACE=eth0
#CLASSROOM_BOX_TLS_CERT=/var/lib/classroom-box/tls/server.crt
#CLASSROOM_BOX_TLS_KEY=/var/lib/classroom-box/tls/server.key
EOF
    say "wrote $ENV_FILE"
}

write_low_port_dropin() {
    local port
    port=$(env_value CLASSROOM_BOX_PORT)
    if [ -n "$port" ] && [ "$port" -lt 1024 ]; then
        mkdir -p "$DROPIN_DIR"
        cat >"$DROPIN_DIR/low-port.conf" <<EOF
# Written by install.sh because CLASSROOM_BOX_PORT=$port is below 1024.
[Service]
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
PrivateUsers=no
EOF
        say "port $port: granted CAP_NET_BIND_SERVICE via $DROPIN_DIR/low-port.conf"
    else
        rm -f "$DROPIN_DIR/low-port.conf"
        rmdir "$DROPIN_DIR" 2>/dev/null || true
    fi
}

write_admin_wrapper() {
    mkdir -p "$(dirname "$ADMIN")"
    cat >"$ADMIN" <<'EOF'
#!/bin/sh
# Run a classroom-box command as the service's dynamic user, on the service's data, so files it
# creates belong to the service (e.g. `sudo classroom-box-admin teacher add alice`).
# Installed by scripts/install.sh. That user can write only in /var/lib/classroom-box.
# StateDirectoryMode and UMask as in the unit: otherwise systemd would reset the data directory to
# its default 0755 and new files would be world-readable until the next service start.
if [ -t 0 ]; then io=--pty; else io=--pipe; fi
exec systemd-run --quiet --wait --collect "$io" --service-type=exec \
    -p DynamicUser=yes -p User=classroom-box -p Group=classroom-box \
    -p StateDirectory=classroom-box -p StateDirectoryMode=0700 -p UMask=0077 \
    -p EnvironmentFile=-/etc/classroom-box/env \
    -E CLASSROOM_BOX_DATA_DIR=/var/lib/classroom-box \
    /opt/classroom-box/venv/bin/classroom-box "$@"
EOF
    chmod 0755 "$ADMIN"
}

install_venv() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than 3.11"
    if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
        say "the venv is broken (Python upgraded?): recreating it"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
            if [ -z "$PREFIX" ] && command -v apt-get >/dev/null; then
                apt-get install -y python3-venv
            else
                die "$PYTHON cannot create venvs (apt install python3-venv)"
            fi
        fi
        say "creating $VENV"
        mkdir -p "$APP_DIR"
        "$PYTHON" -m venv "${VENV_ARGS[@]}" "$VENV"
    fi
    say "installing classroom-box from $SOURCE"
    # pip always rebuilds and reinstalls a local directory, so a rerun refreshes our code even
    # when the version did not change; dependencies are upgraded only if the new code needs it.
    "$VENV/bin/python" -m pip install --quiet --upgrade "${PIP_ARGS[@]}" "$SOURCE"
    mkdir -p "$APP_DIR/share"
    if [ -f "$SOURCE/docs/appliance.md" ]; then
        cp "$SOURCE/docs/appliance.md" "$APP_DIR/share/appliance.md"
    fi
}

print_summary() {
    local port ips ip scheme=http
    port=$(env_value CLASSROOM_BOX_PORT)
    port=${port:-8080}
    if [ -n "$(env_value CLASSROOM_BOX_TLS_CERT)" ]; then scheme=https; fi
    ips=$(hostname -I 2>/dev/null || true)
    echo
    echo "classroom-box is installed."
    local hostport
    for ip in $ips; do
        case "$ip" in *:*|127.*|172.1[7-9].*) continue ;; esac  # IPv6, loopback, docker
        hostport="$ip:$port"
        if [ "$scheme:$port" = http:80 ] || [ "$scheme:$port" = https:443 ]; then hostport=$ip; fi
        echo "  Students: $scheme://$hostport/    Teacher: $scheme://$hostport/teacher"
    done
    cat <<EOF

First teacher, either way:
  - open the setup link the box prints at start:
      sudo journalctl -u $SERVICE -b | grep setup
  - or add one on the command line (runs as the service's user, so the data stays its own):
      sudo $SERVICE-admin teacher add NAME
Settings: $ENV_FILE (then: sudo systemctl restart $SERVICE). Logs: journalctl -u $SERVICE -f
Backup:   sudo /opt/$SERVICE/venv/bin/$SERVICE backup /root/classroom-box.db --data-dir /var/lib/$SERVICE
Remove:   sudo $0 --uninstall [--purge]
EOF
}

if [ "$UNINSTALL" = 1 ]; then
    uninstall
    exit 0
fi

[ -f "$SOURCE/pyproject.toml" ] || die "$SOURCE is not a classroom-box checkout (no pyproject.toml)"
install_venv
mkdir -p "$UNIT_DIR"
install -m 0644 "$SOURCE/systemd/$SERVICE.service" "$UNIT"
install -m 0644 "$SOURCE/systemd/$LIMIT.service" "$LIMIT_UNIT"
say "installed $UNIT and $LIMIT_UNIT"
write_env_file
write_low_port_dropin
write_admin_wrapper
run_systemctl daemon-reload
run_systemctl enable "$SERVICE.service" "$LIMIT.service"
if [ ! -x "$PREFIX/usr/sbin/nft" ]; then
    say "nftables is not installed: no kernel limit on new connections per device"
    say "(recommended: sudo apt install nftables, then rerun this script)"
fi
if [ "$USE_SYSTEMCTL" = 1 ]; then
    say "(re)starting $SERVICE"
    systemctl restart "$SERVICE.service"
    systemctl is-active --quiet "$SERVICE.service" \
        || die "$SERVICE did not start: sudo journalctl -u $SERVICE -b"
fi
print_summary
