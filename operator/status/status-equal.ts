import type { ModelServiceStatus } from '../../crds/modelservice.js';
import { formatTime } from './conditions.js';
import { sortDeep } from '../canonical.js';

/**
 * Whether two statuses say the same thing, so the controller skips a write that would change
 * nothing. Tolerant of what a round trip through the apiserver does: absent vs undefined fields,
 * condition order, and timestamps as Date or string.
 */
export function statusEqual(a: ModelServiceStatus | undefined, b: ModelServiceStatus | undefined): boolean {
  return JSON.stringify(canonical(a ?? {})) === JSON.stringify(canonical(b ?? {}));
}

function canonical(status: ModelServiceStatus): unknown {
  const conditions = [...(status.conditions ?? [])]
    .map((c) => ({ ...c, lastTransitionTime: formatTime(c.lastTransitionTime as string | Date) }))
    .sort((x, y) => x.type.localeCompare(y.type));
  return sortDeep({ ...status, conditions }, formatTime);
}

