import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ModelService, ModelServiceSpec } from '../../crds/modelservice.js';
import { defaultOperatorConfig, type OperatorConfig } from '../../operator/config.js';

export const SHA = 'a'.repeat(64);
export const config: OperatorConfig = { ...defaultOperatorConfig, serverImage: 'registry.example/visionops-server:1.2.3' };

export function modelService(spec: Partial<ModelServiceSpec> = {}, meta: Partial<ModelService['metadata']> = {}): ModelService {
  return {
    apiVersion: 'visionops.io/v1alpha1',
    kind: 'ModelService',
    metadata: { name: 'plates', namespace: 'vision', uid: '0b5c6f0e-1111-2222-3333-444455556666', generation: 3, ...meta },
    spec: { model: { uri: 'https://models.example.com/plates.onnx', sha256: SHA }, ...spec },
  };
}

/** A ModelService with every optional section set. */
export function fullModelService(): ModelService {
  return modelService({
    model: { uri: 'https://models.example.com/plates.onnx', sha256: SHA, format: 'yolov8', classes: ['car', 'plate'], inputSize: 640, thresholds: { confidence: 0.4 } },
    ocr: { classes: ['plate'], charset: 'A-Z0-9', mode: 'line', language: 'eng' },
    autoscaling: { minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70 },
    resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
    ingress: { host: 'plates.example.com', tls: { secretName: 'plates-tls' }, annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' } },
    archive: { enabled: true, size: '20Gi', storageClassName: 'fast', retentionDays: 14 },
    serviceAccountName: 'plates-reader',
    nodeSelector: { 'kubernetes.io/arch': 'amd64' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'vision', effect: 'NoSchedule' }],
    affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
    imagePullSecrets: [{ name: 'regcred' }],
    env: [{ name: 'HTTPS_PROXY', value: 'http://proxy:3128' }],
    podAnnotations: { 'prometheus.io/scrape': 'true' },
  });
}

export function deployment(status: NonNullable<V1Deployment['status']>, opts: { replicas?: number; generation?: number } = {}): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'plates', namespace: 'vision', generation: opts.generation ?? 1 },
    spec: { replicas: opts.replicas ?? 1, selector: {}, template: {} },
    status: { observedGeneration: opts.generation ?? 1, ...status },
  };
}

export function rolledOut(replicas: number): V1Deployment {
  return deployment(
    {
      replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      updatedReplicas: replicas,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    },
    { replicas },
  );
}

type PodStatus = NonNullable<V1Pod['status']>;

/** A server pod carrying the model annotations the Deployment builder puts on the template. */
export function pod(name: string, status: PodStatus, model: { uri: string; sha256?: string } = { uri: 'https://models.example.com/plates.onnx', sha256: SHA }): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'vision',
      annotations: { 'visionops.io/model-uri': model.uri, ...(model.sha256 ? { 'visionops.io/model-sha256': model.sha256 } : {}) },
    },
    status,
  };
}

const fetched = { name: 'fetch-model', image: 'img', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } };

export function readyPod(name: string, model?: { uri: string; sha256?: string }): V1Pod {
  return pod(
    name,
    {
      phase: 'Running',
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
      initContainerStatuses: [fetched],
      containerStatuses: [{ name: 'server', image: 'img', imageID: '', ready: true, restartCount: 0, state: { running: {} } }],
    },
    model,
  );
}

export function crashingPod(name: string): V1Pod {
  return pod(name, {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'False' }],
    initContainerStatuses: [fetched],
    containerStatuses: [
      {
        name: 'server',
        image: 'img',
        imageID: '',
        ready: false,
        restartCount: 5,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=server' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', message: 'cannot load model: invalid ONNX protobuf' } },
      },
    ],
  });
}

export function fetchFailedPod(name: string, waiting = false): V1Pod {
  const terminated = { exitCode: 2, reason: 'Error', message: 'model fetch failed: model https://models.example.com/plates.onnx has sha256 bbbb, expected aaaa' };
  return pod(name, {
    phase: 'Pending',
    conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'False' }],
    initContainerStatuses: [
      waiting
        ? { name: 'fetch-model', image: 'img', imageID: '', ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated } }
        : { name: 'fetch-model', image: 'img', imageID: '', ready: false, restartCount: 0, state: { terminated } },
    ],
    containerStatuses: [{ name: 'server', image: 'img', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
  });
}
