#!/usr/bin/env bash
# Builds the operator and server images from the working tree with podman (or buildah where
# podman is missing, as in the GitLab build job): no Docker daemon.
#
#   npm run images                        both, as ghcr.io/visionops/visionops-{operator,server}:<version>
#   ci/images.sh server                   one of them
#   ci/images.sh --save DIR               also write DIR/visionops-<component>-<tag>.tar (docker-archive,
#                                         for `ctr -n k8s.io images import` or `podman load`)
#   ci/images.sh --repo R --tag T --push  as R/visionops-<component>:T, pushed
#
# --base picks the node:22-bookworm-slim the Dockerfiles build FROM:
#   auto      (default) pull docker.io/library/node:22-bookworm-slim; where no registry answers,
#             an earlier pull, else the one ci/base-image.sh makes from Debian's mirror and the npm
#             registry (cached)
#   registry  pull it, or fail
#   local     ci/base-image.sh's, even where a registry answers
#   REF       any other image reference, used as it is (e.g. a registry mirror's copy)
# --cache-repo R   layer cache in a registry (--cache-from/--cache-to), for machines that start empty
#
# The machine's CA bundle (VISIONOPS_BUILD_CA, default /etc/ssl/certs/ca-certificates.crt; empty
# to pass none) is handed to the build as the secret `ca`: npm in the build trusts it, the images
# never contain it. Layers are cached in the engine's storage between runs. Prints a table of the
# images' sizes above the base, against the targets, and the build times.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

base=auto repo_prefix=ghcr.io/visionops tag='' image='' push=false save='' cache_repo=''
components=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --base) base=${2:?}; shift 2 ;;
    --repo) repo_prefix=${2:?}; shift 2 ;;
    --tag) tag=${2:?}; shift 2 ;;
    --image) image=${2:?}; shift 2 ;;
    --push) push=true; shift ;;
    --save) save=${2:?}; shift 2 ;;
    --cache-repo) cache_repo=${2:?}; shift 2 ;;
    operator | server) components+=("$1"); shift ;;
    -h | --help) usage ;;
    *) echo "images: unknown argument $1" >&2; usage ;;
  esac
done
[[ ${#components[@]} -gt 0 ]] || components=(operator server)
if [[ -n $image && ${#components[@]} -ne 1 ]]; then
  echo "images: --image names one image: say which component" >&2
  exit 2
fi

log() { echo "images: $*" >&2; }

if [[ -n ${VISIONOPS_ENGINE:-} ]]; then
  engine=$VISIONOPS_ENGINE
elif command -v podman >/dev/null; then
  engine=podman
elif command -v buildah >/dev/null; then
  engine=buildah
else
  log "neither podman nor buildah is installed (Debian: apt-get install -y podman buildah runc)"
  exit 1
fi

# podman's default runtime, crun, cannot start containers on a cgroup v1 or hybrid host without
# CAP_SYS_RESOURCE (these CI machines); ci/containers.conf says why and switches to runc.
if [[ -z ${CONTAINERS_CONF:-} && ! -f /sys/fs/cgroup/cgroup.controllers ]] && command -v runc >/dev/null; then
  export CONTAINERS_CONF=$here/containers.conf
  log "cgroup v1 host: CONTAINERS_CONF=$CONTAINERS_CONF"
fi

# No node needed to read it: the GitLab build job's buildah image has none.
version=$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' package.json)
[[ -n $version ]] || { log "no version in package.json"; exit 1; }
tag=${tag:-$version}

image_exists() { if [[ $engine == podman ]]; then podman image exists "$1"; else buildah inspect --type image "$1" >/dev/null 2>&1; fi; }

official=docker.io/library/node:22-bookworm-slim
case $base in
  registry)
    $engine pull --quiet "$official" >/dev/null
    base_ref=$official ;;
  local)
    base_ref=$("$here/base-image.sh") ;;
  auto)
    if timeout 300 "$engine" pull --quiet "$official" >/dev/null 2>&1; then
      base_ref=$official
    elif image_exists "$official"; then
      log "no registry answers; using the $official pulled earlier"
      base_ref=$official
    else
      log "no registry answers; making $official's equal locally (ci/base-image.sh)"
      base_ref=$("$here/base-image.sh")
    fi ;;
  *)
    image_exists "$base" || $engine pull --quiet "$base" >/dev/null
    base_ref=$base ;;
esac
log "base: $base_ref"

build_args=(--format docker --layers --network host --pull=never --build-arg "NODE_IMAGE=$base_ref")
ca=${VISIONOPS_BUILD_CA-/etc/ssl/certs/ca-certificates.crt}
[[ -n $ca && -s $ca ]] && build_args+=(--secret "id=ca,src=$ca")
[[ -n $cache_repo ]] && build_args+=(--cache-from "$cache_repo" --cache-to "$cache_repo")
build_args+=(--label "org.opencontainers.image.version=$version")
[[ -n ${CI_PROJECT_URL:-} ]] && build_args+=(--label "org.opencontainers.image.source=$CI_PROJECT_URL")
if [[ -n ${CI_COMMIT_SHA:-} ]]; then
  # Only in CI: a timestamp label makes every local rebuild a new image even when nothing changed.
  build_args+=(--label "org.opencontainers.image.revision=$CI_COMMIT_SHA" --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
fi

# Size in bytes (podman); buildah only reports a rounded, human one.
size_of() {
  if [[ $engine == podman ]]; then podman image inspect --format '{{.Size}}' "$1"; else echo ''; fi
}
# Megabytes above the base that the images must stay within (issue 11).
declare -A target_mb=([operator]=15 [server]=200)
declare -A seconds refs

for c in "${components[@]}"; do
  ref=${image:-$repo_prefix/visionops-$c:$tag}
  refs[$c]=$ref
  log "building $ref from Dockerfile.$c"
  started=$SECONDS
  nice -n 10 "$engine" build "${build_args[@]}" --file "Dockerfile.$c" --tag "$ref" . >&2
  seconds[$c]=$((SECONDS - started))
done

base_size=$(size_of "$base_ref")
printf '\n%-10s %-50s %9s %11s %8s %8s\n' component image 'size MB' 'above base' target 'build s'
for c in "${components[@]}"; do
  size=$(size_of "${refs[$c]}")
  if [[ -n $size && -n $base_size ]]; then
    above=$(( (size - base_size) / 1000000 ))
    verdict=$([[ $above -le ${target_mb[$c]} ]] && echo "<= ${target_mb[$c]}" || echo "OVER ${target_mb[$c]}")
    printf '%-10s %-50s %9d %11d %8s %8d\n' "$c" "${refs[$c]}" $((size / 1000000)) "$above" "$verdict" "${seconds[$c]}"
  else
    printf '%-10s %-50s %9s %11s %8s %8d\n' "$c" "${refs[$c]}" "$(buildah images --format '{{.Size}}' "${refs[$c]}" 2>/dev/null | head -1)" '?' "<= ${target_mb[$c]}" "${seconds[$c]}"
  fi
done
[[ -n $base_size ]] && printf '%-10s %-50s %9d\n' base "$base_ref" $((base_size / 1000000))
echo

# What was built, for the image tests and the startup benchmark (they test these very images).
mkdir -p .cache/images
{
  printf '{"engine": "%s", "base": {"ref": "%s", "size": %s}, "images": {' "$engine" "$base_ref" "${base_size:-null}"
  sep=''
  for c in "${components[@]}"; do
    printf '%s"%s": {"ref": "%s", "size": %s, "buildSeconds": %d}' "$sep" "$c" "${refs[$c]}" "$(size_of "${refs[$c]}" | grep . || echo null)" "${seconds[$c]}"
    sep=', '
  done
  printf '}}\n'
} >.cache/images/build.json

if [[ -n $save ]]; then
  mkdir -p "$save"
  for c in "${components[@]}"; do
    ref_tag=${refs[$c]##*:}
    out=$save/visionops-$c-${ref_tag//[^A-Za-z0-9_.-]/_}.tar
    rm -f "$out"
    if [[ $engine == podman ]]; then
      podman save --quiet --format docker-archive --output "$out" "${refs[$c]}"
    else
      buildah push --quiet "${refs[$c]}" "docker-archive:$out:${refs[$c]}"
    fi
    log "saved ${refs[$c]} to $out"
  done
fi

if $push; then
  for c in "${components[@]}"; do
    $engine push "${refs[$c]}"
    log "pushed ${refs[$c]}"
  done
fi
