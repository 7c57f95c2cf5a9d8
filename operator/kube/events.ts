import { ApiException, type CoreV1Api, PatchStrategy, setHeaderOptions, type V1ObjectReference } from '@kubernetes/client-node';
import type { EventSpec } from '../controller/transitions.js';
import { errorMessage, type Logger } from '../log.js';

/** A repeat of the same event within this window bumps the count of the first instead of adding one. */
const AGGREGATION_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 4096;

interface Sent {
  name: string;
  namespace: string;
  count: number;
  atMs: number;
}

/**
 * Writes core/v1 Events the way client-go's recorder does: named <object>.<hex time>, and a
 * repeated event (same object, type, reason, message) patches count and lastTimestamp of the
 * earlier one, so a flapping condition does not flood the namespace. Best effort: a failed
 * event is logged and never fails a reconcile.
 */
export class EventRecorder {
  private readonly sent = new Map<string, Sent>();
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;

  constructor(
    private readonly core: CoreV1Api,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  /** Records in the background; flush() waits for what is in flight. */
  record(involved: V1ObjectReference & { name: string; namespace: string }, event: EventSpec): void {
    const p = this.write(involved, event).catch((err: unknown) => {
      this.log.warn('could not record event', { object: `${involved.namespace}/${involved.name}`, reason: event.reason, error: errorMessage(err) });
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async write(involved: V1ObjectReference & { name: string; namespace: string }, event: EventSpec): Promise<void> {
    const key = [involved.uid, event.type, event.reason, event.message].join('\u0000');
    const now = new Date();
    const earlier = this.sent.get(key);
    if (earlier && now.getTime() - earlier.atMs < AGGREGATION_WINDOW_MS) {
      try {
        await this.core.patchNamespacedEvent(
          { name: earlier.name, namespace: earlier.namespace, body: { count: earlier.count + 1, lastTimestamp: now } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        earlier.count++;
        earlier.atMs = now.getTime();
        return;
      } catch (err) {
        // Expired (events live an hour) or deleted: start a new one.
        if (!(err instanceof ApiException && err.code === 404)) throw err;
      }
    }
    const name = `${involved.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
    await this.core.createNamespacedEvent({
      namespace: involved.namespace,
      body: {
        metadata: { name, namespace: involved.namespace },
        involvedObject: involved,
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    this.remember(key, { name, namespace: involved.namespace, count: 1, atMs: now.getTime() });
  }

  private remember(key: string, sent: Sent): void {
    this.sent.delete(key);
    this.sent.set(key, sent);
    // Map iteration is insertion order: the first key is the least recently sent.
    if (this.sent.size > MAX_REMEMBERED) this.sent.delete(this.sent.keys().next().value as string);
  }
}
