import { readFile, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { KeyPair } from './certs.js';

export const CONTEXT_NAME = 'visionops-test';

/**
 * Writes a kubeconfig with the certificates inlined, so it stays valid when copied elsewhere
 * and works the same for kubectl, client-go components and @kubernetes/client-node.
 */
export async function writeKubeconfig(file: string, server: string, caCert: string, user: KeyPair, userName: string): Promise<void> {
  const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CONTEXT_NAME, cluster: { server, 'certificate-authority-data': await b64(caCert) } }],
    users: [{ name: userName, user: { 'client-certificate-data': await b64(user.cert), 'client-key-data': await b64(user.key) } }],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: userName } }],
    'current-context': CONTEXT_NAME,
    preferences: {},
  };
  await writeFile(file, stringify(config), { mode: 0o600 });
}
