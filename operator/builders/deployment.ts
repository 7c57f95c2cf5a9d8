import type { V1Container, V1Deployment, V1PodSpec, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ARCHIVE_DIR, CONFIG_DIR, CONFIG_PATH, FETCHED_MODEL_PATH, HEALTH_PORT, MODEL_DIR, SERVER_PORT } from '../../contract/pod-layout.js';
import { DEFAULTS, type ModelService } from '../../crds/modelservice.js';
import type { OperatorConfig } from '../config.js';
import { archiveClaimName } from './archive-pvc.js';
import { type ChildMeta, childLabels, childMeta, selectorLabels } from './meta.js';
import { modelSource } from './model-source.js';
import { PRE_STOP_SLEEP_SECONDS, TERMINATION_GRACE_SECONDS } from './server-config.js';
import { ANNOTATION_MODEL_REGISTRY, pinAnnotation, type RegistryPin, resolvedUri } from '../registry/pin.js';
import { REGISTRY_ENV_NAMES, registryFetchParts } from '../registry/pod.js';

export const SERVER_CONTAINER = 'server';
export const FETCH_CONTAINER = 'fetch-model';
export const HTTP_PORT_NAME = 'http';
export const HEALTH_PORT_NAME = 'health';

/** Pod template annotations the operator owns (users cannot set visionops.io/ keys, the CRD refuses them). */
export const ANNOTATION_CONFIG_HASH = 'visionops.io/config-hash';
export const ANNOTATION_MODEL_URI = 'visionops.io/model-uri';
export const ANNOTATION_MODEL_SHA256 = 'visionops.io/model-sha256';

/** The uid/gid of the `node` user in the official Node images the server is built on. */
export const SERVER_UID = 1000;

export type DeploymentChild = V1Deployment & { apiVersion: 'apps/v1'; kind: 'Deployment'; metadata: ChildMeta };

const restrictedContainer: V1SecurityContext = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

function resources(ms: ModelService) {
  const r = ms.spec.resources ?? DEFAULTS.resources;
  // client-node types quantities as strings; the CRD also allows plain integers.
  const strings = (m: Record<string, string | number> | undefined) =>
    m === undefined ? undefined : Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  const requests = strings(r.requests);
  const limits = strings(r.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

/** `pin`: the registry version resolved for a models:/ URI (required for those, ignored otherwise). */
export function buildDeployment(ms: ModelService, config: OperatorConfig, configHash: string, pin?: RegistryPin): DeploymentChild {
  const { spec } = ms;
  const image = spec.image ?? config.serverImage;
  const source = modelSource(spec.model, pin);
  const env = spec.env?.map((e) => structuredClone(e));

  const volumes: V1Volume[] = [
    { name: 'config', configMap: { name: ms.metadata.name } },
    source.kind === 'pvc'
      ? { name: 'model', persistentVolumeClaim: { claimName: source.claimName, readOnly: true } }
      : { name: 'model', emptyDir: {} },
    // The only writable place besides the archive: the root filesystem is read-only.
    { name: 'tmp', emptyDir: {} },
  ];
  const serverMounts: V1VolumeMount[] = [
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'model', mountPath: MODEL_DIR, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  if (spec.archive?.enabled) {
    volumes.push({ name: 'archive', persistentVolumeClaim: { claimName: archiveClaimName(ms) } });
    serverMounts.push({ name: 'archive', mountPath: ARCHIVE_DIR });
  }

  const initContainers: V1Container[] = [];
  const registry = source.kind === 'registry' ? registryFetchParts(ms, source.pin) : undefined;
  if (registry) volumes.push(...registry.volumes);
  const fetch =
    source.kind === 'http'
      ? { args: ['fetch', '--uri', source.uri, ...(source.sha256 ? ['--sha256', source.sha256] : []), '--dest', FETCHED_MODEL_PATH], env, mounts: [] }
      : registry
        ? { args: registry.args, env: [...(env ?? []).filter((e) => !REGISTRY_ENV_NAMES.includes(e.name)), ...registry.env], mounts: registry.mounts }
        : undefined;
  if (fetch) {
    initContainers.push({
      name: FETCH_CONTAINER,
      image,
      args: fetch.args,
      ...(fetch.env ? { env: fetch.env } : {}),
      // Same as the server: the pod's request is the max of the two, so this costs nothing extra.
      resources: resources(ms),
      securityContext: restrictedContainer,
      volumeMounts: [{ name: 'model', mountPath: MODEL_DIR }, { name: 'tmp', mountPath: '/tmp' }, ...fetch.mounts],
      // fetch writes one line saying why it failed; this puts it into the pod status, where the
      // operator turns it into the ModelFetchFailed condition.
      terminationMessagePolicy: 'FallbackToLogsOnError',
    });
  }

  const server: V1Container = {
    name: SERVER_CONTAINER,
    image,
    args: ['serve', '--config', CONFIG_PATH],
    ports: [
      { name: HTTP_PORT_NAME, containerPort: SERVER_PORT, protocol: 'TCP' },
      // The probes' own listener (server.healthPort): they never queue behind client connections.
      { name: HEALTH_PORT_NAME, containerPort: HEALTH_PORT, protocol: 'TCP' },
    ],
    ...(env ? { env } : {}),
    resources: resources(ms),
    // /readyz turns 200 only after the model is loaded and warmed up by a real inference.
    readinessProbe: { httpGet: { path: '/readyz', port: HEALTH_PORT_NAME }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
    // /healthz answers from the start (the server listens before warm-up), so a short delay is
    // enough; a long inference on a busy CPU must not look like a hang, hence the timeout.
    livenessProbe: { httpGet: { path: '/healthz', port: HEALTH_PORT_NAME }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    // Serve on while the endpoint removal propagates; SIGTERM comes after (see server-config.ts).
    lifecycle: { preStop: { sleep: { seconds: PRE_STOP_SLEEP_SECONDS } } },
    securityContext: restrictedContainer,
    volumeMounts: serverMounts,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };

  const podSpec: V1PodSpec = {
    ...(spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
    // The server never calls the Kubernetes API; no token means nothing to steal.
    automountServiceAccountToken: false,
    // Docker-link style env vars for every Service in the namespace are noise the server never reads.
    enableServiceLinks: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SERVER_UID,
      runAsGroup: SERVER_UID,
      // Makes the archive volume writable by the server user.
      fsGroup: SERVER_UID,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    ...(initContainers.length ? { initContainers } : {}),
    containers: [server],
    volumes,
    ...(spec.nodeSelector ? { nodeSelector: { ...spec.nodeSelector } } : {}),
    ...(spec.tolerations ? { tolerations: structuredClone(spec.tolerations) } : {}),
    ...(spec.affinity ? { affinity: structuredClone(spec.affinity) } : {}),
    ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets.map((s) => ({ name: s.name })) } : {}),
  };

  const modelSha256 = source.kind === 'registry' ? source.pin.sha256 : spec.model.sha256;
  const annotations: Record<string, string> = {
    ...spec.podAnnotations,
    'kubectl.kubernetes.io/default-container': SERVER_CONTAINER,
    [ANNOTATION_CONFIG_HASH]: configHash,
    // Lets the status tell which pods serve which model while a rollout replaces one with another.
    [ANNOTATION_MODEL_URI]: source.kind === 'registry' ? resolvedUri(source.pin) : spec.model.uri,
    ...(modelSha256 ? { [ANNOTATION_MODEL_SHA256]: modelSha256 } : {}),
    // A registry pod says which version it serves, and where from, for the status.
    ...(source.kind === 'registry' ? { [ANNOTATION_MODEL_REGISTRY]: pinAnnotation(source.pin) } : {}),
  };

  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(ms),
    spec: {
      // With autoscaling the HPA owns the count: a replicas field here would reset it on every apply.
      ...(spec.autoscaling ? {} : { replicas: spec.replicas ?? 1 }),
      selector: { matchLabels: selectorLabels(ms) },
      // Never drop below the serving capacity; one extra pod at a time, since each downloads the model.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      progressDeadlineSeconds: config.progressDeadlineSeconds,
      template: { metadata: { labels: childLabels(ms), annotations }, spec: podSpec },
    },
  };
}
