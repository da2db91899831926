/**
 * vitest globalSetup: one real Prometheus shared by every test file.
 *
 * First the tools: a missing `prometheus` or `redis-server` is installed with
 * apt-get when we are root on Debian/Ubuntu (one line says so), else the run
 * stops before any test with the command to run (never a silent skip).
 *
 * Tests get the server with `inject('prometheusUrl')` and register their
 * simulators by writing file_sd JSON into `inject('prometheusSdDir')` via
 * `registerScrapeTarget()` from src/sim/prometheus.ts. Use a unique id per target
 * and add a distinguishing label (or unique namespace/service names) so that
 * queries of one test file are not polluted by series of another.
 */
import type { TestProject } from 'vitest/node';
import type {} from 'vitest';
import { startPrometheus } from '../../src/sim/prometheus.js';
import { ensureTestTools } from './provision.js';

declare module 'vitest' {
  export interface ProvidedContext {
    prometheusUrl: string;
    prometheusSdDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensureTestTools();
  const prom = await startPrometheus({ scrapeIntervalSeconds: 1 });
  project.provide('prometheusUrl', prom.url);
  project.provide('prometheusSdDir', prom.sdDir);
  return async () => {
    await prom.close();
  };
}
