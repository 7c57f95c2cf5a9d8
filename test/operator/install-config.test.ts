import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { buildModelServiceCrd } from '../../crds/crd.js';
import { DEFAULT_SERVER_IMAGE } from '../../operator/config.js';
import { CHILD_KINDS, desiredState } from '../../operator/desired-state.js';
import { binPath } from '../cluster/build.js';
import { config, fullModelService, modelService } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function docs(path: string): Doc[] {
  return parseAllDocuments(readFileSync(join(ROOT, path), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${path}: ${d.errors[0]!.message}`);
    return d.toJS() as Doc;
  });
}

function yamlFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(dir, f));
}

/** The apiserver's own guess from kind to resource (meta.UnsafeGuessKindToResource). */
function resourceOf(kind: string): string {
  const k = kind.toLowerCase();
  if (k.endsWith('s')) return `${k}es`;
  if (k.endsWith('y')) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
}

/** Every (group, resource) the operator writes, found by running the builders on ModelServices that use every feature. */
function childResources(): Set<string> {
  const out = new Set<string>();
  for (const ms of [fullModelService(), modelService(), modelService({ model: { uri: 'pvc://models/m.onnx' } })]) {
    const { apply, delete: del } = desiredState(ms, config);
    for (const c of [...apply, ...del]) out.add(`${groupOf(c.apiVersion)}/${resourceOf(c.kind)}`);
  }
  return out;
}

const role = docs('config/rbac/role.yaml')[0]!;
/** The test control plane's kubectl once it is built, else one on PATH; without either the kustomize checks are skipped. */
const KUBECTL = existsSync(binPath('kubectl')) ? binPath('kubectl') : 'kubectl';
const rules = role.rules as Rule[];

describe('install config (config/)', () => {
  it('every YAML file in config/ and examples/ parses', () => {
    const files = [...yamlFiles('config'), ...yamlFiles('examples')];
    expect(files.length).to.be.greaterThan(10);
    for (const f of files) expect(() => docs(f), f).to.not.throw();
  });

  function verbsFor(group: string, resource: string): string[] {
    return rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
  }

  it('the manager role grants exactly what the controller does with each kind the builders produce', () => {
    const children = childResources();
    expect(children.size).to.be.at.least(7);
    for (const gr of children) {
      const [group, resource] = gr.split('/') as [string, string];
      const kind = CHILD_KINDS.find((k) => groupOf(k.apiVersion) === group && k.plural === resource);
      expect(kind, gr).to.not.equal(undefined);
      // Informers list and watch; server-side apply is a PATCH that creates; only optional sections are deleted.
      // A ModelService's CA bundle for its MLflow server is a ConfigMap the operator reads (get).
      const expected = ['create', 'list', 'patch', 'watch', ...(kind?.deletedWhenAbsent ? ['delete'] : []), ...(gr === '/configmaps' ? ['get'] : [])].sort();
      expect(verbsFor(group, resource), gr).to.deep.equal(expected);
    }
  });

  it('the manager role grants nothing beyond that: no wildcards, pods read-only, secrets only get', () => {
    const granted = new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`))));
    const expected = new Set([
      ...childResources(),
      'visionops.io/modelservices',
      'visionops.io/modelservices/status',
      'visionops.io/modelservices/finalizers',
      '/pods',
      '/events',
      // The credentials Secret a models:/ ModelService names (spec.model.mlflow.credentialsSecret).
      '/secrets',
    ]);
    expect(granted).to.deep.equal(expected);
    for (const r of rules) expect([...r.apiGroups, ...r.resources, ...r.verbs]).to.not.include('*');
    const podVerbs = rules.filter((r) => r.resources.includes('pods')).flatMap((r) => r.verbs);
    expect(podVerbs).to.have.members(['list', 'watch']);
    // One named Secret at a time: never list or watch every Secret of the cluster.
    expect(verbsFor('', 'secrets')).to.deep.equal(['get']);
    // The operator never writes a spec: only the status, by server-side apply.
    expect(verbsFor('visionops.io', 'modelservices')).to.deep.equal(['list', 'watch']);
    expect(verbsFor('visionops.io', 'modelservices/status')).to.deep.equal(['patch']);
  });

  it('leader election may only read, create and renew Leases, in its own namespace', () => {
    const le = docs('config/rbac/leader_election_role.yaml')[0]!;
    expect(le.kind).to.equal('Role');
    expect(le.rules).to.deep.equal([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
  });

  it('the manager runs non-root and read-only, with probes on 8081 and metrics on 8080', () => {
    const deploy = docs('config/manager/manager.yaml').find((d) => d.kind === 'Deployment')!;
    const pod = deploy.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext).to.deep.include({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).to.deep.equal({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.ports).to.deep.include.members([
      { name: 'metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'health' });
    expect(c.env.find((e: { name: string }) => e.name === 'VISIONOPS_SERVER_IMAGE').value).to.equal(DEFAULT_SERVER_IMAGE);
    expect(pod.serviceAccountName).to.equal(docs('config/rbac/service_account.yaml')[0]!.metadata.name);
  });

  describe('kubectl kustomize config/default', function () {
    let rendered: Doc[] = [];
    before(function () {
      if (spawnSync(KUBECTL, ['version', '--client'], { stdio: 'ignore' }).status !== 0) this.skip();
      const out = execFileSync(KUBECTL, ['kustomize', join(ROOT, 'config/default')], { encoding: 'utf8' });
      rendered = parseAllDocuments(out).map((d) => d.toJS() as Doc);
    });

    it('installs into visionops-system with visionops- names, bindings pointing at the renamed ServiceAccount', () => {
      const byKind = (k: string) => rendered.filter((d) => d.kind === k);
      expect(byKind('Namespace').map((d) => d.metadata.name)).to.deep.equal(['visionops-system']);
      const sa = byKind('ServiceAccount')[0]!;
      expect(sa.metadata).to.include({ name: 'visionops-controller-manager', namespace: 'visionops-system' });
      for (const b of [...byKind('RoleBinding'), ...byKind('ClusterRoleBinding')]) {
        expect(b.subjects, b.metadata.name).to.deep.equal([{ kind: 'ServiceAccount', name: 'visionops-controller-manager', namespace: 'visionops-system' }]);
        expect(rendered.some((d) => d.kind === b.roleRef.kind && d.metadata.name === b.roleRef.name), b.roleRef.name).to.equal(true);
      }
      const deploy = byKind('Deployment')[0]!;
      expect(deploy.metadata.namespace).to.equal('visionops-system');
      expect(deploy.spec.template.spec.serviceAccountName).to.equal('visionops-controller-manager');
      expect(deploy.spec.template.spec.containers[0].image).to.equal('ghcr.io/visionops/visionops-operator:0.1.0');
    });

    it('carries the generated CRD unchanged', () => {
      const crd = rendered.find((d) => d.kind === 'CustomResourceDefinition')!;
      const expected = buildModelServiceCrd() as Doc;
      expect(crd.spec).to.deep.equal(expected.spec);
      expect(crd.metadata.name).to.equal('modelservices.visionops.io');
    });

    it('config/namespaced: the same grants as Roles in the operator\'s namespace, no ClusterRole, watching that namespace', () => {
      const out = execFileSync(KUBECTL, ['kustomize', join(ROOT, 'config/namespaced')], { encoding: 'utf8' });
      const all = parseAllDocuments(out).map((d) => d.toJS() as Doc);
      expect(all.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding')).to.deep.equal([]);
      // Cluster-scoped: only the CRD (CRDs always are) and the namespace itself.
      const clusterScoped = all.filter((d) => !d.metadata.namespace).map((d) => d.kind).sort();
      expect(clusterScoped).to.deep.equal(['CustomResourceDefinition', 'Namespace']);
      expect(new Set(all.filter((d) => d.metadata.namespace).map((d) => d.metadata.namespace))).to.deep.equal(new Set(['visionops-system']));
      const manager = all.find((d) => d.kind === 'Role' && d.metadata.name === 'visionops-manager-role')!;
      expect(manager.rules).to.deep.equal(rules);
      const binding = all.find((d) => d.kind === 'RoleBinding' && d.roleRef.name === 'visionops-manager-role')!;
      expect(binding.roleRef.kind).to.equal('Role');
      expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'visionops-controller-manager', namespace: 'visionops-system' }]);
      const env = all.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].env as { name: string; valueFrom?: unknown }[];
      expect(env.find((e) => e.name === 'VISIONOPS_WATCH_NAMESPACE')).to.deep.equal({ name: 'VISIONOPS_WATCH_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
    });

    it('config/samples renders the example ModelServices', () => {
      const out = execFileSync(KUBECTL, ['kustomize', join(ROOT, 'config/samples')], { encoding: 'utf8' });
      const names = parseAllDocuments(out).map((d) => (d.toJS() as Doc).metadata.name);
      expect(names).to.have.members(['plate-reader', 'plate-reader-prod', 'id-documents']);
    });
  });
});
