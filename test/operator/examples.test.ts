import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { V1Deployment } from '@kubernetes/client-node';
import { expect } from 'chai';
import { Value } from 'typebox/value';
import { parse } from 'yaml';
import { type ModelService, modelServiceSchema } from '../../crds/modelservice.js';
import { desiredState } from '../../operator/desired-state.js';
import { contentTypeFor, formatPlates, readImage, type ReadResponse } from '../../examples/client.js';
import { config } from './fixtures.js';

function example(file: string): ModelService {
  // As applied: the apiserver adds the namespace and uid that a manifest leaves out.
  const ms = parse(readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8')) as Omit<ModelService, 'metadata'> & { metadata: { name: string } };
  return { ...ms, metadata: { namespace: 'default', uid: 'u', ...ms.metadata } };
}

describe('examples', () => {
  for (const file of ['plate-reader.yaml', 'full.yaml', 'id-document.yaml']) {
    it(`${file} passes the CRD schema and builds its children`, () => {
      const ms = example(file);
      expect([...Value.Errors(modelServiceSchema, ms)].map((e) => `${e.instancePath} ${e.message}`)).to.deep.equal([]);
      expect(() => desiredState(ms, config)).to.not.throw();
    });
  }

  it('id-document.yaml runs the documents pipeline with the bundled readers and no archive', () => {
    const cm = desiredState(example('id-document.yaml'), config).apply.find((c) => c.kind === 'ConfigMap') as { data: Record<string, string> };
    const server = parse(cm.data['config.yaml']!) as { model: { path: string }; documents?: { mrzReader: string; fieldReader?: string; archive: boolean }; ocr: { enabled: boolean }; archive?: unknown };
    expect(server.model.path).to.equal('/app/models/document-detector.onnx');
    expect(server.documents).to.deep.include({ mrzReader: '/app/models/mrz-reader.onnx', archive: false });
    expect(server.documents).to.not.have.property('fieldReader');
    expect(server.ocr.enabled).to.equal(false);
    expect(server.archive).to.equal(undefined);
  });

  it('mlflow.yaml passes the CRD schema and, once resolved, builds pods that fetch the pinned version', () => {
    const ms = example('mlflow.yaml');
    expect([...Value.Errors(modelServiceSchema, ms)].map((e) => `${e.instancePath} ${e.message}`)).to.deep.equal([]);
    const pin = { requestedUri: ms.spec.model.uri, name: 'plate-detector', version: '7', alias: 'champion', runId: 'r', source: 'mlflow-artifacts:/1/r/artifacts/model', sha256: 'a'.repeat(64), trackingUri: ms.spec.model.mlflow!.trackingUri! };
    const deployment = desiredState(ms, config, pin).apply.find((c) => c.kind === 'Deployment') as V1Deployment;
    expect(deployment.spec!.template.spec!.initContainers![0]!.args).to.include('models:/plate-detector/7');
  });

  it('full.yaml really uses ingress, archive and autoscaling', () => {
    const kinds = desiredState(example('full.yaml'), config).apply.map((c) => c.kind);
    expect(kinds).to.include.members(['Ingress', 'PersistentVolumeClaim', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']);
  });

  describe('client.ts', () => {
    let server: Server;
    let seen: { method?: string; url?: string; type?: string; bytes: number } = { bytes: 0 };
    let reply: { status: number; body: string } = { status: 200, body: '{}' };
    let base = '';

    before(async () => {
      server = createServer((req: IncomingMessage, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen = { method: req.method, url: req.url, type: req.headers['content-type'], bytes: Buffer.concat(chunks).length };
          res.writeHead(reply.status, { 'Content-Type': 'application/json' }).end(reply.body);
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    const response: ReadResponse = {
      width: 1280,
      height: 720,
      model: { name: 'plate-reader', version: '3f1a9c2e7b5d' },
      detections: [
        { class: 'car', score: 0.97, box: { x1: 0, y1: 0, x2: 600, y2: 400 } },
        { class: 'plate', score: 0.62, box: { x1: 10, y1: 20, x2: 110, y2: 50 } },
        { class: 'plate', score: 0.91, box: { x1: 300.4, y1: 310.6, x2: 420, y2: 345 }, text: 'KA01AB1234', textConfidence: 0.88 },
      ],
      timings: { totalMs: 41 },
    };

    it('POSTs the raw image to /v1/read with its content type and prints the plates, best first', async () => {
      reply = { status: 200, body: JSON.stringify(response) };
      const got = await readImage(base, new Uint8Array(1234), contentTypeFor('car.JPG'));
      expect(seen).to.deep.equal({ method: 'POST', url: '/v1/read', type: 'image/jpeg', bytes: 1234 });
      expect(formatPlates(got)).to.deep.equal([
        'plate-reader@3f1a9c2e7b5d: 2 plates in 1280x720',
        '  KA01AB1234 score 0.91 ocr 0.88  box 300,311 420,345',
        '  (unread)   score 0.62  box 10,20 110,50',
      ]);
    });

    it('shows the server\'s error message, not just a status code', async () => {
      reply = { status: 415, body: JSON.stringify({ error: { code: 'unsupported_media_type', message: 'send image/jpeg, image/png or image/webp' } }) };
      let err: Error | undefined;
      await readImage(base, new Uint8Array(1), 'image/png').catch((e: Error) => (err = e));
      expect(err?.message).to.equal('POST /v1/read answered 415: unsupported_media_type: send image/jpeg, image/png or image/webp');
    });

    it('refuses files the server cannot read before sending them', () => {
      expect(contentTypeFor('a.webp')).to.equal('image/webp');
      expect(() => contentTypeFor('scan.tiff')).to.throw(/JPEG, PNG and WebP/);
    });
  });
});
