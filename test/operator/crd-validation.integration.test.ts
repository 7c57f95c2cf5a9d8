import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { useCluster } from '../cluster/harness.js';
import { GROUP, PLURAL, VERSION } from '../../crds/modelservice.js';
import { installCrd, kubectl } from './operator-harness.js';

interface Case {
  name: string;
  expect: 'valid' | 'invalid';
  match?: string;
  object: { metadata: Record<string, unknown> } & Record<string, unknown>;
  old?: { metadata: Record<string, unknown> } & Record<string, unknown>;
}

const cases = parse(readFileSync(new URL('./crd-cases.yaml', import.meta.url), 'utf8')) as Case[];

/** The API server's message for a refused request, or undefined if it was accepted. */
async function refusal(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
    return undefined;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    expect(err.code, String(err.body)).to.equal(422);
    const body = typeof err.body === 'string' ? (JSON.parse(err.body) as { message: string }) : (err.body as { message: string });
    return body.message;
  }
}

describe('@integration ModelService validation by the API server', function () {
  this.timeout(60_000);
  const cluster = useCluster();

  before(async function () {
    await installCrd(cluster.kubeconfigPath);
  });

  it(`accepts the valid and refuses the invalid specs with a message naming the problem (${cases.length} cases)`, async function () {
    const api = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    const namespace = cluster.namespace;
    const target = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
    const failures: string[] = [];
    for (const c of cases) {
      const body = { ...c.object, metadata: { ...c.object.metadata, namespace } };
      let message: string | undefined;
      if (c.old) {
        // A rule on the change itself: create the old object for real (under a name of its own), then try the update.
        const name = `old-${cases.indexOf(c)}`;
        const created = (await api.createNamespacedCustomObject({ ...target, body: { ...c.old, metadata: { ...c.old.metadata, name, namespace } } })) as { metadata: { resourceVersion: string } };
        const update = { ...body, metadata: { ...body.metadata, name, resourceVersion: created.metadata.resourceVersion } };
        message = await refusal(api.replaceNamespacedCustomObject({ ...target, name, body: update }));
      } else {
        message = await refusal(api.createNamespacedCustomObject({ ...target, body, dryRun: 'All' }));
      }
      const got = message === undefined ? 'valid' : 'invalid';
      if (got !== c.expect) failures.push(`${c.name}: expected ${c.expect}, got ${got}${message ? `: ${message}` : ''}`);
      else if (c.match && !message?.includes(c.match)) failures.push(`${c.name}: message lacks "${c.match}": ${message}`);
    }
    expect(failures).to.deep.equal([]);
  });

  it('kubectl apply prints the rule that was broken', async function () {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msvc-'));
    try {
      const file = path.join(dir, 'bad.yaml');
      await writeFile(file, stringify({
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'ModelService',
        metadata: { name: 'both' },
        spec: { model: { uri: 'https://m.example.com/p.onnx' }, replicas: 2, autoscaling: { minReplicas: 1, maxReplicas: 3 } },
      }));
      const err = await kubectl(cluster.kubeconfigPath, 'apply', '-n', cluster.namespace, '-f', file).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.match(/ModelService.*"both" is invalid/).and.include('set replicas or autoscaling');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
