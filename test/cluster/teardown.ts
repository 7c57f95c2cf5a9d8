/**
 * The bridge between the mocha root hook and the harness. Kept free of imports so that loading
 * the root hook plugin costs nothing in runs that never touch a cluster (unit-test runs).
 */
type Teardown = (opts: { failed: boolean }) => Promise<void>;

const teardowns: Teardown[] = [];

export function registerTeardown(fn: Teardown): void {
  teardowns.push(fn);
}

export async function runTeardowns(opts: { failed: boolean }): Promise<void> {
  const errors: unknown[] = [];
  for (const fn of teardowns.splice(0).reverse()) await fn(opts).catch((e: unknown) => errors.push(e));
  if (errors.length) throw errors[0];
}
