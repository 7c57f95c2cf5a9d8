import { createServer, STATUS_CODES, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';
import type { ServerConfig } from '../../contract/server-config.js';
import type { Logger } from '../logging.js';

/**
 * The HTTP listener: header and body timeouts as configured, a JSON answer to what Node rejects
 * before express sees a request (a slow client, an oversized header, a request that does not
 * parse), and a clear error when the port cannot be taken.
 */

/** Exit code of a server that cannot bind its port (in use, no permission); 3 is a model that cannot be served. */
export const PORT_UNAVAILABLE_EXIT_CODE = 4;

/** The port cannot be bound: the CLI says why and exits PORT_UNAVAILABLE_EXIT_CODE. */
export class ListenError extends Error {
  override name = 'ListenError';
}

/** How often Node checks the timeouts: they fire at most this long after their limit. */
const CHECK_INTERVAL_MS = 500;

/** The settings that choose each port, named when it cannot be taken. */
const PORT_SETTINGS = { api: '--port, PORT or server.port', health: 'server.healthPort' } as const;

/** Listens on the API port (server.port) or the probes' own port (server.healthPort). */
export function listen(app: Express, config: ServerConfig, log: Logger, which: 'api' | 'health' = 'api'): Promise<Server> {
  const port = which === 'api' ? config.server.port : config.server.healthPort;
  if (port === undefined) throw new Error('server.healthPort is not set');
  const setting = PORT_SETTINGS[which];
  const { headersTimeoutMs, bodyTimeoutMs, host } = config.server;
  const server = createServer({
    // Node requires headersTimeout <= requestTimeout; the whole request includes its headers.
    headersTimeout: Math.min(headersTimeoutMs, bodyTimeoutMs),
    requestTimeout: bodyTimeoutMs,
    connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, headersTimeoutMs),
  }, app);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, config, log));
  return new Promise<Server>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, port, host, setting)));
    server.listen(port, host, () => resolve(server));
  });
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string, setting: string): Error {
  const where = `port ${port} on ${host}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new ListenError(`${where} is already in use: another process listens there; stop it or choose another port (${setting})`);
    case 'EACCES':
      return new ListenError(`no permission to listen on ${where} (ports below 1024 need privileges); choose another port (${setting})`);
    case 'EADDRNOTAVAIL':
      return new ListenError(`cannot listen on ${where}: ${host} is not an address of this machine (server.host)`);
    default:
      return new ListenError(`cannot listen on ${where}: ${err.message}`);
  }
}

/** Node's own answer would be a bare "408 Request Timeout" or "400 Bad Request"; ours is the API's JSON error. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket, config: ServerConfig, log: Logger): void {
  const res = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || res?.headersSent) {
    socket.destroy();
    return;
  }
  let status = 400;
  let code = 'bad_request';
  let message = `the request could not be parsed: ${err.message}`;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    // A response object exists once the headers were parsed: then it was the body that was slow.
    code = res ? 'body_timeout' : 'headers_timeout';
    message = res
      ? `the request body did not arrive within ${config.server.bodyTimeoutMs} ms`
      : `the request headers did not arrive within ${Math.min(config.server.headersTimeoutMs, config.server.bodyTimeoutMs)} ms`;
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    code = 'headers_too_large';
    message = 'the request headers are too large';
  }
  log.info('request refused before routing', { status, code, reason: err.code ?? err.message });
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.destroySoon();
}
