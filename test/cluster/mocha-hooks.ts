/**
 * Mocha root hook plugin (listed under "require" in .mocharc.json). It only tears down what a
 * test run started; starting is left to the integration suites that ask for a cluster, so runs
 * without them never build or start anything.
 */
import type { Context } from 'mocha';
import { runTeardowns } from './teardown.js';

let failed = false;

export const mochaHooks = {
  afterEach(this: Context): void {
    if (this.currentTest?.state === 'failed') failed = true;
  },
  async afterAll(this: Context): Promise<void> {
    // Stopping five processes gracefully can outlast the default 30 s per-hook timeout.
    this.timeout(120_000);
    await runTeardowns({ failed });
  },
};
