import type { V1Ingress } from '@kubernetes/client-node';
import { DEFAULTS, type ModelService } from '../../crds/modelservice.js';
import type { OperatorConfig } from '../config.js';
import { HTTP_PORT_NAME } from './deployment.js';
import { type ChildMeta, childMeta } from './meta.js';

export type IngressChild = V1Ingress & { apiVersion: 'networking.k8s.io/v1'; kind: 'Ingress'; metadata: ChildMeta };

/** ingress-nginx size syntax: whole mebibytes, rounded up so the proxy never refuses what the server accepts. */
export function nginxBodySize(bytes: number): string {
  return `${Math.ceil(bytes / 2 ** 20)}m`;
}

export function buildIngress(ms: ModelService, config: OperatorConfig): IngressChild | undefined {
  const ing = ms.spec.ingress;
  if (!ing) return undefined;
  const className = ing.className ?? DEFAULTS.ingressClassName;
  // nginx's default body limit is 1m: images larger than that would get a 413 from the proxy.
  const own: Record<string, string> =
    className === 'nginx' ? { 'nginx.ingress.kubernetes.io/proxy-body-size': nginxBodySize(config.serverBodyLimitBytes) } : {};
  const annotations = { ...own, ...ing.annotations };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...childMeta(ms), ...(Object.keys(annotations).length ? { annotations } : {}) },
    spec: {
      ingressClassName: className,
      rules: [
        {
          ...(ing.host ? { host: ing.host } : {}),
          http: {
            paths: [
              {
                path: ing.path ?? DEFAULTS.ingressPath,
                pathType: 'Prefix',
                backend: { service: { name: ms.metadata.name, port: { name: HTTP_PORT_NAME } } },
              },
            ],
          },
        },
      ],
      ...(ing.tls && ing.host ? { tls: [{ hosts: [ing.host], secretName: ing.tls.secretName }] } : {}),
    },
  };
}
