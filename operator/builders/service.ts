import type { V1Service } from '@kubernetes/client-node';
import type { ModelService } from '../../crds/modelservice.js';
import { HTTP_PORT_NAME } from './deployment.js';
import { type ChildMeta, childMeta, selectorLabels } from './meta.js';

export type ServiceChild = V1Service & { apiVersion: 'v1'; kind: 'Service'; metadata: ChildMeta };

export const SERVICE_PORT = 80;

export function buildService(ms: ModelService): ServiceChild {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(ms),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(ms),
      // Targets the port by name so the container port can change without touching the Service.
      ports: [{ name: HTTP_PORT_NAME, port: SERVICE_PORT, targetPort: HTTP_PORT_NAME, protocol: 'TCP' }],
    },
  };
}
