#!/usr/bin/env bash
# Build one image with buildah and push it to the GitLab registry: no Docker daemon, no
# Docker-in-Docker, no privileged runner (vfs storage + chroot isolation, set by the job).
#
#   ci/build-image.sh <Dockerfile> <image:tag>
#
# The product images (Dockerfile.operator, Dockerfile.server) are built by ci/images.sh, the
# script `npm run images` and .ci/run use, here FROM the registry's node:22-bookworm-slim.
# --format docker keeps HEALTHCHECK (Dockerfile.server has one; the OCI format drops it).
# --layers with --cache-from/--cache-to reuses unchanged layers (npm ci) from earlier pipelines.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <Dockerfile> <image:tag>" >&2
  exit 2
fi
dockerfile=$1
image=$2
[[ -f $dockerfile ]] || { echo "$0: no such Dockerfile: $dockerfile" >&2; exit 2; }
: "${CI_REGISTRY:?}" "${CI_REGISTRY_USER:?}" "${CI_REGISTRY_PASSWORD:?}" "${CI_REGISTRY_IMAGE:?}"

cache="${CI_REGISTRY_IMAGE}/build-cache"
printf '%s' "$CI_REGISTRY_PASSWORD" | buildah login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"

case $dockerfile in
  Dockerfile.operator | Dockerfile.server)
    exec "$(dirname "$0")/images.sh" --base registry --image "$image" --cache-repo "$cache" --push "${dockerfile#Dockerfile.}" ;;
esac

buildah build \
  --format docker \
  --layers --cache-from "$cache" --cache-to "$cache" \
  --file "$dockerfile" \
  --tag "$image" \
  --label "org.opencontainers.image.source=${CI_PROJECT_URL:-}" \
  --label "org.opencontainers.image.revision=${CI_COMMIT_SHA:-}" \
  --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  .
buildah push "$image"
echo "pushed $image"
