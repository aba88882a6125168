#!/usr/bin/env bash
# Vendor the official socket.io-client browser build into static/vendor/socket.io-client/.
#
# Why: the classroom LAN has no internet, so the pages cannot load the client from a CDN. We ship
# the package's own prebuilt ES module (dist/socket.io.esm.min.js) so there is no build step, and
# record the exact version so an upgrade is a reviewed, one-line change.
#
# Usage: scripts/vendor-socketio.sh [version-spec]   (default: 4.8.x)
set -euo pipefail

spec="${1:-4.8.x}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/static/vendor/socket.io-client"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
tarball="$(npm pack --silent "socket.io-client@${spec}" | tail -n 1)"
tar -xzf "$tarball"
pkg="$tmp/package"
version="$(node -p "require('$pkg/package.json').version")"

mkdir -p "$dest"
# The sourceMappingURL comment is relative (socket.io.esm.min.js.map), so it is not an external URL;
# we ship the map next to it so devtools can resolve it from the box.
cp "$pkg/dist/socket.io.esm.min.js" "$dest/socket.io.esm.min.js"
if [[ -f "$pkg/dist/socket.io.esm.min.js.map" ]]; then
    cp "$pkg/dist/socket.io.esm.min.js.map" "$dest/socket.io.esm.min.js.map"
fi
cp "$pkg/LICENSE" "$dest/LICENSE"
printf '%s\n' "$version" > "$dest/VERSION"

# Refuse to vendor a build that would make the browser load anything from outside the box.
if grep -Eo '(import|from|src=|href=|url\()[^;]{0,20}(https?:)?//[a-zA-Z]' "$dest/socket.io.esm.min.js"; then
    echo "vendored client references an external URL; refusing" >&2
    exit 1
fi
echo "vendored socket.io-client $version into ${dest#"$root"/}"
