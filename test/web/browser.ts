/** The browser side of the dashboard tests: Debian's Chromium driven by playwright-core, and axe-core. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireTool } from '../../src/sim/tools.js';

/**
 * Chromium from the tool list (CHROMIUM_PATH, else `chromium` on PATH). A missing browser rejects with the install
 * command; callers launch it inside their tests (not in a beforeAll), so that a missing browser fails the tests
 * instead of leaving them reported as skipped.
 */
export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: requireTool('chromium'), args: ['--no-sandbox'] });
}

/** One browser per test file, launched by the first test that needs it. */
export function sharedBrowser(): { get(): Promise<Browser>; close(): Promise<void> } {
  let browser: Promise<Browser> | undefined;
  return {
    get: () => (browser ??= launch()),
    async close() {
      await browser?.then((b) => b.close()).catch(() => undefined);
    },
  };
}

/** Signs in through the page's form (the token goes in a POST body, never the URL). */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: unknown[];
}

/** axe-core run in the page (evaluated over the DevTools protocol, so the page's CSP stays as served). */
export async function axe(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  // A string, so that this Node-side file needs no DOM types.
  return page.evaluate<AxeViolation[]>(`axe.run().then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target),
  })))`);
}
