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

export function openApiDocument(version: string) {
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
      '/v2/models/{name}': {
        get: {
          operationId: 'v2ModelMetadata', tags: ['models'], summary: 'Open Inference Protocol model metadata',
          parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': plain('Model metadata', { $ref: '#/components/schemas/V2ModelMetadata' }), '404': errorResponse('No such model'), '503': errorResponse('Model not loaded') },
        },
      },
      '/v2/models/{name}/ready': {
        get: {
          operationId: 'v2ModelReady', tags: ['models'], summary: 'Open Inference Protocol model readiness',
          parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': plain('Ready', { type: 'object', required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { type: 'boolean' } } }),
            '503': plain('Not ready', { type: 'object', required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { type: 'boolean' } } }),
            '404': errorResponse('No such model'),
          },
        },
      },
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
      },
    },
  };
}
