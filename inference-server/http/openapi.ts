import { documentExample, documentSchemas } from '../documents/openapi.js';

/**
 * The one OpenAPI 3 document: served at /openapi.json and /docs, and the request validator
 * (express-openapi-validator) enforces it, so it cannot drift from what the server does.
 */

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const box = {
  type: 'object',
  required: ['x1', 'y1', 'x2', 'y2'],
  additionalProperties: false,
  description: 'Pixel coordinates in the submitted image (after EXIF orientation), clipped to it',
  properties: { x1: { type: 'number' }, y1: { type: 'number' }, x2: { type: 'number' }, y2: { type: 'number' } },
};

const imageBody = {
  required: true,
  description: 'The image as the raw body (JPEG, PNG or WebP), or a multipart form with the file in field `image`',
  content: {
    'image/jpeg': { schema: { type: 'string', format: 'binary' } },
    'image/png': { schema: { type: 'string', format: 'binary' } },
    'image/webp': { schema: { type: 'string', format: 'binary' } },
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['image'],
        properties: { image: { type: 'string', format: 'binary' } },
      },
    },
  },
};

const thresholdParams = [
  { name: 'confidence', in: 'query', schema: { type: 'number', minimum: 0, maximum: 1 }, description: 'minimum score (default from the configuration, usually 0.25)' },
  { name: 'iou', in: 'query', schema: { type: 'number', minimum: 0, maximum: 1 }, description: 'NMS IoU threshold (default 0.45)' },
  { name: 'maxDetections', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000 }, description: 'most boxes returned (default 300)' },
];

const inferenceErrors = {
  '400': errorResponse('Empty body or invalid parameters'),
  '413': errorResponse('Body over the byte limit, or too many pixels'),
  '415': errorResponse('Not a JPEG, PNG or WebP image'),
  '422': errorResponse('Corrupt, truncated or zero-size image'),
  '503': errorResponse('Queue full, model not ready or inference timed out; see Retry-After'),
};

const detectOperation = (operationId: string, summary: string, response: string) => ({
  operationId,
  summary,
  tags: ['inference'],
  parameters: thresholdParams,
  requestBody: imageBody,
  responses: {
    '200': { description: 'Detections', content: { 'application/json': { schema: { $ref: `#/components/schemas/${response}` } } } },
    ...inferenceErrors,
  },
});

/** Open Inference Protocol routes answer errors as `{"error": "..."}`. */
const oipError = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/V2Error' } } },
});

/** The served model's name and version, as examples (fuzzers and Swagger UI start from them). */
export interface ServedModel {
  name: string;
  version: string;
}

const modelParams = (versioned: boolean, served?: ServedModel) => [
  { name: 'name', in: 'path', required: true, schema: { type: 'string' }, ...(served ? { example: served.name } : {}) },
  ...(versioned ? [{ name: 'version', in: 'path', required: true, schema: { type: 'string' }, ...(served ? { example: served.version } : {}) }] : []),
];

const v2Metadata = (versioned: boolean, served?: ServedModel) => ({
  get: {
    operationId: versioned ? 'v2ModelVersionMetadata' : 'v2ModelMetadata', tags: ['models'], summary: 'Open Inference Protocol model metadata',
    parameters: modelParams(versioned, served),
    responses: { '200': plain('Model metadata', { $ref: '#/components/schemas/V2ModelMetadata' }), '404': oipError('No such model'), '503': oipError('Model not loaded') },
  },
});

const v2Ready = (versioned: boolean, served?: ServedModel) => {
  const body = { type: 'object', required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { type: 'boolean' } } };
  return {
    get: {
      operationId: versioned ? 'v2ModelVersionReady' : 'v2ModelReady', tags: ['models'], summary: 'Open Inference Protocol model readiness',
      parameters: modelParams(versioned, served),
      responses: { '200': plain('Ready', body), '503': plain('Not ready', body), '404': oipError('No such model') },
    },
  };
};

const v2Infer = (versioned: boolean, served?: ServedModel) => ({
  post: {
    operationId: versioned ? 'v2ModelVersionInfer' : 'v2ModelInfer', tags: ['inference'],
    summary: 'Open Inference Protocol inference: the model on your tensor, its raw outputs back',
    description:
      'The input is the tensor the model takes (see the model metadata: FP32 [1, 3, S, S], RGB in [0, 1], letterboxed as YOLO expects); ' +
      'the outputs are the model\'s own, not decoded into boxes (use /v1/detect for that). JSON tensor data, flat or nested in ' +
      'row-major order, or Triton\'s binary tensor data extension (an `Inference-Header-Content-Length` header, then the raw bytes) as tritonclient sends by default.',
    parameters: [
      ...modelParams(versioned, served),
      { name: 'Inference-Header-Content-Length', in: 'header', required: false, schema: { type: 'integer', minimum: 0 }, description: 'binary tensor data: the length of the JSON header at the start of the body' },
    ],
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: { $ref: '#/components/schemas/V2InferRequest' } },
        'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
      },
    },
    responses: {
      '200': {
        description: 'The outputs; with binary_data requested, a JSON header of Inference-Header-Content-Length bytes and then the tensors',
        content: {
          'application/json': { schema: { $ref: '#/components/schemas/V2InferResponse' } },
          'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
        },
      },
      '400': oipError('Not an inference request for this model (names the problem)'),
      '404': oipError('No such model or version'),
      '413': oipError('Body over the byte limit'),
      '503': oipError('Queue full, model not ready, memory bound or timeout; see Retry-After'),
    },
  },
});

const plain = (description: string, schema: object) => ({
  description,
  content: { 'application/json': { schema } },
});

const readiness = {
  type: 'object',
  required: ['ready', 'checks'],
  properties: {
    ready: { type: 'boolean' },
    checks: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['ok'],
        properties: { ok: { type: 'boolean' }, reason: { type: 'string' } },
      },
    },
  },
};

export function openApiDocument(version: string, served?: ServedModel) {
  return {
    openapi: '3.0.3',
    info: {
      title: 'visionops inference server',
      version,
      description: 'YOLO object detection (ONNX) followed by OCR of the detected regions. Errors are `{"error": {"code", "message"}}`.',
    },
    tags: [{ name: 'inference' }, { name: 'models' }, { name: 'health' }],
    paths: {
      '/v1/detect': { post: detectOperation('detect', 'Detect objects in an image', 'DetectResponse') },
      '/v1/read': {
        post: {
          ...detectOperation('read', 'Detect objects and read the text of the OCR classes, and the identity documents (document pipeline)', 'DetectResponse'),
          responses: {
            '200': {
              description: 'Detections; with the document pipeline, `documents`',
              content: {
                'application/json': {
                  schema: { $ref: '#/components/schemas/DetectResponse' },
                  examples: {
                    identityCard: {
                      summary: 'An ID card (document pipeline; the ICAO specimen)',
                      value: {
                        requestId: '7d0c2f51-4c1e-4a8e-9d0b-1f3c2b7a9e10', model: { name: 'document-detector', version: 'bundled' }, width: 1280, height: 960,
                        format: 'jpeg', sha256: '9f2b6f3c2d1e0a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d',
                        detections: [{ class: 'td1', classId: 0, score: 0.93, box: documentExample.box }],
                        documents: [documentExample],
                        timings: { decodeMs: 14.2, queueMs: 0.1, letterboxMs: 4.0, inferenceMs: 61.5, postprocessMs: 1.2, documentsMs: 212.7, totalMs: 296.3 },
                      },
                    },
                  },
                },
              },
            },
            ...inferenceErrors,
          },
        },
      },
      '/v1/models': {
        get: { operationId: 'listModels', tags: ['models'], summary: 'The served model', responses: { '200': plain('Models', { $ref: '#/components/schemas/ModelList' }) } },
      },
      '/v2': {
        get: {
          operationId: 'v2ServerMetadata', tags: ['health'], summary: 'Open Inference Protocol server metadata',
          responses: { '200': plain('Server metadata', { $ref: '#/components/schemas/V2ServerMetadata' }) },
        },
      },
      '/v2/health/live': {
        get: { operationId: 'v2Live', tags: ['health'], summary: 'Open Inference Protocol liveness', responses: { '200': plain('Live', { type: 'object', required: ['live'], properties: { live: { type: 'boolean' } } }) } },
      },
      '/v2/health/ready': {
        get: {
          operationId: 'v2Ready', tags: ['health'], summary: 'Open Inference Protocol readiness',
          responses: {
            '200': plain('Ready', { type: 'object', required: ['ready'], properties: { ready: { type: 'boolean' } } }),
            '503': plain('Not ready', { type: 'object', required: ['ready'], properties: { ready: { type: 'boolean' } } }),
          },
        },
      },
      '/v2/models/{name}': v2Metadata(false, served),
      '/v2/models/{name}/versions/{version}': v2Metadata(true, served),
      '/v2/models/{name}/ready': v2Ready(false, served),
      '/v2/models/{name}/versions/{version}/ready': v2Ready(true, served),
      '/v2/models/{name}/infer': v2Infer(false, served),
      '/v2/models/{name}/versions/{version}/infer': v2Infer(true, served),
      '/healthz': { get: { operationId: 'healthz', tags: ['health'], summary: 'Liveness: the process answers', responses: { '200': plain('Alive', { type: 'object', required: ['status'], properties: { status: { type: 'string' } } }) } } },
      '/readyz': {
        get: {
          operationId: 'readyz', tags: ['health'], summary: 'Readiness: model loaded and warmed up by a real inference, OCR workers up',
          responses: { '200': plain('Ready', readiness), '503': plain('Not ready: `checks` says what is missing', readiness) },
        },
      },
      '/metrics': { get: { operationId: 'metrics', tags: ['health'], summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    },
    components: {
      schemas: {
        Box: box,
        ...documentSchemas,
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string', example: 'corrupt_image' }, message: { type: 'string' }, requestId: { type: 'string' } },
            },
          },
        },
        Detection: {
          type: 'object',
          required: ['class', 'classId', 'score', 'box'],
          properties: {
            class: { type: 'string' },
            classId: { type: 'integer', minimum: 0 },
            score: { type: 'number', minimum: 0, maximum: 1 },
            box,
            text: { type: 'string', description: '/v1/read only: normalised text of an OCR class' },
            rawText: { type: 'string', description: '/v1/read only: text as the recognizer (or tesseract) read it, before normalising and layout correction' },
            textConfidence: {
              type: 'number',
              minimum: 0,
              maximum: 1,
              description: "/v1/read only: the read's confidence; with a calibrated recognizer, the probability that the text is exactly right",
            },
            textUncertain: {
              type: 'boolean',
              description: "/v1/read only: true when textConfidence is below the OCR class's uncertainBelow (default 0.9): check the read before acting on it",
            },
            textFormat: {
              type: 'string',
              description: "/v1/read only, OCR classes with formats: the template the text fits, corrected where needed (e.g. LL-DDD-LL); absent when the read fits none",
            },
          },
        },
        DetectResponse: {
          type: 'object',
          required: ['requestId', 'model', 'width', 'height', 'format', 'sha256', 'detections', 'timings'],
          properties: {
            requestId: { type: 'string' },
            model: { type: 'object', required: ['name', 'version'], properties: { name: { type: 'string' }, version: { type: 'string' } } },
            width: { type: 'integer', minimum: 1 },
            height: { type: 'integer', minimum: 1 },
            format: { type: 'string', enum: ['jpeg', 'png', 'webp'] },
            sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            archived: { type: 'boolean', description: 'present when an archive is configured' },
            ocrSkipped: {
              type: 'integer', minimum: 0,
              description: '/v1/read only: detections of OCR classes left without text by the request budget (scored under budget.ocrMinScore, or past budget.ocrMaxBoxes)',
            },
            detections: { type: 'array', items: { $ref: '#/components/schemas/Detection' } },
            documents: {
              type: 'array',
              items: { $ref: '#/components/schemas/Document' },
              description: '/v1/read with the document pipeline (server config `documents`): each identity document found, most confident first',
            },
            timings: {
              type: 'object',
              description: 'milliseconds per stage',
              required: ['decodeMs', 'queueMs', 'letterboxMs', 'inferenceMs', 'postprocessMs', 'totalMs'],
              properties: {
                decodeMs: { type: 'number' }, queueMs: { type: 'number' }, letterboxMs: { type: 'number' },
                inferenceMs: { type: 'number' }, postprocessMs: { type: 'number' }, ocrMs: { type: 'number' },
                documentsMs: { type: 'number' }, archiveMs: { type: 'number' }, totalMs: { type: 'number' },
              },
            },
          },
        },
        ModelList: {
          type: 'object',
          required: ['models'],
          properties: {
            models: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'version', 'ready'],
                properties: {
                  name: { type: 'string' }, version: { type: 'string' }, ready: { type: 'boolean' },
                  source: { type: 'string', description: 'where the model came from, e.g. models:/plate-detector/7' },
                  format: { type: 'string', enum: ['yolov5', 'yolov8'] },
                  inputShape: { type: 'array', items: { type: 'integer' } },
                  outputShape: { type: 'array', items: { type: 'integer' } },
                  classes: { type: 'array', items: { type: 'string' } },
                  ocrClasses: { type: 'array', items: { type: 'string' } },
                  thresholds: { type: 'object', properties: { confidence: { type: 'number' }, iou: { type: 'number' }, maxDetections: { type: 'integer' } } },
                  sha256: { type: 'string' },
                  reason: { type: 'string', description: 'why the model is not ready' },
                },
              },
            },
          },
        },
        V2ModelMetadata: {
          type: 'object',
          required: ['name', 'platform', 'inputs', 'outputs'],
          properties: {
            name: { type: 'string' },
            versions: { type: 'array', items: { type: 'string' } },
            platform: { type: 'string' },
            inputs: { type: 'array', items: { $ref: '#/components/schemas/V2Tensor' } },
            outputs: { type: 'array', items: { $ref: '#/components/schemas/V2Tensor' } },
          },
        },
        V2Tensor: {
          type: 'object',
          required: ['name', 'datatype', 'shape'],
          properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } },
        },
        V2Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
        V2ServerMetadata: {
          type: 'object',
          required: ['name', 'version', 'extensions'],
          properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
        },
        V2InferRequest: {
          type: 'object',
          required: ['inputs'],
          properties: {
            id: { type: 'string' },
            parameters: { type: 'object', description: 'binary_data_output: true sends every output as binary tensor data' },
            inputs: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'shape', 'datatype'],
                properties: {
                  name: { type: 'string' },
                  shape: { type: 'array', items: { type: 'integer' } },
                  datatype: { type: 'string' },
                  parameters: { type: 'object', description: 'binary_data_size: the bytes of this tensor after the JSON header' },
                  data: { description: 'the values, flat or nested in row-major order' },
                },
              },
            },
            outputs: {
              type: 'array',
              items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, parameters: { type: 'object', description: 'binary_data: true' } } },
            },
          },
        },
        V2InferResponse: {
          type: 'object',
          required: ['model_name', 'outputs'],
          properties: {
            model_name: { type: 'string' },
            model_version: { type: 'string' },
            id: { type: 'string' },
            parameters: { type: 'object' },
            outputs: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'shape', 'datatype'],
                properties: {
                  name: { type: 'string' },
                  shape: { type: 'array', items: { type: 'integer' } },
                  datatype: { type: 'string' },
                  parameters: { type: 'object' },
                  data: { type: 'array', description: 'flat, row-major; absent when sent as binary' },
                },
              },
            },
          },
        },
      },
    },
  };
}
