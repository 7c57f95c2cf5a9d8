/**
 * Open Inference Protocol (KServe V2) tensors over HTTP: the JSON request and response of
 * `POST /v2/models/{name}/infer`, and Triton's binary tensor data extension that tritonclient uses
 * by default (a JSON header of `Inference-Header-Content-Length` bytes, then each tensor's raw
 * little-endian bytes in order; `parameters.binary_data_size` says how many). Pure functions: the
 * route parses with them, runs the model and encodes the answer.
 */

/** A client's mistake, answered 400 `{"error": message}` as the protocol specifies. */
export class OipError extends Error {
  override name = 'OipError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface ModelInput {
  name: string;
  /** only FP32: what the served YOLO exports take */
  datatype: 'FP32';
  shape: number[];
}

export interface ParsedRequest {
  id?: string;
  input: { name: string; shape: number[]; data: Float32Array };
  /** output names asked for, each with whether it goes back as binary; undefined: all, as `binaryAll` says */
  outputs?: { name: string; binary: boolean }[];
  binaryAll: boolean;
}

export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array | BigInt64Array | Float64Array | Int8Array | Int16Array | Uint16Array | Uint32Array | BigUint64Array;
}

/** onnxruntime tensor types -> OIP datatypes. */
export const DATATYPES: Record<string, string> = {
  float32: 'FP32', float64: 'FP64', float16: 'FP16', int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64', bool: 'BOOL',
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The request `body` (the bytes of the HTTP body) for a model taking `model`. `headerLength` is the
 * Inference-Header-Content-Length header when the client used binary tensor data.
 */
export function parseInferRequest(body: Buffer, headerLength: string | undefined, model: ModelInput): ParsedRequest {
  let jsonBytes = body;
  let binary: Buffer | undefined;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!/^\d+$/.test(headerLength.trim()) || n > body.length) {
      throw new OipError(`Inference-Header-Content-Length ${JSON.stringify(headerLength)} is not a length within the ${body.length}-byte body`);
    }
    jsonBytes = body.subarray(0, n);
    binary = body.subarray(n);
  }
  if (jsonBytes.length === 0) throw new OipError('the request has no body: expected an inference request, {"inputs": [...]}');
  let req: unknown;
  try {
    req = JSON.parse(jsonBytes.toString('utf8'));
  } catch (err) {
    throw new OipError(`the inference request is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(req)) throw new OipError('the inference request must be a JSON object with "inputs"');
  if (req.id !== undefined && typeof req.id !== 'string') throw new OipError('"id" must be a string');
  const params = optionalObject(req.parameters, '"parameters"');
  if (!Array.isArray(req.inputs) || req.inputs.length === 0) throw new OipError('"inputs" must be a non-empty array of tensors');
  if (req.inputs.length !== 1) throw new OipError(`the model takes one input, ${model.name}; the request has ${req.inputs.length}`);
  const input = parseInput(req.inputs[0], model, binary);
  let outputs: ParsedRequest['outputs'];
  if (req.outputs !== undefined) {
    if (!Array.isArray(req.outputs)) throw new OipError('"outputs" must be an array');
    outputs = req.outputs.map((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw new OipError(`outputs[${i}] must be an object with a "name"`);
      const p = optionalObject(o.parameters, `outputs[${i}].parameters`);
      if (p.binary_data !== undefined && typeof p.binary_data !== 'boolean') throw new OipError(`outputs[${i}].parameters.binary_data must be a boolean`);
      return { name: o.name, binary: p.binary_data === true };
    });
  }
  if (params.binary_data_output !== undefined && typeof params.binary_data_output !== 'boolean') {
    throw new OipError('parameters.binary_data_output must be a boolean');
  }
  return { ...(req.id !== undefined ? { id: req.id } : {}), input, ...(outputs ? { outputs } : {}), binaryAll: params.binary_data_output === true };
}

function optionalObject(v: unknown, what: string): Json {
  if (v === undefined) return {};
  if (!isObject(v)) throw new OipError(`${what} must be an object`);
  return v;
}

function parseInput(raw: unknown, model: ModelInput, binary: Buffer | undefined): ParsedRequest['input'] {
  if (!isObject(raw)) throw new OipError('inputs[0] must be an object with name, shape, datatype and data');
  const { name, shape, datatype } = raw;
  if (typeof name !== 'string') throw new OipError('inputs[0].name must be a string');
  if (name !== model.name) throw new OipError(`unexpected input "${name}": the model's input is "${model.name}"`);
  if (datatype !== model.datatype) throw new OipError(`input "${name}": datatype ${JSON.stringify(datatype)} is not the model's ${model.datatype}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d))) throw new OipError(`input "${name}": shape must be an array of integers`);
  if (shape.length !== model.shape.length || shape.some((d, i) => d !== model.shape[i])) {
    throw new OipError(`input "${name}": shape [${shape.join(', ')}] is not the model's [${model.shape.join(', ')}]`);
  }
  const count = model.shape.reduce((a, b) => a * b, 1);
  const params = optionalObject(raw.parameters, `input "${name}" parameters`);
  const binarySize = params.binary_data_size;
  if (binarySize !== undefined) {
    if (!binary) throw new OipError(`input "${name}" has binary_data_size but the request has no Inference-Header-Content-Length header`);
    if (binarySize !== count * 4) throw new OipError(`input "${name}": binary_data_size ${String(binarySize)} is not ${count} FP32 values (${count * 4} bytes)`);
    if (binary.length !== count * 4) throw new OipError(`input "${name}": the binary data after the header is ${binary.length} bytes, expected ${count * 4}`);
    if (raw.data !== undefined) throw new OipError(`input "${name}": give either data or binary_data_size, not both`);
    // Little-endian on the wire, as on every platform Node runs on; copied so the array is aligned.
    const data = new Float32Array(count);
    Buffer.from(data.buffer).set(binary);
    return { name, shape: [...model.shape], data: checkFinite(data, name) };
  }
  if (binary && binary.length > 0) throw new OipError(`${binary.length} bytes of binary data follow the header but no input has binary_data_size`);
  return { name, shape: [...model.shape], data: flatten(raw.data, count, name) };
}

/** JSON tensor data, flat or nested in row-major order, as `count` FP32 values. */
function flatten(data: unknown, count: number, name: string): Float32Array {
  if (!Array.isArray(data)) throw new OipError(`input "${name}": data must be an array of ${count} numbers (flat or nested)`);
  const out = new Float32Array(count);
  let n = 0;
  const stack: unknown[][] = [data];
  const at: number[] = [0];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const i = at[at.length - 1]!;
    if (i >= top.length) {
      stack.pop();
      at.pop();
      continue;
    }
    at[at.length - 1] = i + 1;
    const v = top[i];
    if (Array.isArray(v)) {
      if (stack.length > 16) throw new OipError(`input "${name}": data is nested too deep`);
      stack.push(v);
      at.push(0);
    } else if (typeof v === 'number' && Number.isFinite(v)) {
      if (n >= count) throw new OipError(`input "${name}": data has more than the ${count} values its shape holds`);
      out[n++] = v;
    } else {
      throw new OipError(`input "${name}": data holds ${JSON.stringify(v)}; FP32 data must be numbers`);
    }
  }
  if (n !== count) throw new OipError(`input "${name}": data has ${n} values; its shape holds ${count}`);
  return out;
}

function checkFinite(data: Float32Array, name: string): Float32Array {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new OipError(`input "${name}": value ${i} is not a finite number`);
  }
  return data;
}

/** Refuses, before the model runs, outputs the model does not have. */
export function checkRequestedOutputs(req: ParsedRequest, names: string[]): void {
  for (const want of req.outputs ?? []) {
    if (!names.includes(want.name)) throw new OipError(`unknown output "${want.name}": the model's outputs are ${names.map((n) => `"${n}"`).join(', ')}`);
  }
}

/**
 * The response: JSON, or with binary_data a JSON header plus the tensors' bytes (`headerLength` set:
 * the Inference-Header-Content-Length to send).
 */
export function encodeInferResponse(
  model: { name: string; version: string },
  req: ParsedRequest,
  outputs: OutputTensor[],
): { body: Buffer; headerLength?: number } {
  let chosen = outputs.map((o) => ({ tensor: o, binary: req.binaryAll }));
  if (req.outputs) {
    chosen = req.outputs.map((want) => {
      const tensor = outputs.find((o) => o.name === want.name);
      if (!tensor) throw new OipError(`unknown output "${want.name}": the model's outputs are ${outputs.map((o) => `"${o.name}"`).join(', ')}`);
      return { tensor, binary: want.binary || req.binaryAll };
    });
  }
  const chunks: Buffer[] = [];
  const json = {
    model_name: model.name,
    model_version: model.version,
    ...(req.id !== undefined ? { id: req.id } : {}),
    outputs: chosen.map(({ tensor, binary }) => {
      const head = { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape };
      if (!binary) return { ...head, data: jsonData(tensor) };
      const bytes = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
      chunks.push(bytes);
      return { ...head, parameters: { binary_data_size: bytes.length } };
    }),
  };
  const header = Buffer.from(JSON.stringify(json));
  if (chunks.length === 0) return { body: header };
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}

function jsonData({ data, datatype }: OutputTensor): (number | boolean)[] {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  if (datatype === 'BOOL') return Array.from(data as ArrayLike<number>, (v) => v !== 0);
  return Array.from(data as ArrayLike<number>);
}
