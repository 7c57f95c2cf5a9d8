import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { DEFAULTS, type ModelService } from '../../crds/modelservice.js';
import { type ChildMeta, childMeta } from './meta.js';

export type PersistentVolumeClaimChild = V1PersistentVolumeClaim & { apiVersion: 'v1'; kind: 'PersistentVolumeClaim'; metadata: ChildMeta };

export function archiveClaimName(ms: ModelService): string {
  return `${ms.metadata.name}-archive`;
}

/** The archive volume, or undefined when the archive is off (an existing claim is kept, not deleted). */
export function buildArchiveClaim(ms: ModelService): PersistentVolumeClaimChild | undefined {
  const archive = ms.spec.archive;
  if (!archive?.enabled) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: childMeta(ms, archiveClaimName(ms)),
    spec: {
      accessModes: [archive.accessMode ?? DEFAULTS.archiveAccessMode],
      resources: { requests: { storage: String(archive.size ?? DEFAULTS.archiveSize) } },
      ...(archive.storageClassName ? { storageClassName: archive.storageClassName } : {}),
    },
  };
}
