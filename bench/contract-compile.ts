import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { syntheticSpec } from '../src/openapi/synthetic.js';

/**
 * Start-up compile of a large OpenAPI description (issue 6: 1,000 operations in under 2 s).
 *
 * The description is src/openapi/synthetic.ts's syntheticSpec(n), written to a temp JSON file. Each
 * measurement runs in a FRESH child process (this file, forked with `--child <file>`), so the JIT,
 * ajv and the module cache are as cold as at a gateway start: the child imports the contract
 * compiler (timed apart), then times buildContract() with the options the plugin derives from its
 * defaults (strict, default limits, response validation on).
 *
 * `node dist/bench/contract-compile.js [operations] [runs]` prints the figures;
 * runContractCompileBench() returns them for `npm run bench`.
 */

export const COMPILE_GOAL_MS = 2000;
const CHILD_TIMEOUT_MS = 120_000;

/** What one cold child measured. */
export interface CompileRun {
  /** Importing compile.ts and everything it pulls in (ajv, yaml, ...), ms. */
  readonly importMs: number;
  /** buildContract(): read, parse, resolve and compile every operation's validators, ms. */
  readonly compileMs: number;
  readonly operations: number;
  readonly warnings: number;
}

export interface ContractCompileFigures {
  readonly operations: number;
  readonly specBytes: number;
  readonly runs: readonly CompileRun[];
  readonly medianMs: number;
  readonly goalMs: number;
  readonly pass: boolean;
}

/** The options the contract plugin passes when its config sets nothing but `spec`. */
const DEFAULT_OPTIONS = {
  strict: true,
  limits: { maxStringLength: 10000, maxItems: 1000, maxProperties: 1000 },
  validateResponses: true,
} as const;

function isCompileRun(m: unknown): m is CompileRun {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return typeof r.compileMs === 'number' && typeof r.importMs === 'number';
}

/** One cold measurement: forks this file with `--child <file>` and waits for its figures. */
function coldRun(file: string): Promise<CompileRun> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', file], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((done, fail) => {
    let result: CompileRun | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`contract compile: no answer within ${CHILD_TIMEOUT_MS} ms`));
    }, CHILD_TIMEOUT_MS);
    child.on('message', (m: unknown) => {
      if (isCompileRun(m)) result = m;
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (result !== undefined) done(result);
      else fail(new Error(`contract compile child exited (${code ?? signal}) without figures`));
    });
  });
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Writes syntheticSpec(operations) to a temp file and compiles it `runs` times, each in a cold child. */
export async function runContractCompileBench(operations = 1000, runs = 3): Promise<ContractCompileFigures> {
  const dir = mkdtempSync(join(os.tmpdir(), 'portcullis-bench-compile-'));
  try {
    const file = join(dir, `synthetic-${operations}.json`);
    writeFileSync(file, JSON.stringify(syntheticSpec(operations), null, 2));
    const results: CompileRun[] = [];
    // One after the other: parallel children would share the cores and slow each other.
    for (let i = 0; i < runs; i++) results.push(await coldRun(file));
    const medianMs = median(results.map((r) => r.compileMs));
    return {
      operations,
      specBytes: statSync(file).size,
      runs: results,
      medianMs,
      goalMs: COMPILE_GOAL_MS,
      pass: medianMs < COMPILE_GOAL_MS,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatContractCompile(f: ContractCompileFigures): string {
  const each = f.runs
    .map(
      (r, i) => `  run ${i + 1}: compile ${r.compileMs.toFixed(0)} ms (import ${r.importMs.toFixed(0)} ms)`,
    )
    .join('\n');
  const ops = f.runs[0]?.operations ?? f.operations;
  return (
    `${each}\n` +
    `Start-up compile, ${ops} operations (${(f.specBytes / 1024).toFixed(0)} KiB JSON): median ` +
    `${f.medianMs.toFixed(0)} ms  (goal < ${f.goalMs} ms)  ${f.pass ? 'met' : 'missed'}`
  );
}

/** In the child: import the compiler, compile once, report to the parent. */
async function child(file: string): Promise<void> {
  const t0 = performance.now();
  const { buildContract } = await import('../src/plugins/validate/contract/compile.js');
  const t1 = performance.now();
  const contract = await buildContract(file, DEFAULT_OPTIONS);
  const t2 = performance.now();
  const run: CompileRun = {
    importMs: t1 - t0,
    compileMs: t2 - t1,
    operations: contract.operations.length,
    warnings: contract.warnings.length,
  };
  if (process.send === undefined) process.stdout.write(`${JSON.stringify(run)}\n`);
  else process.send(run, () => process.disconnect());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args[0] === '--child' && args[1] !== undefined) await child(args[1]);
  else {
    const operations = Number(args[0] ?? 1000);
    const runs = Number(args[1] ?? 3);
    if (!Number.isInteger(operations) || operations < 1 || !Number.isInteger(runs) || runs < 1)
      throw new Error('usage: node dist/bench/contract-compile.js [operations ≥ 1] [runs ≥ 1]');
    console.log(formatContractCompile(await runContractCompileBench(operations, runs)));
  }
}
