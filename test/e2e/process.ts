import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Repository root, from dist/test/e2e/. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `node args…` in the repository root, collecting its output. */
function launch(args: readonly string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs a command to completion (bounded by timeoutMs). */
export async function run(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 15000,
): Promise<Ran> {
  const running = launch(args, env);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
  const code = await running.exited;
  clearTimeout(timer);
  if (running.child.signalCode === 'SIGKILL')
    throw new Error(`timed out: ${args.join(' ')}\n${running.stderr()}`);
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

/** Starts a long-running command and waits until its stderr matches `ready`. */
export function startUntil(
  args: readonly string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 15000,
): Promise<{ running: Running; match: RegExpMatchArray }> {
  const running = launch(args, env);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      running.child.kill('SIGKILL');
      reject(new Error(`not ready in time: ${args.join(' ')}\n${running.stderr()}`));
    }, timeoutMs);
    running.child.stderr?.on('data', () => {
      const m = running.stderr().match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ running, match: m });
      }
    });
    void running.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`exited before ready: ${running.stderr()}`));
    });
  });
}
