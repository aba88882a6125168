# shellcheck shell=bash
# Sourced by scripts/run and scripts/test: a virtual environment inside the checkout.
# Why: Debian 12 / Raspberry Pi OS refuse `pip install` into the system Python (PEP 668), so the
# two README commands make their own venv. The package is installed editable, so code changes need
# no reinstall; pip runs again only when pyproject.toml, the extras or the interpreter changed
# (a stamp file in the venv), which keeps a second run instant.

# ensure_venv DIR PYTHON EXTRAS: create DIR with PYTHON if needed, install `-e .[EXTRAS]`.
ensure_venv() {
    local venv=$1 python=$2 extras=$3 spec=. stamp want
    [ -z "$extras" ] || spec=".[$extras]"
    command -v "$python" >/dev/null || {
        echo "$python not found: install Python 3.11 or newer (apt-get install python3 python3-venv)" >&2
        return 1
    }
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        echo "$python is older than 3.11; classroom-box needs 3.11 or newer" >&2
        return 1
    }
    if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c '' 2>/dev/null; then
        echo "==> $venv is broken (its Python is gone): recreating it"
        rm -rf "$venv"
    fi
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -c 'import ensurepip, venv' 2>/dev/null || {
            echo "$python cannot create a virtual environment: apt-get install python3-venv" >&2
            return 1
        }
        echo "==> creating the virtual environment $venv ($("$python" -V 2>&1))"
        "$python" -m venv "$venv"
    fi
    stamp="$venv/.classroom-box-installed${extras:+-$extras}"  # one per extras: no ping-pong
    want="$spec $("$venv/bin/python" -V 2>&1) $(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing classroom-box ($spec) into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
        printf '%s\n' "$want" >"$stamp"
    fi
}
