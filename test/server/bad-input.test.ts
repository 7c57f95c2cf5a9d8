import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import { MODELS, startTestServer } from './helpers.js';

/** A PNG whose header claims width x height; the pixel data is one compressed row, never enough. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1 + Math.min(width, 1000) * 3))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('bad input: clear 4xx, never a 500 or a crash', function () {
  let s: RunningServer;
  let jpeg: Buffer;
  before(async () => {
    s = await startTestServer({
      model: { path: join(MODELS, 'yolov5-const.onnx') },
      server: { bodyLimit: '256KiB' },
      image: { maxPixels: 4_000_000 },
    });
    jpeg = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#777' } }).jpeg().toBuffer();
  });
  after(() => s?.shutdown());

  const post = (body: Buffer | string, type?: string, path = '/v1/detect') => {
    const r = request(s.url).post(path);
    if (type) r.set('Content-Type', type);
    return r.send(body);
  };

  const cases: [string, () => Promise<request.Response>, number, string][] = [
    ['an empty body', () => post(Buffer.alloc(0), 'image/jpeg'), 400, 'empty_body'],
    ['no content type at all', () => request(s.url).post('/v1/detect'), 415, 'unsupported_media_type'],
    ['a JSON body', () => post('{"image":"x"}', 'application/json'), 415, 'unsupported_media_type'],
    ['text/plain', () => post('hello', 'text/plain', '/v1/read'), 415, 'unsupported_media_type'],
    ['bytes that are no image', () => post(Buffer.from('definitely not a picture'), 'image/png'), 415, 'unsupported_image'],
    ['a GIF (format not served)', () => post(Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64'), 'image/png'), 415, 'unsupported_image'],
    ['a truncated JPEG', () => post(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 'image/jpeg'), 422, 'corrupt_image'],
    ['a corrupted JPEG body', () => post(Buffer.concat([jpeg.subarray(0, 200), Buffer.alloc(jpeg.length - 200, 0x55)]), 'image/jpeg'), 422, 'corrupt_image'],
    ['a PNG whose pixel data is missing', () => post(pngHeaderOnly(300, 200), 'image/png'), 422, 'corrupt_image'],
    ['a zero-width image header', () => post(pngHeaderOnly(0, 10), 'image/png'), 422, 'corrupt_image'],
    ['a decompression bomb (30000x30000 header, tiny file)', () => post(pngHeaderOnly(30000, 30000), 'image/png'), 413, 'image_too_large'],
    ['a body over the byte limit', () => post(Buffer.alloc(300 * 1024, 1), 'image/jpeg'), 413, 'body_too_large'],
    ['a multipart file over the byte limit', () => request(s.url).post('/v1/detect').attach('image', Buffer.alloc(300 * 1024, 1), 'big.jpg'), 413, 'body_too_large'],
    ['a multipart form without the image field', () => request(s.url).post('/v1/detect').attach('photo', jpeg, 'a.jpg'), 400, 'invalid_request'],
    ['a malformed multipart part header', () => post('--XX\r\nfoo\r\n\r\nbar\r\n--XX--\r\n', 'multipart/form-data; boundary=XX'), 400, 'invalid_multipart'],
    ['a multipart body of garbage', () => post(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), 'multipart/form-data; boundary=----x'), 400, 'invalid_multipart'],
    ['a multipart form cut off before its end', () => post('------x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff', 'multipart/form-data; boundary=----x'), 400, 'invalid_multipart'],
    ['multipart without a boundary', () => post('whatever', 'multipart/form-data'), 400, 'invalid_multipart'],
    ['a multipart form with two files', () => request(s.url).post('/v1/detect').attach('image', jpeg, 'a.jpg').attach('image', jpeg, 'b.jpg'), 400, 'invalid_multipart'],
    ['a confidence above 1', () => post(jpeg, 'image/jpeg').query({ confidence: 1.5 }), 400, 'invalid_request'],
    ['a non-numeric iou', () => request(s.url).post('/v1/detect?iou=abc').set('Content-Type', 'image/jpeg').send(jpeg), 400, 'invalid_request'],
    ['an unknown query parameter', () => request(s.url).post('/v1/detect?conf=0.3').set('Content-Type', 'image/jpeg').send(jpeg), 400, 'invalid_request'],
    ['a GET on an inference route', () => request(s.url).get('/v1/detect'), 405, 'method_not_allowed'],
    ['an unknown route', () => request(s.url).get('/v1/nothing'), 404, 'not_found'],
  ];

  for (const [what, send, status, code] of cases) {
    it(`${what} -> ${status} ${code}`, async () => {
      const r = await send();
      expect(r.status, JSON.stringify(r.body)).to.equal(status);
      expect(r.headers['content-type']).to.match(/application\/json/);
      expect(r.body.error.code).to.equal(code);
      expect(r.body.error.message).to.be.a('string').with.length.greaterThan(10);
    });
  }

  it('names the field when a parameter is wrong', async () => {
    const r = await post(jpeg, 'image/jpeg').query({ maxDetections: 0 });
    expect(r.body.error.message).to.include('maxDetections');
  });

  it('names the limit for oversized images', async () => {
    const r = await post(pngHeaderOnly(30000, 30000), 'image/png');
    expect(r.body.error.message).to.include('30000x30000').and.include('4000000');
  });

  it('still serves good requests after all of the above, and never answered 500', async () => {
    const r = await post(jpeg, 'image/jpeg').expect(200);
    expect(r.body.detections).to.be.an('array').that.is.not.empty;
    const metrics = (await request(s.url).get('/metrics')).text;
    expect(metrics).to.not.match(/status="5\d\d"/);
  });
});
