import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  defaultControllerRateLimiter,
  ExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  TokenBucketRateLimiter,
} from '../../operator/queue/rate-limiter.js';
import { WorkQueue, type QueueObserver } from '../../operator/queue/work-queue.js';

/** The next item, or 'blocked' where get() would wait (without leaving a waiting get() behind). */
async function next<K>(q: WorkQueue<K>): Promise<K | 'blocked' | undefined> {
  return q.length === 0 && !q.isShuttingDown ? 'blocked' : q.get();
}

describe('rate limiters', () => {
  it('backs off one item exponentially from 5 ms to 1000 s, independently of the others', () => {
    const rl = new ExponentialFailureRateLimiter<string>();
    expect([1, 2, 3, 4].map(() => rl.when('a'))).to.deep.equal([5, 10, 20, 40]);
    expect(rl.when('b')).to.equal(5);
    for (let i = 0; i < 40; i++) rl.when('a');
    expect(rl.when('a')).to.equal(1_000_000);
    expect(rl.retries('a')).to.equal(45);
    rl.forget('a');
    expect(rl.when('a')).to.equal(5);
  });

  it('lets a burst of 100 through at once, then 10 a second', () => {
    let now = 0;
    const rl = new TokenBucketRateLimiter<string>(10, 100, () => now);
    const burst = Array.from({ length: 100 }, (_, i) => rl.when(`k${i}`));
    expect(burst.every((d) => d === 0)).to.equal(true);
    expect(rl.when('x')).to.be.closeTo(100, 1e-9);
    expect(rl.when('y')).to.be.closeTo(200, 1e-9);
    now = 10_000; // refilled, but never above the burst
    const again = Array.from({ length: 100 }, () => rl.when('z'));
    expect(again.filter((d) => d > 0)).to.have.length(2);
  });

  it('combined, waits for whichever is slower', () => {
    let now = 0;
    const rl = defaultControllerRateLimiter<string>(() => now);
    expect(rl.when('a')).to.equal(5);
    for (let i = 0; i < 200; i++) rl.when(`other-${i}`);
    // The bucket is empty: a fresh item still waits for the global rate.
    expect(rl.when('fresh')).to.be.greaterThan(5000);
    now = 1_000_000;
    expect(rl.when('b')).to.equal(5);
    const max = new MaxOfRateLimiter<string>(new ExponentialFailureRateLimiter(1, 10), new ExponentialFailureRateLimiter(2, 10));
    expect(max.when('k')).to.equal(2);
    expect(max.retries('k')).to.equal(1);
  });
});

describe('work queue', () => {
  it('hands out an item added many times once', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).to.equal(2);
    expect(await next(q)).to.equal('a');
    expect(await next(q)).to.equal('b');
    expect(await next(q)).to.equal('blocked');
  });

  it('never gives an item to two workers: re-added while processing, it comes back once after done()', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    const item = await next(q);
    q.add('a');
    q.add('a');
    expect(await next(q)).to.equal('blocked');
    q.done(item as string);
    expect(await next(q)).to.equal('a');
    q.done('a');
    expect(await next(q)).to.equal('blocked');
  });

  it('hands out high-priority items first, and moves a queued item up when it is added again as high', async () => {
    const q = new WorkQueue<string>();
    q.add('status-1');
    q.add('status-2');
    q.add('new-1', 'high');
    q.add('status-2', 'high');
    q.add('new-1'); // a normal add does not move it down
    expect([await next(q), await next(q), await next(q)]).to.deep.equal(['new-1', 'status-2', 'status-1']);
    expect(q.length).to.equal(0);
  });

  it('re-queues an item added as high while processing in the high lane', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    const a = await q.get();
    q.add('b');
    q.add('a', 'high');
    q.done(a as string);
    expect(await next(q)).to.equal('a');
  });

  it('wakes a waiting worker when an item arrives', async () => {
    const q = new WorkQueue<string>();
    const got = q.get();
    q.add('x');
    expect(await got).to.equal('x');
  });

  it('adds after a delay, keeping the earliest of several delayed adds', async () => {
    const q = new WorkQueue<string>();
    q.addAfter('a', 200);
    q.addAfter('a', 20);
    expect(q.length).to.equal(0);
    await sleep(60);
    expect(q.length).to.equal(1);
    expect(await next(q)).to.equal('a');
    q.done('a');
    await sleep(200);
    expect(q.length, 'the later add was superseded, not repeated').to.equal(0);
  });

  it('retries a failing item with growing delays and counts retries', async () => {
    const q = new WorkQueue<string>({ rateLimiter: new ExponentialFailureRateLimiter(20, 1000) });
    q.addRateLimited('a');
    expect(q.numRequeues('a')).to.equal(1);
    expect(q.length).to.equal(0);
    await sleep(40);
    expect(q.length).to.equal(1);
    q.forget('a');
    expect(q.numRequeues('a')).to.equal(0);
  });

  it('reports depth, adds, waits, work time and retries', async () => {
    const seen = { added: 0, depth: [] as number[], queued: 0, worked: 0, retried: 0 };
    const observer: QueueObserver = {
      added: () => seen.added++,
      depth: (n) => seen.depth.push(n),
      queued: () => seen.queued++,
      worked: () => seen.worked++,
      retried: () => seen.retried++,
    };
    const q = new WorkQueue<string>({ observer });
    q.add('a');
    q.add('b');
    q.add('a');
    const a = await q.get();
    q.done(a!);
    q.addRateLimited('b');
    expect(seen).to.deep.equal({ added: 2, depth: [1, 2, 1], queued: 1, worked: 1, retried: 1 });
  });

  it('on shutdown, releases waiting workers and hands out nothing more', async () => {
    const q = new WorkQueue<string>();
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).to.equal(undefined);
    q.add('late');
    expect(await q.get()).to.equal(undefined);
  });

  it('drains: shutdownWithDrain resolves when the last in-flight item is done', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    q.add('b');
    const a = await q.get();
    q.add('a'); // dirty while processing: must not block the drain
    let drained = false;
    const d = q.shutdownWithDrain().then(() => (drained = true));
    await sleep(10);
    expect(drained).to.equal(false);
    q.done(a!);
    await d;
    expect(drained).to.equal(true);
  });
});
