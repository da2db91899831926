/**
 * The dashboard's static files: the page shell (here) and the bundle built from src/web/client by esbuild into
 * dist/web/ (`npm run build`), with Preact, htm and uPlot inside it — no CDN, works offline.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ASSET_TYPES: Record<string, string> = {
  'main.js': 'text/javascript; charset=utf-8',
  'main.css': 'text/css; charset=utf-8',
};

/** dist/web of this package, whether running from dist/src/web (built) or src/web (tsx). */
export function webDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parts = here.split(path.sep);
  const root =
    parts.slice(-3).join('/') === 'dist/src/web'
      ? path.resolve(here, '../../..')
      : path.resolve(here, '../..');
  return path.join(root, 'dist', 'web');
}

export interface Assets {
  get(name: string): { body: Buffer; type: string } | undefined;
  /** Bytes of the bundle (JS + CSS), for the build report. */
  size(): number;
}

export function loadAssets(dir = webDir()): Assets {
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(ASSET_TYPES)) {
    const f = path.join(dir, name);
    if (existsSync(f)) files.set(name, readFileSync(f));
  }
  return {
    get: (name) => {
      const body = files.get(name);
      return body ? { body, type: ASSET_TYPES[name]! } : undefined;
    },
    size: () => [...files.values()].reduce((n, b) => n + b.length, 0),
  };
}

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function shellHtml(missingBundle: boolean): string {
  const body = missingBundle
    ? '<main><h1>meshshift</h1><p>The dashboard bundle is missing: run <code>npm run build</code> (it writes dist/web/).</p></main>'
    : '<div id="app"><main><p>Loading…</p></main></div><script type="module" src="/ui/assets/main.js"></script>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>meshshift</title>
<link rel="stylesheet" href="/ui/assets/main.css">
</head>
<body>${body}</body>
</html>`;
}
