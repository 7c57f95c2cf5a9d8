import type { ServerConfig } from '../../contract/server-config.js';
import { cgroupMemoryLimit } from './cgroup-memory.js';
import { MemoryGuard } from './memory-guard.js';
import { RequestBudget, type BudgetLimits } from './request-budget.js';

/**
 * The server's side of the budget: the memory guard every request reserves from, and the limits
 * each request gets. The HTTP layer opens a budget before it reads a body; the service spends it.
 */

/** What a body costs while it is read and parsed: the buffered bytes, plus the copy raw-body/multer concatenate. */
export function bodyEstimate(bytes: number, kind: 'image' | 'json'): number {
  // JSON tensors: the text, the parsed numbers (8 bytes each for ~2-10 characters) and the Float32Array.
  return kind === 'json' ? bytes * 6 : bytes * 2;
}

/** Decoded RGB pixels, held from decode until OCR finishes, and libvips's buffer while it decodes. */
export function pixelEstimate(width: number, height: number): number {
  return width * height * 3 * 2;
}

export class Budgets {
  readonly memory: MemoryGuard;

  constructor(private readonly config: ServerConfig) {
    const b = config.budget;
    const containerLimit = cgroupMemoryLimit();
    this.memory = new MemoryGuard({
      headroom: b.memoryHeadroom,
      limitRatio: b.memoryLimitRatio,
      ...(b.maxRss !== undefined ? { maxRss: b.maxRss } : {}),
      ...(containerLimit !== undefined ? { containerLimit } : {}),
    });
  }

  get limits(): BudgetLimits {
    const b = this.config.budget;
    return {
      ocrMaxBoxes: b.ocrMaxBoxes,
      ocrMinScore: b.ocrMinScore ?? this.config.model.thresholds.confidence,
      recognizerBatch: b.recognizerBatch,
      cropsInFlight: b.cropsInFlight,
    };
  }

  /** A request's budget, its body's memory reserved; throws MemoryPressureError (503) past the bound. */
  open(bodyBytes: number, kind: 'image' | 'json'): RequestBudget {
    const reservation = this.memory.reserve(bodyEstimate(bodyBytes, kind), `a ${Math.ceil(bodyBytes / 1024)} KiB request body`);
    return new RequestBudget(this.limits, reservation);
  }

  /** For the server's own runs (warm-up): the limits, no reservation, no deadline. */
  internal(): RequestBudget {
    return new RequestBudget(this.limits);
  }
}
