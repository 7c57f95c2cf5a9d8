/**
 * .gitlab-ci.yml checked offline, with gitlab-ci-local (the same JSON schema as GitLab's pipeline
 * editor, plus its own evaluation of rules, needs, extends and !reference): which jobs run for a
 * push to main, a feature branch and a schedule; that production waits for a person; and that
 * every script, Dockerfile, npm script and file a job names exists, so a rename breaks a test here
 * instead of a pipeline on GitLab.
 *
 * gitlab-ci-local reads the git repository (branch, remote, `git diff` for rules:changes), so each
 * test works on a scratch repository holding a copy of the pipeline: the checkout itself is never
 * touched (no .gitlab-ci-local/ state dir in it) and branches can be switched freely.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../cluster/paths.js';
import { type Job, jobReferences, jobsOf, ruleAndCacheFiles } from './pipeline-files.js';

const GCL = path.join(REPO_ROOT, 'node_modules', '.bin', 'gitlab-ci-local');
const PIPELINE = '.gitlab-ci.yml';
// Files the pipeline's rules:changes look at must be in the scratch repository for `git diff`.
const COPIED = [PIPELINE, 'ci/Dockerfile.ci'];

interface ListedJob {
  name: string;
  stage: string;
  when: string;
  allow_failure: boolean;
  needs?: { job: string }[];
}

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A repository on main whose origin/main is its HEAD: what a runner's checkout of a push to main looks like. */
function scratchRepo(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'visionops-gcl-'));
  for (const f of COPIED) cpSync(path.join(REPO_ROOT, f), path.join(dir, f), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'pipeline');
  git(dir, 'remote', 'add', 'origin', 'https://gitlab.example.com/visionops/visionops.git');
  git(dir, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  git(dir, 'symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main');
  return dir;
}

function gcl(cwd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(GCL, args, { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Setting CI_PIPELINE_SOURCE is what these tests are about: silence the warning that says "careful". */
const SCHEDULE = ['--variable', 'CI_PIPELINE_SOURCE=schedule', '--ignore-predefined-vars', 'CI_PIPELINE_SOURCE'];

function listJobs(cwd: string, ...extra: string[]): ListedJob[] {
  const r = gcl(cwd, ['--list-json', ...extra]);
  expect(r.status, r.stderr + r.stdout).to.equal(0);
  // --list-json includes when:never jobs; those do not run.
  return (JSON.parse(r.stdout) as ListedJob[]).filter((j) => j.when !== 'never');
}

const names = (jobs: ListedJob[]) => jobs.map((j) => j.name).sort();

describe('GitLab pipeline (.gitlab-ci.yml, checked with gitlab-ci-local)', function () {
  this.timeout(60_000);
  let repo: string;
  let pipeline: Record<string, unknown>;

  before(function () {
    expect(existsSync(GCL), 'npm ci installs gitlab-ci-local').to.equal(true);
    repo = scratchRepo();
    // --preview prints the pipeline with extends, !reference and defaults expanded: what GitLab runs.
    const r = gcl(repo, ['--preview']);
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    pipeline = parse(r.stdout) as Record<string, unknown>;
  });

  after(() => {
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  it('passes GitLab\'s JSON schema, and a misspelt keyword does not', function () {
    const ok = gcl(repo, ['--list']);
    expect(ok.status, ok.stderr + ok.stdout).to.equal(0);
    expect(ok.stdout + ok.stderr).to.match(/json schema validated/);

    const broken = mkdtempSync(path.join(tmpdir(), 'visionops-gcl-broken-'));
    try {
      cpSync(repo, broken, { recursive: true });
      const original = readFileSync(path.join(broken, PIPELINE), 'utf8');
      const text = original.replace(/^ {2}timeout: 60m$/m, '  timout: 60m');
      expect(text).to.not.equal(original);
      writeFileSync(path.join(broken, PIPELINE), text);
      const bad = gcl(broken, ['--list']);
      expect(bad.status).to.not.equal(0);
      expect(bad.stdout + bad.stderr).to.match(/'timout' property is not expected to be here at integration/);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  it('has the stages test, quality, build, deploy, monitor in that order', () => {
    expect((pipeline.stages as string[]).filter((s) => !s.startsWith('.'))).to.deep.equal(['test', 'quality', 'build', 'deploy', 'monitor']);
  });

  it('a push to main tests, analyses, builds both images, deploys to staging and smoke-tests it; production waits for a person', () => {
    const jobs = listJobs(repo);
    expect(names(jobs)).to.deep.equal(
      ['deploy-production', 'deploy-staging', 'images: [operator]', 'images: [server]', 'integration', 'lint', 'smoke-production', 'smoke-staging', 'sonarqube', 'unit'].sort(),
    );
    const byName = Object.fromEntries(jobs.map((j) => [j.name, j]));
    expect(byName.lint!.stage).to.equal('test');
    expect(byName.unit!.stage).to.equal('test');
    expect(byName.integration!.stage).to.equal('test');
    expect(byName.sonarqube!.stage).to.equal('quality');
    expect(byName['images: [server]']!.stage).to.equal('build');
    expect(byName['deploy-staging']).to.deep.include({ stage: 'deploy', when: 'on_success' });
    // Manual and blocking: the pipeline shows "blocked" until someone decides, not "passed".
    expect(byName['deploy-production']).to.deep.include({ stage: 'deploy', when: 'manual', allow_failure: false });
    expect(byName['deploy-production']!.needs?.map((n) => n.job)).to.deep.equal(['deploy-staging']);
    expect(byName['smoke-staging']!.stage).to.equal('monitor');
    expect(byName['smoke-production']!.needs?.map((n) => n.job)).to.deep.equal(['deploy-production']);
    // Environments (and so their scoped KUBECONFIG, SMOKE_URL) as the expanded pipeline has them.
    const env = (job: string) => (jobsOf(pipeline)[job]!.environment as { name: string; action?: string });
    expect(env('deploy-staging')).to.deep.include({ name: 'staging' });
    expect(env('deploy-production')).to.deep.include({ name: 'production' });
    expect(env('smoke-staging')).to.deep.equal({ name: 'staging', action: 'verify' });
    expect(env('smoke-production')).to.deep.equal({ name: 'production', action: 'verify' });
  });

  it('every need and dependency of the jobs that run is itself a job that runs', () => {
    // Branches and schedules have no manual job: the whole chain must check out.
    git(repo, 'checkout', '-q', '-b', 'feature/needs');
    try {
      const branch = gcl(repo, ['--validate-dependency-chain']);
      expect(branch.status, branch.stderr + branch.stdout).to.equal(0);
    } finally {
      git(repo, 'checkout', '-q', 'main');
    }
    const scheduled = gcl(repo, ['--validate-dependency-chain', ...SCHEDULE]);
    expect(scheduled.status, scheduled.stderr + scheduled.stdout).to.equal(0);
    // On main the only complaint is the manual gate itself: gitlab-ci-local 4.73 validates with an
    // empty --manual list, so it cannot be told deploy-production will be started. GitLab lets
    // smoke-production wait for it, which is the point of the gate.
    const main = gcl(repo, ['--validate-dependency-chain']);
    expect(main.stdout + main.stderr).to.match(/deploy-production is when:manual, its needed by smoke-production/);
  });

  it('a feature branch is tested, analysed and built, but deploys nothing', () => {
    git(repo, 'checkout', '-q', '-b', 'feature/x');
    try {
      expect(names(listJobs(repo))).to.deep.equal(['images: [operator]', 'images: [server]', 'integration', 'lint', 'sonarqube', 'unit']);
    } finally {
      git(repo, 'checkout', '-q', 'main');
    }
  });

  it('a scheduled pipeline only smoke-tests what runs in staging and production', () => {
    expect(names(listJobs(repo, ...SCHEDULE))).to.deep.equal(['smoke-production', 'smoke-staging']);
  });

  it('the CI image is rebuilt exactly when ci/Dockerfile.ci changes', () => {
    expect(names(listJobs(repo))).to.not.include('ci-image');
    const file = path.join(repo, 'ci/Dockerfile.ci');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, `${original}# changed\n`);
    try {
      expect(names(listJobs(repo))).to.include('ci-image');
    } finally {
      writeFileSync(file, original);
    }
  });

  it('tags the CI image with the sha256 of ci/Dockerfile.ci, so a changed Dockerfile gets a new image', () => {
    const hash = createHash('sha256').update(readFileSync(path.join(REPO_ROOT, 'ci/Dockerfile.ci'))).digest('hex').slice(0, 12);
    const ciImage = (pipeline.variables as Record<string, string>).CI_IMAGE;
    expect(ciImage, `set CI_IMAGE in .gitlab-ci.yml to \${CI_REGISTRY_IMAGE}/ci:${hash}`).to.equal(`\${CI_REGISTRY_IMAGE}/ci:${hash}`);
    for (const job of ['lint', 'unit', 'integration']) expect((jobsOf(pipeline)[job]!.image as { name: string }).name).to.equal('${CI_IMAGE}');
  });

  it('every script, Dockerfile, npm script and file a job names exists (and scripts are executable)', () => {
    const jobs = jobsOf(pipeline);
    const scripts = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const refs = Object.entries(jobs).flatMap(([name, job]) => [...jobReferences(name, job), ...ruleAndCacheFiles(name, job)]);
    // The jobs that run something of ours must show up, or the extraction itself is broken.
    expect(refs.map((r) => r.value)).to.include.members(['ci/build-image.sh', 'Dockerfile.operator', 'Dockerfile.server', 'ci/deploy.sh', 'ci/smoke.ts', 'test:ci:unit', 'lint', 'package-lock.json']);
    const missing: string[] = [];
    for (const ref of refs) {
      const where = `${ref.job}: ${ref.value}`;
      if (ref.kind === 'npm-script') {
        if (!(ref.value in scripts)) missing.push(`${where} (no npm script)`);
        continue;
      }
      const file = path.join(REPO_ROOT, ref.value);
      if (!existsSync(file)) missing.push(`${where} (no such file)`);
      else if (ref.kind === 'executable') {
        try {
          accessSync(file, constants.X_OK);
        } catch {
          missing.push(`${where} (not executable: chmod +x, and commit the mode)`);
        }
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('the reference check finds what is missing (checked on a job that names things that are not there)', () => {
    const job: Job = {
      parallel: { matrix: [{ COMPONENT: ['operator', 'gone'] }] },
      script: ['ci/no-such-script.sh --file "Dockerfile.${COMPONENT}"', 'npm run test:ci:unit', 'node ci/smoke.ts'],
    };
    const refs = jobReferences('fake', job);
    expect(refs).to.deep.include({ job: 'fake', kind: 'executable', value: 'ci/no-such-script.sh' });
    expect(refs).to.deep.include({ job: 'fake', kind: 'path', value: 'Dockerfile.gone' });
    expect(refs).to.deep.include({ job: 'fake', kind: 'path', value: 'Dockerfile.operator' });
    expect(refs).to.deep.include({ job: 'fake', kind: 'npm-script', value: 'test:ci:unit' });
    expect(refs).to.deep.include({ job: 'fake', kind: 'path', value: 'ci/smoke.ts' });
    expect(existsSync(path.join(REPO_ROOT, 'Dockerfile.gone'))).to.equal(false);
  });

  it('the test jobs publish the JUnit and coverage files their npm scripts write', () => {
    const jobs = jobsOf(pipeline);
    const scripts = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const c8rc = JSON.parse(readFileSync(path.join(REPO_ROOT, '.c8rc.json'), 'utf8')) as { reporter: string[] };
    expect(c8rc.reporter).to.include.members(['cobertura', 'lcov']);
    for (const [job, script] of [['unit', 'test:ci:unit'], ['integration', 'test:ci:integration']] as const) {
      const cmd = scripts[script]!;
      const junit = /--reporter-option output=(\S+)/.exec(cmd)?.[1];
      const reportDir = /--report-dir (\S+)/.exec(cmd)?.[1];
      expect(cmd).to.include('--reporter ./ci/mocha-reporter.js');
      const artifacts = jobs[job]!.artifacts as { when: string; reports: { junit: string; coverage_report: { coverage_format: string; path: string } }; paths: string[] };
      expect(artifacts.when, 'reports of failing runs matter most').to.equal('always');
      expect(artifacts.reports.junit).to.equal(junit);
      expect(artifacts.reports.coverage_report).to.deep.equal({ coverage_format: 'cobertura', path: `${reportDir}/cobertura-coverage.xml` });
      expect(artifacts.paths).to.include(`${reportDir}/lcov.info`);
      expect(jobs[job]!.coverage, 'matches c8\'s text-summary "Lines : 89.2% ( ... )"').to.be.a('string');
      expect('Lines        : 89.22% ( 5534/6202 )').to.match(new RegExp((jobs[job]!.coverage as string).slice(1, -1)));
    }
  });

  it('SonarQube reads the LCOV files the test jobs hand over, waits for the quality gate, and holds no secrets', () => {
    const props = Object.fromEntries(
      readFileSync(path.join(REPO_ROOT, 'sonar-project.properties'), 'utf8')
        .split('\n')
        .filter((l) => l.trim() && !l.trim().startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]),
    ) as Record<string, string>;
    const jobs = jobsOf(pipeline);
    const lcovs = ['unit', 'integration'].flatMap((j) => (jobs[j]!.artifacts as { paths: string[] }).paths.filter((p) => p.endsWith('lcov.info')));
    expect(props['sonar.javascript.lcov.reportPaths']!.split(',')).to.have.members(lcovs);
    expect((jobs.sonarqube!.needs as { job: string }[]).map((n) => n.job)).to.have.members(['unit', 'integration']);
    expect(props['sonar.qualitygate.wait']).to.equal('true');
    for (const dir of [...props['sonar.sources']!.split(','), ...props['sonar.tests']!.split(',')]) expect(existsSync(path.join(REPO_ROOT, dir)), dir).to.equal(true);
    expect(Object.keys(props).filter((k) => /token|login|password|host\.url/i.test(k))).to.deep.equal([]);
  });
});
