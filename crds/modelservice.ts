import Type, { type Static } from 'typebox';
import { MODEL_FORMATS, OCR_MODES, SHARED_DEFAULTS } from '../contract/defaults.js';
import { HASH_TAG, MLFLOW_ENV, MODELS_URI_PATTERN } from '../contract/mlflow.js';
import { PLATE_COUNTRIES } from '../contract/plate-layouts.js';
import { BUNDLED_DETECTORS, bundledModelName } from '../contract/pod-layout.js';

/** bundled://plate-detector: the detectors shipped in the server image, by file name. */
const BUNDLED_URI_PATTERN = `bundled://(${BUNDLED_DETECTORS.map(bundledModelName).join('|')})`;
import { DNS_SUBDOMAIN_PATTERN, MapOf, OpaqueObject, Quantity, StringEnum, StringMap } from './k8s-schema.js';

/**
 * The ModelService API, defined once. The CRD YAML (crds/generate.ts) and the TypeScript types
 * below both come from these schemas, so what the apiserver validates and what the operator reads
 * cannot drift apart.
 *
 * Every string or list that a CEL rule touches carries maxLength/maxItems: the apiserver refuses a
 * CRD whose rules' estimated cost exceeds its budget, and unbounded sizes are estimated as huge.
 */

export const GROUP = 'visionops.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ModelService';
export const PLURAL = 'modelservices';

/**
 * The CRD's defaults, shared with the builders so an object that skipped defaulting (unit tests, dry
 * runs) behaves the same. What the server also applies comes from the contract (contract/defaults.ts);
 * the rest only concerns the objects the operator builds.
 */
export const DEFAULTS = {
  format: SHARED_DEFAULTS.model.format,
  confidence: SHARED_DEFAULTS.thresholds.confidence,
  iou: SHARED_DEFAULTS.thresholds.iou,
  maxDetections: SHARED_DEFAULTS.thresholds.maxDetections,
  tilesGrid: SHARED_DEFAULTS.tiles.grid,
  tilesOverlap: SHARED_DEFAULTS.tiles.overlap,
  ocrLanguage: SHARED_DEFAULTS.ocr.language,
  ocrMode: SHARED_DEFAULTS.ocr.mode,
  ocrStrip: SHARED_DEFAULTS.ocr.strip,
  ocrUppercase: SHARED_DEFAULTS.ocr.uppercase,
  ocrRetry: SHARED_DEFAULTS.ocr.retry,
  ocrReader: 'auto',
  minReplicas: 1,
  targetCPUUtilizationPercentage: 80,
  resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
  ingressPath: '/',
  ingressClassName: 'nginx',
  archiveSize: '10Gi',
  archiveRetentionDays: SHARED_DEFAULTS.archive.retentionDays,
  archiveAccessMode: 'ReadWriteOnce',
  documentsMaxDocuments: SHARED_DEFAULTS.documents.maxDocuments,
  documentsZoneConfidence: SHARED_DEFAULTS.documents.zoneConfidence,
  // the bundled detector still mislabels some field boxes (models/field-reader.md): the MRZ alone by default
  documentsFieldReader: false,
  mlflowCaKey: 'ca.crt',
} as const;

export const OCR_READERS = ['auto', 'tesseract', 'plate-reader'] as const;
/** What a ModelService serves: detections only, detections with OCR of classes (plates), or identity documents. */
export const PIPELINES = ['detection', 'plates', 'documents'] as const;
export type Pipeline = (typeof PIPELINES)[number];

/** The pipeline a spec runs: spec.pipeline, else plates when spec.ocr is set, else detection. */
export function pipelineOf(spec: { pipeline?: Pipeline; ocr?: unknown }): Pipeline {
  return spec.pipeline ?? (spec.ocr ? 'plates' : 'detection');
}

const className = Type.String({ minLength: 1, maxLength: 63, description: 'A class name as the detector reports it, e.g. "plate".' });

const thresholds = Type.Object(
  {
    confidence: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: DEFAULTS.confidence, description: 'Minimum score (objectness x class probability) for a box to be returned.' }),
    ),
    iou: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: DEFAULTS.iou, description: 'Intersection over union above which a lower-scored box of the same class is suppressed (non-maximum suppression).' }),
    ),
    maxDetections: Type.Optional(
      Type.Integer({ minimum: 1, maximum: SHARED_DEFAULTS.maxDetectionsLimit, default: DEFAULTS.maxDetections, description: 'Most boxes returned for one image.' }),
    ),
  },
  { description: 'Detection thresholds applied after the model runs.', default: {} },
);

const tiles = Type.Object(
  {
    grid: Type.Optional(
      Type.Integer({
        minimum: 1, maximum: SHARED_DEFAULTS.tiles.maxGrid, default: DEFAULTS.tilesGrid,
        description: 'A second look for small objects: the image is also cut into grid x grid overlapping tiles, each run at the full model input, and what the tiles find that the whole image did not is added. 1 is off; 2 costs 4 more model runs per image larger than the input.',
      }),
    ),
    overlap: Type.Optional(
      Type.Number({ minimum: 0, maximum: 0.5, default: DEFAULTS.tilesOverlap, description: "Share of a tile's side shared with its neighbour: an object up to that size is seen whole in some tile." }),
    ),
  },
  { description: 'Slicing-aided detection of objects too small for the model input (e.g. plates under 1 % of the photo).', default: {} },
);

/** Where a `models:/` URI is resolved and fetched from (spec.model.mlflow). */
const mlflow = Type.Object(
  {
    trackingUri: Type.Optional(
      Type.String({
        maxLength: 2048,
        pattern: '^https?://[^\\s/]+(/[^\\s]*)?$',
        description: `MLflow tracking server (http or https) that holds the registry and serves the artifacts. Absent: the operator's ${MLFLOW_ENV.trackingUri}.`,
      }),
    ),
    credentialsSecret: Type.Optional(
      Type.String({
        maxLength: 253,
        pattern: DNS_SUBDOMAIN_PATTERN,
        description:
          `Secret in this namespace with MLflow's own variables as keys: ${MLFLOW_ENV.token}, or ${MLFLOW_ENV.username} and ${MLFLOW_ENV.password}. ` +
          'The operator reads it to resolve aliases; the model fetch init container gets the keys as environment variables from the Secret.',
      }),
    ),
    caBundle: Type.Optional(
      Type.Object(
        {
          configMap: Type.String({ maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN, description: 'ConfigMap in this namespace holding the PEM certificates.' }),
          key: Type.Optional(
            Type.String({ maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$', default: DEFAULTS.mlflowCaKey, description: 'Key of the PEM bundle in the ConfigMap.' }),
          ),
        },
        { description: "CA certificates that sign the tracking server's TLS certificate, trusted besides the public roots." },
      ),
    ),
    allowUnverified: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          `Serve a version that has no ${HASH_TAG} tag, without checking what is downloaded. Default false: such a version is refused ` +
          '(ModelReady=False, reason ModelHashMissing).',
      }),
    ),
  },
  { description: 'The MLflow model registry a models:/ URI is resolved in.' },
);

const model = Type.Object(
  {
    uri: Type.String({
      minLength: 1,
      maxLength: 2048,
      pattern: `^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[^\\s]+|https?://[^\\s/]+(/[^\\s]*)?|${BUNDLED_URI_PATTERN}|models:/[^\\s]+)$`,
      description:
        'Where the ONNX model comes from. http(s)://host/path is downloaded by an init container before the server starts; ' +
        'pvc://claim/path/in/volume reads the file from that PersistentVolumeClaim in the same namespace, mounted read-only ' +
        '(with more than one replica on several nodes the volume must support ReadOnlyMany); ' +
        'bundled://plate-detector serves the demo licence-plate detector shipped in the server image (no download, no network); ' +
        'models:/<name>@<alias> or models:/<name>/<version> serves a version from the MLflow model registry (see mlflow): the operator ' +
        `resolves the alias, pins the version in the pods, checks the file against the version's ${HASH_TAG} tag, and rolls the pods when the alias moves.`,
    }),
    sha256: Type.Optional(
      Type.String({
        pattern: '^[a-f0-9]{64}$',
        description: 'Lowercase hex SHA-256 of the model file. The download is refused when it does not match. Required for plain http:// URIs; not allowed for pvc://.',
      }),
    ),
    format: Type.Optional(
      StringEnum(MODEL_FORMATS, { default: DEFAULTS.format, description: 'Output layout of the model: yolov5, yolov8, or auto to tell them apart by output shape.' }),
    ),
    classes: Type.Optional(
      Type.Array(className, {
        minItems: 1,
        maxItems: 1000,
        description: 'Class names by class index. When absent the names stored in the model metadata are used.',
      }),
    ),
    inputSize: Type.Optional(
      Type.Integer({ minimum: 32, maximum: 4096, description: 'Square input side in pixels, for models with dynamic input shape. Static models use their own.' }),
    ),
    thresholds: Type.Optional(thresholds),
    tiles: Type.Optional(tiles),
    mlflow: Type.Optional(mlflow),
  },
  {
    description: 'The detection model to serve.',
    'x-kubernetes-validations': [
      {
        rule: "!has(self.sha256) || self.uri.startsWith('http://') || self.uri.startsWith('https://') || self.uri.startsWith('models:/')",
        message: 'sha256 applies to http(s) models only: a pvc:// or bundled:// model is read as it is',
        fieldPath: '.sha256',
      },
      {
        rule: "!self.uri.startsWith('http://') || has(self.sha256)",
        message: 'a plain http:// model needs sha256: without TLS nothing else proves the download is the intended file',
        fieldPath: '.sha256',
      },
      {
        rule: "!self.uri.startsWith('pvc://') || !(self.uri.contains('/../') || self.uri.endsWith('/..'))",
        message: 'a pvc:// path may not contain .. segments',
        fieldPath: '.uri',
      },
      {
        rule: `!self.uri.startsWith('models:/') || self.uri.matches('${MODELS_URI_PATTERN}')`,
        message: 'a registry model is models:/<name>@<alias> or models:/<name>/<version> (name: letters, digits, _ . -; version: a positive integer)',
        fieldPath: '.uri',
      },
      {
        rule: "!has(self.sha256) || !self.uri.startsWith('models:/')",
        message: `sha256 does not apply to models:/ URIs: the hash comes from the version's ${HASH_TAG} tag`,
        fieldPath: '.sha256',
      },
      {
        rule: "!has(self.mlflow) || self.uri.startsWith('models:/')",
        message: 'mlflow applies to models:/ URIs only',
        fieldPath: '.mlflow',
      },
    ],
  },
);

const ocrNormalize = Type.Object(
  {
    strip: Type.Optional(
      Type.String({ maxLength: 64, default: DEFAULTS.ocrStrip, description: 'Characters removed from the recognised text, e.g. spaces and dashes in plates.' }),
    ),
    uppercase: Type.Optional(Type.Boolean({ default: DEFAULTS.ocrUppercase, description: 'Upper-case the recognised text.' })),
  },
  { description: 'Clean-up applied to the recognised text.', default: {} },
);

const ocr = Type.Object(
  {
    classes: Type.Array(className, {
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Detected classes whose boxes are read with OCR (their text is returned with the detection).',
    }),
    language: Type.Optional(
      Type.String({
        pattern: '^[a-z_]{3,8}(\\+[a-z_]{3,8})*$',
        maxLength: 64,
        default: DEFAULTS.ocrLanguage,
        description: 'Tesseract language(s), e.g. eng or eng+deu. The server image must contain their traineddata.',
      }),
    ),
    mode: Type.Optional(
      StringEnum(OCR_MODES, {
        default: DEFAULTS.ocrMode,
        description: 'What one crop holds: line (a single text line, plates), word, block (several lines) or auto (let tesseract segment).',
      }),
    ),
    charset: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'The only characters OCR may return; ranges allowed, e.g. A-Z0-9 (a literal - goes first or last).' }),
    ),
    normalize: Type.Optional(ocrNormalize),
    formats: Type.Optional(
      Type.Array(
        Type.String({ minLength: 1, maxLength: 64, description: "A layout template, e.g. LL-DDD-LL or DDD 'TU' DDDD." }),
        {
          minItems: 1,
          maxItems: 32,
          description:
            "Layouts the text follows, as templates: L a letter, D a digit, A either (of the charset), 'XY' fixed characters, " +
            "anything else a separator (optional in the read), e.g. LL-DDD-LL or DDD 'TU' DDDD. Opt-in: the read is corrected to the " +
            'template that fits it best (confusable glyphs such as O/0, S/5, B/8 substituted per position; no character is ever ' +
            'dropped or added) and left as read when none fits. Without formats or countries the read is returned as read.',
        },
      ),
    ),
    countries: Type.Optional(
      Type.Array(StringEnum(PLATE_COUNTRIES, { description: 'A country (or US) whose licence-plate layouts the reads are corrected to.' }), {
        maxItems: 32,
        'x-kubernetes-list-type': 'set',
        description:
          "Opt-in licence-plate layout correction for these countries' plates, added to formats (their templates are listed in " +
          'contract/plate-layouts.ts), e.g. [FR, DE] for a French car park that sees German cars.',
      }),
    ),
    retry: Type.Optional(
      Type.Boolean({
        default: DEFAULTS.ocrRetry,
        description:
          'With formats: when a read does not fit a template as read, read the box again from other preparations (perspective ' +
          'evened out, smaller scale, word segmentation, plain crop) and keep the best fit. Costs extra OCR for those boxes only.',
      }),
    ),
    reader: Type.Optional(
      StringEnum(OCR_READERS, {
        default: DEFAULTS.ocrReader,
        description:
          'What reads the text: plate-reader, the CRNN licence-plate recognizer shipped in the server image ' +
          '(models/plate-reader.onnx, trained by training/reader.py on 26 plate systems; every box of an image in one batch, ' +
          'no tesseract), tesseract, or auto: plate-reader for classes whose name contains "plate", tesseract for the others. ' +
          'A custom image must contain the file at /app/models/plate-reader.onnx, or its pods stay unready.',
      }),
    ),
  },
  { description: 'Text recognition on detected boxes. Absent: no OCR.' },
);

const documents = Type.Object(
  {
    fieldReader: Type.Optional(
      Type.Boolean({
        default: DEFAULTS.documentsFieldReader,
        description:
          "Also read the visual zone's fields (surname, dates, ...) with a field reader at /app/models/field-reader.onnx, to fill fields when " +
          'the MRZ fails its checks, to mend a misread name and to report where the two zones disagree (models/field-reader.md; the project image carries it). ' +
          'false (default): the fields come from the MRZ alone, since the bundled detector still mislabels some field boxes.',
      }),
    ),
    maxDocuments: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 8, default: DEFAULTS.documentsMaxDocuments, description: 'Documents read per photo, most confident first.' }),
    ),
    zoneConfidence: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: DEFAULTS.documentsZoneConfidence, description: 'Score an MRZ line or field needs on the rectified document.' }),
    ),
  },
  {
    description:
      'Settings of the documents pipeline: spec.model is an ID-document detector (the bundled one: models/document-detector.onnx), the MRZ and ' +
      'field readers are the ones at /app/models/mrz-reader.onnx and field-reader.onnx of the server image (the project image ships both). Images of identity documents ' +
      'are archived only with spec.archive.enabled.',
  },
);

const autoscaling = Type.Object(
  {
    minReplicas: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: DEFAULTS.minReplicas, description: 'Fewest replicas the autoscaler keeps.' }),
    ),
    maxReplicas: Type.Integer({ minimum: 1, maximum: 1000, description: 'Most replicas the autoscaler may run.' }),
    targetCPUUtilizationPercentage: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100,
        default: DEFAULTS.targetCPUUtilizationPercentage,
        description: 'Average CPU use, as a percentage of the CPU request, that the autoscaler aims for.',
      }),
    ),
  },
  {
    description: 'Scale with a HorizontalPodAutoscaler on CPU. Mutually exclusive with replicas.',
    'x-kubernetes-validations': [
      { rule: '!has(self.minReplicas) || self.minReplicas <= self.maxReplicas', message: 'minReplicas must not exceed maxReplicas', fieldPath: '.minReplicas' },
    ],
  },
);

const quantityMap = (description: string) =>
  MapOf(Quantity({ description: 'A quantity such as 500m, 2 or 1Gi.' }), { maxProperties: 16, description });

const resources = Type.Object(
  {
    requests: Type.Optional(quantityMap('Resources the scheduler reserves for each server pod (cpu, memory, ...).')),
    limits: Type.Optional(quantityMap('Most each server pod may use; exceeding the memory limit restarts the container.')),
  },
  { description: 'Compute resources of the server container (also given to the model fetch init container).', default: DEFAULTS.resources },
);

const ingress = Type.Object(
  {
    host: Type.Optional(
      Type.String({
        maxLength: 253,
        pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
        description: 'Host name the model is served under. Absent: every host.',
      }),
    ),
    path: Type.Optional(
      Type.String({ maxLength: 1024, pattern: '^/[^\\s]*$', default: DEFAULTS.ingressPath, description: 'Path prefix routed to the server.' }),
    ),
    className: Type.Optional(
      Type.String({ maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN, default: DEFAULTS.ingressClassName, description: 'IngressClass that serves this Ingress.' }),
    ),
    tls: Type.Optional(
      Type.Object(
        {
          secretName: Type.String({ maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN, description: 'Secret of type kubernetes.io/tls holding the certificate for host.' }),
        },
        { description: 'Serve the host over HTTPS.' },
      ),
    ),
    annotations: Type.Optional(
      StringMap({ maxProperties: 64, description: 'Annotations added to the Ingress, e.g. for the ingress controller or cert-manager. They override the operator\'s own.' }),
    ),
  },
  {
    description: 'Expose the model outside the cluster with an Ingress. Removing this section deletes the Ingress.',
    'x-kubernetes-validations': [{ rule: '!has(self.tls) || has(self.host)', message: 'tls needs a host to put on the certificate', fieldPath: '.tls' }],
  },
);

const archive = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Store every accepted image on a PersistentVolumeClaim owned by this ModelService.' }),
    size: Type.Optional(Quantity({ default: DEFAULTS.archiveSize, description: 'Size of the volume. The server keeps its archive under 90% of it.' })),
    storageClassName: Type.Optional(
      Type.String({
        maxLength: 253,
        pattern: DNS_SUBDOMAIN_PATTERN,
        description: 'StorageClass of the volume. Absent: the cluster default. Cannot change once set.',
        'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'storageClassName is immutable: the volume already exists' }],
      }),
    ),
    accessMode: Type.Optional(
      StringEnum(['ReadWriteOnce', 'ReadWriteMany'] as const, {
        default: DEFAULTS.archiveAccessMode,
        description: 'Volume access mode. Use ReadWriteMany when replicas run on several nodes. Cannot change once set.',
        'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'accessMode is immutable: the volume already exists' }],
      }),
    ),
    retentionDays: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3650, default: DEFAULTS.archiveRetentionDays, description: 'Images older than this many days are deleted. 0 keeps them until space runs out.' }),
    ),
  },
  { description: 'Archive of served images. The volume is kept while the ModelService exists, also when the archive is disabled again.' },
);

const toleration = Type.Object(
  {
    key: Type.Optional(Type.String({ maxLength: 316, description: 'Taint key the toleration applies to. Empty with operator Exists: every taint.' })),
    operator: Type.Optional(StringEnum(['Exists', 'Equal'] as const, { description: 'How key and value are compared. Default Equal.' })),
    value: Type.Optional(Type.String({ maxLength: 63, description: 'Taint value matched with operator Equal.' })),
    effect: Type.Optional(
      StringEnum(['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const, { description: 'Taint effect to match. Empty: every effect.' }),
    ),
    tolerationSeconds: Type.Optional(
      Type.Integer({ format: 'int64', description: 'For NoExecute: how long the pod stays bound after the taint appears.' }),
    ),
  },
  { description: 'A toleration copied to the server pods.' },
);

const envVar = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256, pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$', description: 'Variable name.' }),
    value: Type.Optional(Type.String({ description: 'Literal value.' })),
    valueFrom: Type.Optional(
      OpaqueObject<Record<string, unknown>>({ description: 'Source of the value (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef), as in a Pod.' }),
    ),
  },
  {
    description: 'An environment variable set in the server and model fetch containers (e.g. HTTPS_PROXY, or VISIONOPS_* server overrides).',
    'x-kubernetes-validations': [{ rule: '!(has(self.value) && has(self.valueFrom))', message: 'set value or valueFrom, not both' }],
  },
);

export const modelServiceSpecSchema = Type.Object(
  {
    pipeline: Type.Optional(
      StringEnum(PIPELINES, {
        description:
          'What the server does with an image: detection (boxes only), plates (boxes, and the text of the spec.ocr classes), or documents ' +
          '(identity documents: type, fields, MRZ with its check digits; settings in spec.documents). Absent: plates when spec.ocr is set, else detection.',
      }),
    ),
    model,
    ocr: Type.Optional(ocr),
    documents: Type.Optional(documents),
    replicas: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1000,
        format: 'int32',
        description: 'Number of server pods when autoscaling is not set. Absent: 1. Also set by kubectl scale.',
      }),
    ),
    autoscaling: Type.Optional(autoscaling),
    resources: Type.Optional(resources),
    image: Type.Optional(
      Type.String({ minLength: 1, maxLength: 512, description: "Inference server image. Absent: the operator's default (VISIONOPS_SERVER_IMAGE)." }),
    ),
    ingress: Type.Optional(ingress),
    archive: Type.Optional(archive),
    serviceAccountName: Type.Optional(
      Type.String({ maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN, description: 'ServiceAccount the server pods run as. Absent: the namespace default.' }),
    ),
    nodeSelector: Type.Optional(StringMap({ maxProperties: 32, description: 'Node labels the server pods must be scheduled on.' })),
    tolerations: Type.Optional(Type.Array(toleration, { maxItems: 32, description: 'Taints the server pods tolerate.' })),
    affinity: Type.Optional(
      OpaqueObject<Record<string, unknown>>({ description: 'Pod affinity, anti-affinity and node affinity of the server pods, as in a Pod spec.' }),
    ),
    imagePullSecrets: Type.Optional(
      Type.Array(
        Type.Object(
          { name: Type.String({ maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN, description: 'Name of a docker-registry Secret in this namespace.' }) },
          { description: 'A Secret used to pull the server image.' },
        ),
        { maxItems: 16, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], description: 'Secrets for pulling the server image from a private registry.' },
      ),
    ),
    env: Type.Optional(
      Type.Array(envVar, {
        maxItems: 64,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        description: 'Environment variables of the server and model fetch containers.',
      }),
    ),
    podAnnotations: Type.Optional(
      StringMap({
        maxProperties: 64,
        description: 'Annotations added to the server pods. Keys under visionops.io/ are reserved for the operator.',
        'x-kubernetes-validations': [{ rule: "self.all(k, !k.startsWith('visionops.io/'))", message: 'annotation keys under visionops.io/ are reserved for the operator' }],
      }),
    ),
  },
  {
    description: 'The model to serve and how to run it.',
    'x-kubernetes-validations': [
      {
        rule: '!(has(self.replicas) && has(self.autoscaling))',
        message: 'set replicas or autoscaling, not both: with autoscaling the HorizontalPodAutoscaler owns the replica count',
        fieldPath: '.replicas',
      },
      {
        rule:
          "!has(self.autoscaling) || (has(self.resources) && ((has(self.resources.requests) && 'cpu' in self.resources.requests) || (has(self.resources.limits) && 'cpu' in self.resources.limits)))",
        message: 'autoscaling on CPU needs resources.requests.cpu (or resources.limits.cpu): utilisation is measured against the request',
        fieldPath: '.resources',
      },
      {
        rule: "!has(self.pipeline) || self.pipeline != 'plates' || has(self.ocr)",
        message: 'the plates pipeline reads the text of spec.ocr.classes: set spec.ocr',
        fieldPath: '.ocr',
      },
      {
        rule: "!has(self.pipeline) || self.pipeline == 'plates' || !has(self.ocr)",
        message: 'spec.ocr applies to the plates pipeline only',
        fieldPath: '.ocr',
      },
      {
        rule: "!has(self.documents) || (has(self.pipeline) && self.pipeline == 'documents')",
        message: 'spec.documents applies to pipeline: documents only',
        fieldPath: '.documents',
      },
      {
        rule: '!has(self.ocr) || !has(self.model.classes) || self.ocr.classes.all(c, c in self.model.classes)',
        message: 'every ocr class must be one of model.classes',
        fieldPath: '.ocr.classes',
      },
    ],
  },
);

const CONDITION_TYPES = ['Ready', 'ModelReady', 'Available', 'Progressing', 'Degraded', 'ModelResolved', 'RegistryReachable'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** metav1.Condition, with the upstream field rules, so `kubectl wait --for=condition=Ready` works. */
export const conditionSchema = Type.Object(
  {
    type: Type.String({
      maxLength: 316,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      description: `Condition type: ${CONDITION_TYPES.join(', ')}.`,
    }),
    status: StringEnum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition: True, False or Unknown.' }),
    observedGeneration: Type.Optional(
      Type.Integer({ minimum: 0, format: 'int64', description: 'metadata.generation of the ModelService the condition was computed from.' }),
    ),
    lastTransitionTime: Type.String({ format: 'date-time', description: 'When the status last changed.' }),
    reason: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      description: 'CamelCase cause of the status, e.g. ModelFetchFailed, CrashLoopBackOff, RolloutInProgress.',
    }),
    message: Type.String({ maxLength: 32768, description: 'Human-readable detail.' }),
  },
  { description: 'One aspect of the state of the ModelService.' },
);

export const modelServiceStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({ minimum: 0, format: 'int64', description: 'metadata.generation the operator last acted on.' }),
    ),
    replicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Server pods that exist (any version).' })),
    readyReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Server pods ready to serve.' })),
    selector: Type.Optional(Type.String({ description: 'Label selector of the server pods, for the scale subresource.' })),
    url: Type.Optional(Type.String({ description: 'External URL from the Ingress, when spec.ingress is set.' })),
    address: Type.Optional(Type.String({ description: 'In-cluster URL of the Service.' })),
    model: Type.Optional(
      Type.Object(
        {
          uri: Type.String({ description: 'URI of the model being served, as spec.model.uri gave it.' }),
          sha256: Type.Optional(Type.String({ description: 'Verified SHA-256 of the model file, when known.' })),
          resolvedUri: Type.Optional(Type.String({ description: 'For a registry model: the pinned version served, models:/<name>/<version>.' })),
          version: Type.Optional(Type.String({ description: 'For a registry model: the version served.' })),
          alias: Type.Optional(Type.String({ description: 'For a registry model: the alias the version was resolved from.' })),
          runId: Type.Optional(Type.String({ description: 'For a registry model: the MLflow run that produced the version.' })),
          source: Type.Optional(Type.String({ description: "For a registry model: the version's artifact location." })),
        },
        { description: 'The model the ready pods serve; it trails spec.model during a rollout.' },
      ),
    ),
    conditions: Type.Optional(
      Type.Array(conditionSchema, {
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        description: 'Ready, ModelReady, Available, Progressing and Degraded, each with the reason from the pods and the Deployment.',
      }),
    ),
  },
  { description: 'Observed state, written by the operator.' },
);

/** The whole object as stored; the root-level rule can see metadata.name (and only that). */
export const modelServiceSchema = Type.Object(
  {
    apiVersion: Type.Optional(
      Type.String({ description: 'Versioned schema of this representation of an object: visionops.io/v1alpha1.' }),
    ),
    kind: Type.Optional(Type.String({ description: 'Kind of object: ModelService.' })),
    // The apiserver forbids anything but name/generateName rules under metadata, descriptions included.
    metadata: Type.Optional(Type.Unsafe<Record<string, unknown>>({ type: 'object' })),
    spec: modelServiceSpecSchema,
    status: Type.Optional(modelServiceStatusSchema),
  },
  {
    description: 'ModelService serves a YOLO detection model, optionally with OCR on detected boxes, behind a Service (and optionally an Ingress).',
    'x-kubernetes-validations': [
      {
        // Children reuse the name; a Service name must be an RFC 1035 label (63 chars, starts with a letter).
        rule: "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        message: 'name must be at most 63 characters, start with a letter and contain only a-z, 0-9 and - (it names the Service)',
      },
    ],
  },
);

export type ModelServiceSpec = Static<typeof modelServiceSpecSchema>;
export type ModelServiceStatus = Static<typeof modelServiceStatusSchema>;
export type Condition = Static<typeof conditionSchema>;

/** A ModelService read from the apiserver: metadata fields the operator relies on are always there. */
export interface ModelService {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string | Date;
    deletionTimestamp?: string | Date;
  };
  spec: ModelServiceSpec;
  status?: ModelServiceStatus;
}
