import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { CRD_FILE, buildModelServiceCrd, renderModelServiceCrdYaml } from '../../crds/crd.js';

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  description?: string;
  required?: string[];
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
};

const crd = buildModelServiceCrd();
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema as Schema;

/** Every schema node with its dotted path, as kubectl explain would name it. */
function walk(s: Schema, path: string, visit: (s: Schema, path: string) => void): void {
  visit(s, path);
  for (const [k, child] of Object.entries(s.properties ?? {})) walk(child, `${path}.${k}`, visit);
  if (s.items) walk(s.items, `${path}[]`, visit);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}{}`, visit);
}

function at(path: string): Schema | undefined {
  let s: Schema | undefined = root;
  for (const part of path.split('.').filter(Boolean)) s = s?.properties?.[part];
  return s;
}

describe('ModelService CRD', () => {
  it('committed YAML matches the schema (run `npm run generate:crd` after editing crds/modelservice.ts)', () => {
    expect(readFileSync(new URL(`../../${CRD_FILE}`, import.meta.url), 'utf8')).to.equal(renderModelServiceCrdYaml());
  });

  it('is namespaced visionops.io/v1alpha1 ModelService, short name msvc', () => {
    const parsed = parse(renderModelServiceCrdYaml());
    expect(parsed.metadata.name).to.equal('modelservices.visionops.io');
    expect(parsed.spec.scope).to.equal('Namespaced');
    expect(parsed.spec.names).to.include({ kind: 'ModelService', plural: 'modelservices' });
    expect(parsed.spec.names.shortNames).to.deep.equal(['msvc']);
    expect(parsed.spec.versions.map((v: { name: string }) => v.name)).to.deep.equal(['v1alpha1']);
  });

  it('describes every field for kubectl explain', () => {
    const missing: string[] = [];
    walk(root, '', (s, path) => {
      // The apiserver forbids anything under metadata, a description included.
      if (path === '.metadata') return;
      if (path.endsWith('[]') || path.endsWith('{}')) return;
      if (!s.description?.trim()) missing.push(path || '(root)');
    });
    expect(missing).to.deep.equal([]);
  });

  it('is structural: every node typed, no keywords the apiserver rejects', () => {
    const problems: string[] = [];
    walk(root, '', (s, path) => {
      const typed = typeof s.type === 'string' || s['x-kubernetes-int-or-string'] === true;
      if (!typed) problems.push(`${path}: no type`);
      for (const k of ['patternProperties', 'const', '$ref', 'oneOf', 'allOf']) if (k in s) problems.push(`${path}: ${k}`);
      if (s.additionalProperties === false) problems.push(`${path}: additionalProperties false`);
      if (s.properties && s.additionalProperties) problems.push(`${path}: properties with additionalProperties`);
    });
    expect(problems).to.deep.equal([]);
  });

  it('bounds every string, list and map a CEL rule reads, so the rule cost is accepted', () => {
    const unbounded: string[] = [];
    walk(root, '', (s, path) => {
      for (const v of s['x-kubernetes-validations'] ?? []) {
        // self.a.b references, resolved against this node's schema. has(self.x) costs the same whatever x holds.
        const read = v.rule.replace(/has\(self[.\w]*\)/g, '');
        const refs = new Set([...read.matchAll(/self((?:\.[A-Za-z]\w*)*)/g)].map((m) => m[1]!));
        for (const ref of refs) {
          // Longest prefix that is a field: in self.uri.startsWith(...) the field is self.uri.
          let node: Schema = s;
          for (const part of ref.split('.').filter(Boolean)) {
            const next = node.properties?.[part];
            if (!next) break;
            node = next;
          }
          const ok =
            node.type === 'string' ? node.maxLength !== undefined || node.enum !== undefined
            : node.type === 'array' ? node.maxItems !== undefined && (node.items?.type !== 'string' || node.items.maxLength !== undefined)
            : node.type === 'object' && node.additionalProperties ? node.maxProperties !== undefined
            : true;
          if (!ok) unbounded.push(`${path}: self${ref} in ${v.rule}`);
        }
      }
    });
    expect(unbounded).to.deep.equal([]);
  });

  it('has the rules across fields that the apiserver must enforce', () => {
    const rules = (path: string) => (at(path)?.['x-kubernetes-validations'] ?? []).map((v) => v.rule);
    expect(rules('spec').join('\n')).to.match(/has\(self\.replicas\) && has\(self\.autoscaling\)/);
    expect(rules('spec.autoscaling').join('\n')).to.include('self.minReplicas <= self.maxReplicas');
    expect(rules('spec.model').join('\n')).to.include("!has(self.sha256) || self.uri.startsWith('http://')");
    expect(rules('spec.ingress').join('\n')).to.include('has(self.host)');
  });

  it('scale subresource and printer columns point at fields the schema has', () => {
    const scale = version.subresources.scale;
    expect(at(scale.specReplicasPath)?.type).to.equal('integer');
    expect(at(scale.statusReplicasPath)?.type).to.equal('integer');
    expect(at(scale.labelSelectorPath)?.type).to.equal('string');
    expect(version.subresources.status).to.deep.equal({});
    const columns = version.additionalPrinterColumns.filter((c) => !('priority' in c)).map((c) => c.name);
    expect(columns).to.deep.equal(['Ready', 'Replicas', 'Model', 'Version', 'URL', 'Age']);
    for (const c of version.additionalPrinterColumns) {
      const plain = c.jsonPath.replace(/\[\?.*$/, '');
      if (plain.startsWith('.metadata')) continue;
      expect(at(plain), c.jsonPath).to.not.equal(undefined);
    }
  });

  it('lists conditions as a map keyed by type, like metav1.Condition', () => {
    const conditions = at('status.conditions')!;
    expect(conditions['x-kubernetes-list-type']).to.equal('map');
    expect(conditions['x-kubernetes-list-map-keys']).to.deep.equal(['type']);
    expect(conditions.items!.required).to.have.members(['type', 'status', 'lastTransitionTime', 'reason', 'message']);
  });
});
