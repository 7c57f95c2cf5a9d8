/**
 * A value with object keys sorted and undefined members dropped, so that equal values serialise
 * to equal strings. Dates are written by `formatDate` (status compares at whole seconds, hashes
 * at full ISO precision).
 */
export function sortDeep(v: unknown, formatDate: (d: Date) => string = (d) => d.toISOString()): unknown {
  if (Array.isArray(v)) return v.map((x) => sortDeep(x, formatDate));
  if (v instanceof Date) return formatDate(v);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, sortDeep(x, formatDate)]),
    );
  }
  return v;
}
