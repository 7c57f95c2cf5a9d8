import { spawn } from 'node:child_process';

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Forward the child's stderr live (long Go builds print download progress there). */
  streamStderr?: boolean;
}

/** Runs a command to completion and returns its stdout; rejects with stderr on failure. */
export function runCommand(cmd: string, args: readonly string[], opts: CommandOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      if (opts.streamStderr) process.stderr.write(b);
    });
    child.on('error', (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) {
        resolve(Buffer.concat(out).toString('utf8'));
        return;
      }
      const stderr = Buffer.concat(err).toString('utf8').trim();
      const status = signal ? `signal ${signal}` : `exit code ${code}`;
      reject(new Error(`${cmd} ${args.join(' ')} failed (${status})${stderr ? `:\n${stderr}` : ''}`));
    });
  });
}
