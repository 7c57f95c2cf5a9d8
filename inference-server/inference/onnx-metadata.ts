import { readFile } from 'node:fs/promises';
import protobuf from 'protobufjs';

/**
 * onnxruntime-node exposes input/output shapes but not the model's custom metadata, where YOLO
 * exports keep `names` and `stride`. Decode just ModelProto.metadata_props (field 14); protobufjs
 * skips the graph and weights without materialising them.
 */
const root = protobuf.Root.fromJSON({
  nested: {
    StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    ModelProto: {
      fields: {
        irVersion: { type: 'int64', id: 1 },
        producerName: { type: 'string', id: 2 },
        metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
      },
    },
  },
});
const ModelProto = root.lookupType('ModelProto');

export interface OnnxFileMetadata {
  producerName: string;
  props: Record<string, string>;
}

export class NotOnnxError extends Error {
  override name = 'NotOnnxError';
}

export function decodeOnnxMetadata(bytes: Uint8Array): OnnxFileMetadata {
  let decoded: { irVersion?: unknown; producerName?: string; metadataProps?: { key?: string; value?: string }[] };
  try {
    decoded = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: true }) as typeof decoded;
  } catch (err) {
    throw new NotOnnxError(`not an ONNX model: ${(err as Error).message}`);
  }
  if (!decoded.irVersion) throw new NotOnnxError('not an ONNX model: no ir_version');
  const props: Record<string, string> = {};
  for (const p of decoded.metadataProps ?? []) if (p.key) props[p.key] = p.value ?? '';
  return { producerName: decoded.producerName ?? '', props };
}

export async function readOnnxMetadata(path: string): Promise<OnnxFileMetadata> {
  return decodeOnnxMetadata(await readFile(path));
}
