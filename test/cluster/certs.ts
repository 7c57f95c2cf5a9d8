import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from './command.js';

/**
 * A throwaway certificate authority, like envtest's: kube-apiserver trusts it for client
 * certificates (--client-ca-file), so a user is whatever CN/O a test asks for, and it signs the
 * serving certificates, so clients verify TLS instead of skipping it.
 *
 * Uses the openssl CLI (3.0+ for `req -CA`): node:crypto can make keys but not certificates.
 */
export interface CertificateAuthority {
  cert: string;
  key: string;
}

export interface KeyPair {
  cert: string;
  key: string;
}

/** P-256 keys: as good as RSA here and an order of magnitude faster to generate. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

// Subjects are passed as openssl's "/O=.../CN=..." string; keep names to a set that cannot
// break out of it.
const SAFE_NAME = /^[A-Za-z0-9:._@-]+$/;

function subject(cn: string, groups: readonly string[]): string {
  for (const n of [cn, ...groups]) {
    if (!SAFE_NAME.test(n)) throw new Error(`unsupported certificate name ${JSON.stringify(n)} (allowed: ${SAFE_NAME.source})`);
  }
  return [...groups.map((g) => `/O=${g}`), `/CN=${cn}`].join('');
}

async function openssl(args: string[]): Promise<void> {
  await runCommand('openssl', args).catch((e: Error) => {
    if (/ENOENT/.test(e.message)) throw new Error('openssl not found: the test cluster needs the openssl CLI (3.0 or newer)');
    throw e;
  });
}

export async function createCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const ca = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
  await openssl([
    'req', '-x509', '-new', ...NEW_KEY, '-keyout', ca.key, '-out', ca.cert, '-days', '3650',
    '-subj', '/CN=visionops-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  return ca;
}

async function issue(ca: CertificateAuthority, dir: string, name: string, subj: string, extensions: string[]): Promise<KeyPair> {
  await mkdir(dir, { recursive: true });
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  await openssl([
    'req', '-x509', '-new', ...NEW_KEY, '-keyout', pair.key, '-out', pair.cert, '-days', '365',
    '-CA', ca.cert, '-CAkey', ca.key, '-subj', subj,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    ...extensions.flatMap((e) => ['-addext', e]),
  ]);
  return pair;
}

/** A client certificate: kube-apiserver reads CN as the user name and each O as a group. */
export function issueClientCert(ca: CertificateAuthority, dir: string, user: string, groups: readonly string[] = []): Promise<KeyPair> {
  const file = user.replace(/[^A-Za-z0-9._-]/g, '_');
  return issue(ca, dir, `user-${file}`, subject(user, groups), ['extendedKeyUsage=clientAuth']);
}

export function issueServingCert(ca: CertificateAuthority, dir: string, name: string, hosts: readonly string[]): Promise<KeyPair> {
  const san = hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  return issue(ca, dir, `serving-${name}`, subject(name, []), ['extendedKeyUsage=serverAuth', `subjectAltName=${san}`]);
}

/** Key pair kube-apiserver signs service-account tokens with (and kube-controller-manager too). */
export async function createServiceAccountKey(dir: string): Promise<{ privateKey: string; publicKey: string }> {
  await mkdir(dir, { recursive: true });
  const keys = { privateKey: path.join(dir, 'sa.key'), publicKey: path.join(dir, 'sa.pub') };
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keys.privateKey]);
  await openssl(['pkey', '-in', keys.privateKey, '-pubout', '-out', keys.publicKey]);
  return keys;
}
