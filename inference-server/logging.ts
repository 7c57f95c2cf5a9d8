import { AsyncLocalStorage } from 'node:async_hooks';
import winston from 'winston';

/**
 * JSON logs, one object a line. The request id rides an AsyncLocalStorage so every line logged
 * while serving a request carries it, including lines from the pipeline that never saw `req`.
 */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

const addRequestId = winston.format((info) => {
  const ctx = requestContext.getStore();
  if (ctx && info.requestId === undefined) info.requestId = ctx.requestId;
  return info;
});

export type Logger = winston.Logger;

export function createLogger(level: string, component = 'inference-server', silent = false): Logger {
  return winston.createLogger({
    level,
    silent,
    defaultMeta: { component },
    format: winston.format.combine(addRequestId(), winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}
