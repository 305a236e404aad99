#!/usr/bin/env bash
# End-to-end test of the dashboard (GET /) in a real headless Chromium.
#
# Installs what it needs when it is missing (Debian packages chromium and
# chromium-driver, selenium in a venv under target/e2e), builds `mamamia`,
# runs shell/e2e/dashboard_test.py and exits non-zero if any check fails.
# Screenshots land in target/e2e/*.png.
#
# Usage: shell/e2e/run.sh [test-name ...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac # cargo runs in $root
out="$target/e2e"
mkdir -p "$out"

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "e2e: installing ${missing[*]}" >&2
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv="$out/venv"
if ! "$venv/bin/python" -c 'import selenium' 2>/dev/null; then
    echo "e2e: installing selenium into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'selenium>=4.11,<5'
fi

(cd "$root" && cargo build --quiet --bin mamamia)

exec "$venv/bin/python" "$here/dashboard_test.py" \
    --server "$target/debug/mamamia" --out "$out" "$@"
