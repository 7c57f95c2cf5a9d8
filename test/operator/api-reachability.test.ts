import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { ApiReachability, isOutageStatus } from '../../operator/kube/api-reachability.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { log, lines };
}

describe('API server reachability: loud, rate-limited outage logs', () => {
  it('logs the start of an outage at once, then at most every reportEveryMs, then its end', () => {
    const { log, lines } = capture();
    let now = 0;
    const changes: boolean[] = [];
    const r = new ApiReachability({ log, reportEveryMs: 10_000, now: () => now, onChange: (up) => changes.push(up) });
    r.observe('GET', '/version', 200);
    expect(lines).to.deep.equal([]);
    r.observe('PUT', '/apis/coordination.k8s.io/v1/namespaces/x/leases/l', 0, new Error('connect ECONNREFUSED 127.0.0.1:6443'));
    for (now = 500; now < 25_000; now += 500) r.observe('GET', '/version', 0, new Error('connect ECONNREFUSED 127.0.0.1:6443'));
    r.observe('GET', '/api/v1/pods', 403); // a refusal is an answer: the outage ends here
    now = 26_000;
    r.observe('GET', '/version', 200);
    expect(lines.map((l) => [l.level, l.message])).to.deep.equal([
      ['error', 'cannot reach the API server; retrying with backoff'],
      ['error', 'the API server is still unreachable'],
      ['error', 'the API server is still unreachable'],
      ['warn', 'the API server answers again'],
    ]);
    expect(lines[0]).to.include({ request: 'PUT /apis/coordination.k8s.io/v1/namespaces/x/leases/l', error: 'connect ECONNREFUSED 127.0.0.1:6443' });
    expect(lines[1]).to.include({ downForMs: 10_000, failedRequests: 21 });
    expect(lines[3]).to.include({ downForMs: 25_000, failedRequests: 50 });
    expect(changes).to.deep.equal([false, true]);
  });

  it('counts no answer, 429 and 5xx as the API server in trouble, not refusals like 403, 404 or 409', () => {
    expect([0, 429, 500, 503].every(isOutageStatus)).to.equal(true);
    expect([200, 201, 403, 404, 409, 422].some(isOutageStatus)).to.equal(false);
  });
});
