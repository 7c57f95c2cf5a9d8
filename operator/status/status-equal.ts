import type { ModelServiceStatus } from '../../crds/modelservice.js';
import { formatTime } from './conditions.js';

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
  return sortKeys({ ...status, conditions });
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v instanceof Date) return formatTime(v);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  }
  return v;
}
