/** The browser the dashboard tests need: missing, it fails them (with the install command); nothing skips. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { launch, sharedBrowser } from './browser.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('the dashboard tests’ browser', () => {
  it('a missing browser rejects with the command that installs it, for every test that asks', async () => {
    vi.stubEnv('CHROMIUM_PATH', '');
    vi.stubEnv('PATH', '/nonexistent-dir');
    const install =
      /chromium not found on PATH\. Install it with: .*apt-get install -y --no-install-recommends chromium/;
    await expect(launch()).rejects.toThrow(install);
    const shared = sharedBrowser();
    await expect(shared.get()).rejects.toThrow(install);
    await expect(shared.get()).rejects.toThrow(install); // the next test fails too: no skip
    await expect(shared.close()).resolves.toBeUndefined();
  });

  it('no browser test has a way to skip, and none launches its browser in a hook', () => {
    const dir = import.meta.dirname;
    for (const f of readdirSync(dir).filter(
      (n) => n.endsWith('.ts') && n !== path.basename(import.meta.filename),
    )) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      expect(text, f).not.toMatch(/\.(skip|skipIf|runIf|todo)\(|ctx\.skip|context\.skip/);
      // beforeAll may start the browser (errors swallowed there), but the tests await it: a failure, not a skip
      expect(text, f).not.toMatch(/=\s*await\s+launch\(\)|await\s+Promise\.all\(\[[^\]]*launch\(\)/);
    }
  });
});
