import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { projectRoot } from '../../inference-server/project-root.js';
import { MODELS } from './helpers.js';
import { ready, waitFor, watch } from './server-process.js';

/**
 * `npm start` must stop when it is told to. npm runs the script with `sh -c`, and dash does not pass
 * a signal on to its child: npm used to exit 143 while node kept serving as an orphan. The script
 * now `exec`s node, so the server is npm's child and gets npm's forwarded signal itself.
 */

const refused = (url: string) =>
  new Promise<boolean>((resolve) => {
    http.get(url, { agent: false }, (res) => (res.resume(), resolve(false))).on('error', () => resolve(true));
  });

describe('npm start stops on SIGTERM and on Ctrl-C', function () {
  // The first start builds (tsc): a minute or two on a busy 2-core machine.
  this.timeout(10 * 60_000);

  const cases: [string, string[], (pid: number) => void][] = [
    ['SIGTERM to npm alone (what a supervisor sends)', [], (pid) => process.kill(pid, 'SIGTERM')],
    // The build of the case above is reused: --ignore-scripts skips only prestart.
    ['Ctrl-C at a terminal (SIGINT to the whole process group)', ['--ignore-scripts'], (pid) => process.kill(-pid, 'SIGINT')],
  ];
  for (const [how, flags, signal] of cases) {
    it(how, async () => {
      const npm = spawn('npm', ['start', ...flags, '--', '--port', '0', '--model', join(MODELS, 'yolov5-const.onnx')], {
        cwd: projectRoot(),
        detached: true,
        env: { ...process.env, LOG_LEVEL: 'info', VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1', VISIONOPS__SERVER__DRAIN_DELAY_MS: '500' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const p = watch(npm);
      let server: number | undefined;
      try {
        const base = await ready(p, 8 * 60_000);
        server = p.lines.find((l) => l.message === 'listening')!.pid as number;
        expect(server).to.be.a('number').and.not.equal(npm.pid);
        signal(npm.pid!);
        await p.exit;
        await waitFor('the server process to exit', () => (existsSync(`/proc/${server}`) ? undefined : true), 60_000);
        expect(await refused(`${base}/healthz`)).to.equal(true);
        expect(p.lines.some((l) => l.message === 'shutdown complete')).to.equal(true);
      } finally {
        try {
          process.kill(-npm.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
        if (server) {
          try {
            process.kill(server, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
    });
  }
});
