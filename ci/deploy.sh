#!/usr/bin/env bash
# Deploy the operator with the images of this commit: the CRD first, then the Helm release.
# Run by the deploy-* jobs; works the same from a laptop against any cluster.
#
#   KUBECONFIG=...  IMAGE_TAG=<tag>  ci/deploy.sh
#
# Environment:
#   KUBECONFIG           the target cluster (a File-type CI/CD variable, scoped per environment)
#   IMAGE_TAG            tag of both images (default: $CI_COMMIT_SHA)
#   IMAGE_REPOSITORY     registry path holding visionops-operator and visionops-server
#                        (default: $CI_REGISTRY_IMAGE)
#   RELEASE_NAME         Helm release (default: visionops)
#   VISIONOPS_NAMESPACE  namespace of the operator (default: visionops-system)
#   DEPLOY_VALUES_FILE   optional extra values file (e.g. imagePullSecrets, resources, logLevel)
#   SMOKE_MODELSERVICE   optional <namespace>/<name> of a ModelService without spec.image: wait
#                        until it runs the new server image and is Ready (the monitor stage then
#                        sends it a sample image)
#   HELM, KUBECTL        binaries (default: helm, kubectl on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KUBECONFIG:?set KUBECONFIG (a File-type CI/CD variable scoped to the environment)}"
tag=${IMAGE_TAG:-${CI_COMMIT_SHA:?set IMAGE_TAG or CI_COMMIT_SHA}}
repo=${IMAGE_REPOSITORY:-${CI_REGISTRY_IMAGE:?set IMAGE_REPOSITORY or CI_REGISTRY_IMAGE}}
release=${RELEASE_NAME:-visionops}
namespace=${VISIONOPS_NAMESPACE:-visionops-system}
helm=${HELM:-helm}
kubectl=${KUBECTL:-kubectl}
server_image="${repo}/visionops-server:${tag}"

# Helm installs a chart's crds/ on first install only and never upgrades them, so a schema change
# would never reach the cluster. Server-side apply: the CRD is too large for the
# last-applied-configuration annotation of client-side apply.
"$kubectl" apply --server-side --force-conflicts --field-manager=visionops-deploy \
  -f charts/visionops/crds/visionops.io_modelservices.yaml

# The operator meets the restricted Pod Security Standard: enforce it in its namespace before its
# pods exist, so a chart change that breaks it fails here rather than in a later audit.
"$kubectl" create namespace "$namespace" --dry-run=client -o yaml | "$kubectl" apply -f -
"$kubectl" label namespace "$namespace" pod-security.kubernetes.io/enforce=restricted --overwrite

values=()
if [[ -n ${DEPLOY_VALUES_FILE:-} ]]; then values=(--values "$DEPLOY_VALUES_FILE"); fi

# --atomic: a release whose operator does not become ready is rolled back, not left half-done.
"$helm" upgrade --install "$release" charts/visionops \
  --namespace "$namespace" \
  "${values[@]}" \
  --set-string "image.repository=${repo}/visionops-operator" \
  --set-string "image.tag=${tag}" \
  --set-string "serverImage.repository=${repo}/visionops-server" \
  --set-string "serverImage.tag=${tag}" \
  --atomic --wait --timeout 5m

if [[ -n ${SMOKE_MODELSERVICE:-} ]]; then
  ms_namespace=${SMOKE_MODELSERVICE%%/*}
  ms_name=${SMOKE_MODELSERVICE#*/}
  echo "waiting for ModelService ${SMOKE_MODELSERVICE} to run ${server_image}"
  # The operator rolls every ModelService without spec.image to the new server image; its
  # Deployment has the same name and the server as its only container.
  "$kubectl" -n "$ms_namespace" wait "deployment/${ms_name}" \
    --for=jsonpath='{.spec.template.spec.containers[0].image}'="$server_image" --timeout=5m
  "$kubectl" -n "$ms_namespace" rollout status "deployment/${ms_name}" --timeout=10m
  "$kubectl" -n "$ms_namespace" wait "modelservice/${ms_name}" --for=condition=Ready --timeout=5m
fi
echo "deployed ${release} (${tag}) to namespace ${namespace}"
