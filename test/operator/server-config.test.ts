import { expect } from 'chai';
import { parse } from 'yaml';
import type { ModelServiceSpec } from '../../crds/modelservice.js';
import { serverConfigSchema } from '../../contract/server-config.js';
import { PLATE_COUNTRIES } from '../../contract/plate-layouts.js';
import { BUNDLED_FIELD_READER, BUNDLED_MRZ_READER, BUNDLED_PLATE_READER, buildConfigMap, buildServerConfig, configHash, usesPlateReader } from '../../operator/builders/server-config.js';
import { InvalidSpecError } from '../../operator/builders/model-source.js';
import { desiredState } from '../../operator/desired-state.js';
import { SHA, config, fullModelService, modelService } from './fixtures.js';

describe('server ConfigMap builder', () => {
  it('writes a config.yaml the inference server accepts, with its defaults filled in', () => {
    const cm = buildConfigMap(modelService(), config);
    expect(Object.keys(cm.data)).to.deep.equal(['config.yaml']);
    const parsed = serverConfigSchema.parse(parse(cm.data['config.yaml']!));
    expect(parsed.model).to.deep.include({ path: '/models/model.onnx', name: 'plates', version: SHA.slice(0, 12), format: 'auto' });
    expect(parsed.model.thresholds).to.deep.equal({ confidence: 0.25, iou: 0.45, maxDetections: 300 });
    expect(parsed.server.port).to.equal(8080);
    expect(parsed.server.healthPort).to.equal(8081);
    expect(parsed.server.bodyLimit).to.equal(config.serverBodyLimitBytes);
    expect(parsed.ocr.enabled).to.equal(false);
    expect(parsed.archive).to.equal(undefined);
  });

  it('carries classes, input size, thresholds, OCR and archive settings from the spec', () => {
    const c = serverConfigSchema.parse(buildServerConfig(fullModelService(), config));
    expect(c.model).to.deep.include({ format: 'yolov8', classes: ['car', 'plate'], inputSize: 640 });
    expect(c.model.thresholds.confidence).to.equal(0.4);
    expect(c.model.thresholds.iou).to.equal(0.45);
    expect(c.ocr.enabled).to.equal(true);
    expect(c.ocr.language).to.equal('eng');
    expect(Object.keys(c.ocr.classes)).to.deep.equal(['plate']);
    expect(c.ocr.classes.plate).to.deep.include({ mode: 'line', charset: 'A-Z0-9', normalize: { strip: ' -', uppercase: true } });
    expect(c.archive).to.deep.include({ dir: '/archive', retentionDays: 14 });
  });

  it('carries spec.model.tiles, and leaves the server default (no tiles) when the spec has none', () => {
    const tiled = serverConfigSchema.parse(buildServerConfig(modelService({ model: { uri: 'bundled://plate-detector', tiles: { grid: 2 } } }), config));
    expect(tiled.model.tiles).to.deep.equal({ grid: 2, overlap: 0.25 });
    expect(serverConfigSchema.parse(buildServerConfig(modelService(), config)).model.tiles).to.deep.equal({ grid: 1, overlap: 0.25 });
    // what the API server's defaulting gives writes the same file as no tiles at all
    const off = modelService({ model: { uri: 'bundled://plate-detector', tiles: { grid: 1, overlap: 0.25 } } });
    expect(buildServerConfig(off, config).model).to.not.have.property('tiles');
  });

  it('keeps the archive below 90% of the volume, so a full archive does not fill the disk', () => {
    const c = buildServerConfig(modelService({ archive: { enabled: true, size: '10Gi' } }), config);
    expect(c.archive?.maxBytes).to.equal(Math.floor(10 * 2 ** 30 * 0.9));
    expect(c.archive?.retentionDays).to.equal(30);
  });

  it('points the server into the mounted claim for a pvc:// model, without a version it cannot know', () => {
    const c = buildServerConfig(modelService({ model: { uri: 'pvc://models/yolo/v3/plates.onnx' } }), config);
    expect(c.model.path).to.equal('/models/yolo/v3/plates.onnx');
    expect(c.model.version).to.equal(undefined);
  });

  it('asks the server to exit with its reason when the model cannot be served (the status reads it)', () => {
    expect(buildServerConfig(modelService(), config).server?.exitOnModelError).to.equal(true);
  });

  it('serves the API under spec.ingress.path too, since the Ingress keeps the prefix in the path', () => {
    expect(buildServerConfig(modelService({ ingress: { host: 'a.example.com', path: '/plates' } }), config).server?.basePath).to.equal('/plates');
    expect(buildServerConfig(modelService({ ingress: { host: 'a.example.com', path: '/' } }), config).server?.basePath).to.equal(undefined);
    expect(buildServerConfig(modelService(), config).server?.basePath).to.equal(undefined);
  });

  it('points the server at the model in its image for a bundled:// model', () => {
    const c = buildServerConfig(modelService({ model: { uri: 'bundled://plate-detector' } }), config);
    expect(c.model.path).to.equal('/app/models/plate-detector.onnx');
    // The bundled recognizer is no detector: the operator refuses it rather than a crash-looping pod.
    expect(() => buildServerConfig(modelService({ model: { uri: 'bundled://plate-reader' } }), config)).to.throw(InvalidSpecError, /bundled:\/\/plate-detector/);
  });

  it('refuses a model URI the CRD should have refused, instead of building a broken pod', () => {
    expect(() => buildServerConfig(modelService({ model: { uri: 's3://bucket/m.onnx' } }), config)).to.throw(InvalidSpecError, /s3:/);
    expect(() => buildServerConfig(modelService({ model: { uri: 'pvc://models/../etc/passwd' } }), config)).to.throw(InvalidSpecError);
    expect(() => buildServerConfig(modelService({ model: { uri: 'pvc://models' } }), config)).to.throw(InvalidSpecError);
  });

  describe('plate formats and the trained reader', () => {
    const ocrSpec = (ocr: Partial<NonNullable<ModelServiceSpec['ocr']>>) =>
      modelService({ model: { uri: 'https://models.example.com/plates.onnx', sha256: SHA, classes: ['car', 'plate', 'sign'] }, ocr: { classes: ['plate', 'sign'], ...ocr } });

    it('passes formats and retry to every OCR class, and the server accepts them', () => {
      const formats = ['LL-DDD-LL', "DDD 'TU' DDDD", 'DLLLDDD'];
      const built = buildServerConfig(ocrSpec({ formats, retry: false, reader: 'tesseract' }), config);
      const c = serverConfigSchema.parse(built);
      for (const cls of ['plate', 'sign']) {
        expect(c.ocr.classes[cls], cls).to.deep.include({ formats, retry: false });
        expect(c.ocr.classes[cls]!.recognizer, cls).to.equal(undefined);
      }
      // Each class has its own copy: the YAML writer must not emit anchors and aliases.
      expect(built.ocr?.classes?.plate?.formats).to.not.equal(built.ocr?.classes?.sign?.formats);
    });

    it('corrects to no layout unless asked: formats and retry are left out without formats or countries', () => {
      const withFormats = buildServerConfig(ocrSpec({ formats: ['LL-DDD-LL'] }), config);
      expect(withFormats.ocr?.classes?.plate).to.deep.include({ formats: ['LL-DDD-LL'], retry: true });
      const without = buildServerConfig(ocrSpec({ retry: false }), config).ocr?.classes?.plate;
      expect(without).to.not.have.any.keys('formats', 'retry');
    });

    it("countries opt into their plate layouts, after the formats given and without repeats", () => {
      const built = buildServerConfig(ocrSpec({ formats: ['LL-DDD-LL', 'DDDD'], countries: ['FR', 'GB', 'TN'] }), config);
      const c = serverConfigSchema.parse(built);
      expect(c.ocr.classes.plate!.formats).to.deep.equal(['LL-DDD-LL', 'DDDD', 'LLDD LLL', "DDD 'TU' DDDD"]);
      expect(c.ocr.classes.plate!.retry).to.equal(true);
      // every country's templates parse: the server would refuse to start otherwise
      const all = serverConfigSchema.parse(buildServerConfig(ocrSpec({ countries: [...PLATE_COUNTRIES] }), config));
      expect(all.ocr.classes.plate!.formats).to.include.members(['LL DD LL DDDD', 'L LL DDDD', 'LLLDLDD']);
    });

    it('reader auto (the default) reads plate classes with the bundled recognizer and no tesseract, other classes with tesseract', () => {
      const c = serverConfigSchema.parse(buildServerConfig(ocrSpec({}), config));
      expect(c.ocr.classes.plate!.recognizer).to.deep.equal({ model: '/app/models/plate-reader.onnx', fallback: false, views: 3 });
      expect(c.ocr.classes.sign!.recognizer).to.equal(undefined);
      expect(usesPlateReader(undefined, 'licence-plate')).to.equal(true);
      expect(usesPlateReader('auto', 'id-card')).to.equal(false);
      expect(BUNDLED_PLATE_READER).to.equal('/app/models/plate-reader.onnx');
    });

    it('reader plate-reader reads every class with the recognizer shipped in the server image, tesseract off the path', () => {
      const built = buildServerConfig(ocrSpec({ reader: 'plate-reader', formats: ['LL-DDD-LL'] }), config);
      const c = serverConfigSchema.parse(built);
      for (const cls of ['plate', 'sign']) expect(c.ocr.classes[cls]!.recognizer, cls).to.deep.equal({ model: '/app/models/plate-reader.onnx', fallback: false, views: 3 });
      // The ConfigMap carries it too.
      const cm = buildConfigMap(ocrSpec({ reader: 'plate-reader' }), config);
      expect(serverConfigSchema.parse(parse(cm.data['config.yaml']!)).ocr.classes.plate!.recognizer?.model).to.equal(BUNDLED_PLATE_READER);
    });

    it('reader tesseract gives no recognizer', () => {
      for (const cls of ['plate', 'sign']) expect(buildServerConfig(ocrSpec({ reader: 'tesseract' }), config).ocr?.classes?.[cls], cls).to.not.have.property('recognizer');
    });

    it('refuses a template the server cannot parse as an invalid spec naming it, instead of a server that will not start', () => {
      const bad = (formats: string[]) => () => buildServerConfig(ocrSpec({ formats }), config);
      expect(bad(['LL-DDD-LL', 'LL-X'])).to.throw(InvalidSpecError, /^spec\.ocr\.formats\[1\] "LL-X": .*'X' is neither L, D, A nor a separator/);
      expect(bad(["DDD 'TU DDDD"])).to.throw(InvalidSpecError, /spec\.ocr\.formats\[0\] "DDD 'TU DDDD": .*unterminated quote/);
      expect(bad(['--'])).to.throw(InvalidSpecError, /spec\.ocr\.formats\[0\] "--": .*no characters/);
    });

    it('a bad template surfaces from desiredState as InvalidSpecError, which the reconciler reports as InvalidSpec', () => {
      expect(() => desiredState(ocrSpec({ formats: ["'"] }), config)).to.throw(InvalidSpecError, /spec\.ocr\.formats\[0\]/);
    });
  });

  describe('pipeline', () => {
    const ids = (spec: Partial<ModelServiceSpec> = {}) => modelService({ pipeline: 'documents', model: { uri: 'https://models.example.com/document-detector.onnx', sha256: SHA }, ...spec });

    it('documents: the bundled MRZ reader (and the field reader asked for), no tesseract, the spec\'s settings', () => {
      const c = serverConfigSchema.parse(parse(buildConfigMap(ids({ documents: { fieldReader: true, maxDocuments: 1, zoneConfidence: 0.3 } }), config).data['config.yaml']!));
      expect(c.documents).to.deep.equal({ mrzReader: BUNDLED_MRZ_READER, fieldReader: BUNDLED_FIELD_READER, maxDocuments: 1, zoneConfidence: 0.3, archive: false });
      expect(BUNDLED_MRZ_READER).to.equal('/app/models/mrz-reader.onnx');
      expect(c.ocr.enabled).to.equal(false);
      expect(c.archive).to.equal(undefined);
    });

    it('documents: defaults (the MRZ alone: the field reader is opt-in), and the field reader when asked for', () => {
      expect(buildServerConfig(ids(), config).documents).to.deep.equal({ mrzReader: BUNDLED_MRZ_READER, maxDocuments: 2, zoneConfidence: 0.25, archive: false });
      expect(buildServerConfig(ids({ documents: { fieldReader: true } }), config).documents).to.have.property('fieldReader', BUNDLED_FIELD_READER);
    });

    it('documents: images are archived only when the ModelService enables its archive', () => {
      const c = buildServerConfig(ids({ archive: { enabled: true, retentionDays: 7 } }), config);
      expect(c.documents?.archive).to.equal(true);
      expect(c.archive).to.deep.include({ dir: '/archive', retentionDays: 7 });
      expect(buildServerConfig(ids({ archive: { enabled: false } }), config).documents?.archive).to.equal(false);
    });

    it('plates is what spec.ocr implies; detection has neither OCR nor documents', () => {
      const plates = buildServerConfig(modelService({ ocr: { classes: ['plate'] } }), config);
      expect(plates.ocr?.enabled).to.equal(true);
      expect(plates.documents).to.equal(undefined);
      expect(buildServerConfig(modelService({ pipeline: 'plates', ocr: { classes: ['plate'] } }), config)).to.deep.equal(plates);
      const detection = buildServerConfig(modelService({ pipeline: 'detection' }), config);
      expect(detection.ocr?.enabled).to.equal(false);
      expect(detection.documents).to.equal(undefined);
    });
  });

  it('hash is stable for the same config and changes when the config does', () => {
    const a = configHash(buildConfigMap(modelService(), config));
    expect(configHash(buildConfigMap(modelService(), config))).to.equal(a);
    expect(a).to.match(/^[0-9a-f]{16}$/);
    const b = configHash(buildConfigMap(modelService({ model: { uri: 'https://models.example.com/plates.onnx', sha256: SHA, thresholds: { confidence: 0.5 } } }), config));
    expect(b).to.not.equal(a);
  });
});
