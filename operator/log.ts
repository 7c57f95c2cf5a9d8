import winston from 'winston';

export type Logger = winston.Logger;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * One JSON object per line on stdout, as log collectors in a cluster expect. `silent` is for tests
 * that run the manager in-process: the mocha report stays readable.
 */
export function createLogger(level: LogLevel = 'info', opts: { silent?: boolean; defaultMeta?: Record<string, unknown> } = {}): Logger {
  return winston.createLogger({
    level,
    silent: opts.silent ?? false,
    defaultMeta: { logger: 'visionops-operator', ...opts.defaultMeta },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

/** The message of anything thrown, including client-node's ApiException (whose message embeds the whole response). */
export function errorMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && 'body' in err) {
    const body = (err as { body: unknown }).body;
    const parsed = typeof body === 'string' ? safeJson(body) : body;
    const message = parsed && typeof parsed === 'object' && 'message' in parsed ? String((parsed as { message: unknown }).message) : undefined;
    return `HTTP ${String((err as { code: unknown }).code)}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
