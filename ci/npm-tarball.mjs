#!/usr/bin/env node
// One package tarball from the npm registry, checked against the registry's own integrity hash
// (dist.integrity, sha512) before anyone unpacks it.
//
//   node ci/npm-tarball.mjs <package> <version or range> <download dir>
//
// Prints one JSON line: {"name", "version", "integrity", "file"}. The newest version that satisfies
// the range is taken; a tarball already in the download dir is checked again, not trusted. The
// registry is asked through npm itself, so its registry, proxy and CA settings apply.
// Plain JavaScript on purpose: it runs with whatever Node is on the machine, before `npm ci`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

const [name, range, dir] = process.argv.slice(2);
if (!name || !range || !dir) {
  console.error('usage: node ci/npm-tarball.mjs <package> <version or range> <download dir>');
  process.exit(2);
}

const npm = (...args) => execFileSync('npm', [...args, '--loglevel=error'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

/** Numeric x.y.z order; pre-releases (never matched by a plain range) sort before their release. */
function compareVersions(a, b) {
  const parse = (v) => v.split(/[.+-]/).slice(0, 3).map(Number);
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return a.includes('-') === b.includes('-') ? 0 : a.includes('-') ? -1 : 1;
}

const matching = JSON.parse(npm('view', `${name}@${range}`, 'version', '--json') || 'null');
const versions = (Array.isArray(matching) ? matching : [matching]).filter((v) => typeof v === 'string');
if (versions.length === 0) {
  console.error(`npm-tarball: no version of ${name} satisfies ${range}`);
  process.exit(1);
}
const version = versions.sort(compareVersions).at(-1);
const dist = JSON.parse(npm('view', `${name}@${version}`, 'dist', '--json'));
const expected = dist.integrity;
if (typeof expected !== 'string' || !expected.startsWith('sha512-')) {
  console.error(`npm-tarball: the registry gives no sha512 integrity for ${name}@${version}`);
  process.exit(1);
}

const integrityOf = (file) => `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;

mkdirSync(dir, { recursive: true });
const file = path.resolve(dir, `${name.replace('/', '-').replace(/^@/, '')}-${version}.tgz`);
if (existsSync(file) && integrityOf(file) !== expected) {
  console.error(`npm-tarball: ${file} does not match the registry's integrity; downloading it again`);
  rmSync(file);
}
if (!existsSync(file)) {
  const tmp = path.resolve(dir, `.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  // npm pack fetches with npm's settings (registry, proxy, cafile) and checks the integrity too.
  const [packed] = JSON.parse(npm('pack', `${name}@${version}`, '--pack-destination', tmp, '--json', '--silent'));
  const got = integrityOf(path.join(tmp, packed.filename));
  if (got !== expected) {
    rmSync(tmp, { recursive: true, force: true });
    console.error(`npm-tarball: ${name}@${version}: integrity ${got} is not the registry's ${expected}`);
    process.exit(1);
  }
  renameSync(path.join(tmp, packed.filename), file);
  rmSync(tmp, { recursive: true, force: true });
}
console.log(JSON.stringify({ name, version, integrity: expected, file }));
