/**
 * A private real Prometheus for the decisions benchmark: fresh data dir, remote-write receiver, no scrape jobs.
 * Samples arrive with virtual timestamps; 24 h blocks keep several concurrent runs (hours apart in virtual
 * time) appendable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pushTimeseries } from 'prometheus-remote-write';
import type { Series } from './traffic.js';

export interface BenchProm {
  url: string;
  push(series: Series[]): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startBenchPrometheus(): Promise<BenchProm> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshshift-decisions-'));
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(config, 'global:\n  scrape_interval: 15s\nscrape_configs: []\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--storage.tsdb.min-block-duration=24h',
      '--storage.tsdb.max-block-duration=24h',
      '--storage.tsdb.retention.time=10y',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // A bench stopped with Ctrl-C or SIGTERM takes its Prometheus with it (no orphan holding a port and a data dir).
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      reap();
      process.exit(130);
    });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`${url}/-/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Prometheus did not start on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const writeUrl = `${url}/api/v1/write`;
  const fetchFn = fetch as unknown as NonNullable<Parameters<typeof pushTimeseries>[1]>['fetch'];
  return {
    url,
    async push(series) {
      if (series.length === 0) return;
      const res = await pushTimeseries(series, { url: writeUrl, fetch: fetchFn, timeout: 10_000 });
      if (res.status >= 300)
        throw new Error(
          `remote write to ${writeUrl}: ${res.status} ${res.statusText} ${res.errorMessage ?? ''}`,
        );
    },
    async close() {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
