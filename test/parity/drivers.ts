/**
 * The two real drivers, black-box: `meshshift run` as a child process (JSON lines on stdout, commands on stdin)
 * and `meshshift serve` child processes (an API and workers on real Redis) steered over the HTTP API. Both run
 * the built CLI (bin/meshshift.js → dist/), so `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAST_CADENCE_FLAGS, startServeChild, type ServeChild } from '../harness/serve-child.js';
import type { Lane } from './lane.js';
import type { CommandStep, PhaseStep, Trace } from './trace.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(root, 'bin/meshshift.js');
export const USER = 'alice';
export const TOKEN = 'parity-token-0123456789abcdef';
export const TIME_SCALE = '0.05';
const TERMINAL = ['completed', 'rolledBack', 'aborted', 'failed'];

export type CommandWord = 'promote' | 'pause' | 'resume' | 'abort';

/** What a scenario script can do while a migration runs. */
export interface Control {
  lane: Lane;
  command(word: CommandWord, reason?: string): Promise<void>;
}

/** A scenario's script: reacts to what the driver reports (weights written, phases) and to the API server. */
export interface Script {
  /** A VirtualService PATCH of this lane reached the API server (before it is applied): same point for both drivers. */
  onPatch?(weight: number, c: Control): void | Promise<void>;
  /** The driver reports a (non-rollback) weight written. */
  onWeight?(weight: number, c: Control): void;
  onPhase?(phase: string, c: Control): void;
}

interface Observed {
  phases: PhaseStep[];
  commands: CommandStep[];
  reported: number[];
}

function observe(lane: Lane, script: Script, c: Control, o: Observed) {
  return {
    phase(phase: string, reason?: string) {
      o.phases.push({ phase, ...(reason ? { reason } : {}) });
      script.onPhase?.(phase, c);
    },
    weight(w: number, rollback: boolean) {
      o.reported.push(w);
      if (!rollback) script.onWeight?.(w, c);
    },
  };
}

/** `meshshift run <plan> --output json` with stdin commands, until it exits (or `timeoutMs`). */
export async function driveWithRun(
  lane: Lane,
  script: Script,
  o: { kubeconfig: string; timeoutMs: number },
): Promise<Trace> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-parity-'));
  const planFile = path.join(dir, 'plan.yaml');
  writeFileSync(planFile, lane.planYaml);
  const args = ['run', planFile, '--kubeconfig', o.kubeconfig, '--prometheus', lane.prometheusUrl];
  args.push('--output', 'json', '--time-scale', TIME_SCALE, '--user', USER);
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const seen: Observed = { phases: [], commands: [], reported: [] };
  const control: Control = {
    lane,
    command: async (word, reason) => {
      child.stdin.write(`${word}${reason ? ` ${reason}` : ''}\n`);
    },
  };
  lane.onPatch((w) => script.onPatch?.(w, control));
  const obs = observe(lane, script, control, seen);
  let final = 'timeout';
  let finalReason: string | undefined;
  let stderr = '';
  let buf = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e.type === 'phase' && !(e.phase === 'pending' && seen.phases.length === 0))
        obs.phase(String(e.phase), e.reason as string | undefined);
      else if (e.type === 'command')
        seen.commands.push({
          command: String(e.command),
          ...(e.by ? { by: String(e.by) } : {}),
          accepted: e.accepted === true,
          ...(e.accepted !== true && e.reason ? { refused: String(e.reason) } : {}),
        });
      else if (e.type === 'weight') obs.weight(Number(e.weight), e.rollback === true);
      else if (e.type === 'finished') {
        final = String(e.phase);
        if (e.reason) finalReason = String(e.reason);
      }
    }
  });
  const exitCode = await exited(child, o.timeoutMs);
  return {
    driver: 'run',
    phases: seen.phases,
    commands: seen.commands,
    writes: lane.weightWrites(),
    reported: seen.reported,
    final,
    ...(finalReason ? { finalReason } : {}),
    ...(lane.mtlsMode() !== undefined ? { mtlsMode: lane.mtlsMode()! } : {}),
    exitCode,
    logTail: `${lane.diagnostics()}\n${stderr.split('\n').slice(-15).join('\n')}`,
  };
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? -1 : 0));
    });
  });
}

export interface ServeProcess extends Omit<ServeChild, 'stop'> {
  /** SIGTERM (SIGKILL after 10 s); resolves once it has exited. */
  stop(): Promise<void>;
}

/** `meshshift serve` as a child process of the built CLI; resolves once it listens. */
/** `env`: variables added to this process's environment for the child (e.g. Slack's). */
export async function startServe(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child = await startServeChild({
    cli: 'dist',
    args,
    env,
    startTimeoutMs: 30_000,
    keepStderr: 100_000,
  });
  return { ...child, stop: async () => void (await child.stop(10_000)) };
}

export interface ServeStack {
  api: ServeProcess;
  workers: ServeProcess[];
  close(): Promise<void>;
}

/** One API process and `workers` worker processes sharing a Redis prefix. */
export async function startServeStack(o: {
  redisUrl: string;
  prefix: string;
  kubeconfig: string;
  prometheusUrl: string;
  workers: number;
}): Promise<ServeStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-parity-tokens-'));
  const tokens = path.join(dir, 'tokens');
  writeFileSync(tokens, `${USER}:${TOKEN}\n`);
  const common = ['--redis', o.redisUrl, '--prefix', o.prefix, '--log-level', 'info'];
  const started: ServeProcess[] = [];
  try {
    const api = await startServe([
      '--role',
      'api',
      ...common,
      '--tokens-file',
      tokens,
      '--time-scale',
      TIME_SCALE,
    ]);
    started.push(api);
    const workerArgs = [
      '--role',
      'worker',
      ...common,
      '--kubeconfig',
      o.kubeconfig,
      '--prometheus',
      o.prometheusUrl,
    ];
    workerArgs.push('--lock-ttl', '3s', ...FAST_CADENCE_FLAGS);
    const workers = await Promise.all(Array.from({ length: o.workers }, () => startServe(workerArgs)));
    started.push(...workers);
    return { api, workers, close: async () => void (await Promise.all(started.map((p) => p.stop()))) };
  } catch (err) {
    await Promise.all(started.map((p) => p.stop()));
    throw err;
  }
}

async function api(base: string, method: string, p: string, body?: string) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined
        ? {
            'content-type':
              method === 'POST' && p === '/v1/migrations' ? 'application/yaml' : 'application/json',
          }
        : {}),
    },
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

interface HistoryItem {
  type: string;
  phase?: string;
  reason?: string;
  command?: string;
  by?: string;
  accepted?: boolean;
  refused?: string;
  weight?: number;
  rollback?: boolean;
}

/** Submits the lane's plan to a serve stack and follows its history over the API until it finishes. */
export async function driveWithServe(
  lane: Lane,
  script: Script,
  stack: ServeStack,
  o: { timeoutMs: number },
): Promise<Trace> {
  const base = stack.api.url;
  const seen: Observed = { phases: [], commands: [], reported: [] };
  const submitted = await api(base, 'POST', '/v1/migrations', lane.planYaml);
  if (submitted.status !== 201)
    throw new Error(`submit: ${submitted.status} ${JSON.stringify(submitted.json)}`);
  const id = String(submitted.json.id);
  const control: Control = {
    lane,
    command: async (word, reason) => {
      const r = await api(
        base,
        'POST',
        `/v1/migrations/${id}/${word}`,
        JSON.stringify(reason ? { reason } : {}),
      );
      // The runner records a refused command in its event stream; the API answers 409 and records nothing.
      if (r.status !== 202)
        seen.commands.push({
          command: word.toUpperCase(),
          by: USER,
          accepted: false,
          refused: String(r.json.message ?? r.status),
        });
    },
  };
  lane.onPatch((w) => script.onPatch?.(w, control));
  const obs = observe(lane, script, control, seen);
  const deadline = Date.now() + o.timeoutMs;
  let done = 0;
  let final = 'timeout';
  let finalReason: string | undefined;
  while (Date.now() < deadline) {
    const r = await api(base, 'GET', `/v1/migrations/${id}`).catch(() => undefined);
    if (r?.status === 200) {
      const history = r.json.history as HistoryItem[];
      for (const h of history.slice(done)) {
        if (h.type === 'phase') obs.phase(String(h.phase), h.reason);
        else if (h.type === 'command')
          seen.commands.push({
            command: String(h.command),
            ...(h.by ? { by: h.by } : {}),
            accepted: !!h.accepted,
            ...(h.refused ? { refused: h.refused } : {}),
          });
        else if (h.type === 'weight') obs.weight(Number(h.weight), h.rollback === true);
      }
      done = history.length;
      const m = r.json.migration as { phase: string; reason?: string };
      if (TERMINAL.includes(m.phase)) {
        final = m.phase;
        finalReason = m.reason;
        break;
      }
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  const logs = [stack.api, ...stack.workers].map((p) => p.stderr()).join('\n');
  return {
    driver: 'serve',
    phases: seen.phases,
    commands: seen.commands,
    writes: lane.weightWrites(),
    reported: seen.reported,
    final,
    ...(finalReason ? { finalReason } : {}),
    ...(lane.mtlsMode() !== undefined ? { mtlsMode: lane.mtlsMode()! } : {}),
    logTail: `${lane.diagnostics()}\n${logs
      .split('\n')
      .filter((l) => l.includes(lane.namespace) || /"level":(40|50)/.test(l))
      .slice(-15)
      .join('\n')}`,
  };
}
