import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listModule, type WrapperModule } from './gomod.js';

/**
 * The kwok binary does nothing without Stage objects; kwokctl feeds it its defaults. These are
 * the same defaults (kwokctl's getDefaultNodeStages with leases + getDefaultPodStages), read from
 * the pinned kwok release so they move with it.
 */
const STAGE_FILES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

export const KWOK_STAGES_FILE = 'kwok-stages.yaml';

export async function writeKwokStages(kwokModule: WrapperModule, outDir: string): Promise<void> {
  const { Dir } = await listModule(kwokModule, kwokModule.module);
  if (!Dir) throw new Error(`${kwokModule.module} is not in the module cache; build kwok first`);
  const docs = await Promise.all(STAGE_FILES.map((f) => readFile(path.join(Dir, f), 'utf8')));
  await writeFile(path.join(outDir, KWOK_STAGES_FILE), docs.map((d) => d.trimEnd()).join('\n---\n') + '\n');
}
