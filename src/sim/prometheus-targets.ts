/**
 * Scrape targets for the test Prometheus (src/sim/prometheus.ts), which discovers them from `<sdDir>/*.json`
 * (file_sd): one file per target, written atomically.
 */
import { rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

function sanitizeId(id: string): string {
  const s = id.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (s === '' || s.startsWith('.')) throw new Error(`invalid scrape target id ${JSON.stringify(id)}`);
  return s;
}

let tmpCounter = 0;

/**
 * Register a scrape target with a Prometheus that watches `<sdDir>/*.json`
 * (file_sd). Written atomically (temp file + rename). Resolves to a function
 * removing the target again (idempotent).
 */
export async function registerScrapeTarget(
  sdDir: string,
  id: string,
  target: string,
  labels: Record<string, string> = {},
): Promise<() => Promise<void>> {
  const file = path.join(sdDir, `${sanitizeId(id)}.json`);
  // The temp name must not end in .json or Prometheus could read it half-written.
  const tmp = path.join(sdDir, `.${sanitizeId(id)}.${process.pid}.${++tmpCounter}.tmp`);
  await writeFile(tmp, JSON.stringify([{ targets: [target], labels }]) + '\n');
  await rename(tmp, file);
  let removed = false;
  return async () => {
    if (removed) return;
    removed = true;
    await removeScrapeTarget(sdDir, id);
  };
}

/** Removes the scrape target `id` (nothing if it is not there). */
export async function removeScrapeTarget(sdDir: string, id: string): Promise<void> {
  await unlink(path.join(sdDir, `${sanitizeId(id)}.json`)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
