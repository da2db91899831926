/**
 * The dashboard picture in the docs (docs/dashboard.png), from a running playground:
 *
 *   meshshift playground --time-scale 1          # real durations; submit a plan, inject a fault later
 *   node --import tsx bench/docs-screenshot.ts <serve URL> <token file> <migration name> [out.png] [hover 0..1]
 *
 * Headless Chromium (the tool list's) signs in with the playground's token (its dir holds `token`; the one-time
 * link would work once only), opens the migration with this checkout's dashboard bundle (dist/web: a playground
 * started before a rebuild still serves its old one), hovers
 * the chart at the given fraction of its width (so the legends show values) and saves the top of the page.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { requireTool } from '../src/sim/tools.js';

async function main(): Promise<void> {
  const [base, tokenFile, name, out = 'docs/dashboard.png', hover = '0.7'] = process.argv.slice(2);
  if (!base || !tokenFile || !name) {
    process.stderr.write(
      'usage: docs-screenshot.ts <serve URL> <token file> <migration name> [out.png] [hover]\n',
    );
    process.exitCode = 2;
    return;
  }
  const browser = await chromium.launch({ executablePath: requireTool('chromium'), args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    for (const f of ['main.js', 'main.css'])
      await page.route(`**/ui/assets/${f}`, (r) => r.fulfill({ path: path.resolve('dist/web', f) }));
    await page.goto(`${base}/ui/`);
    await page.getByLabel('API token').fill(readFileSync(tokenFile, 'utf8').trim());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.getByRole('link', { name }).first().click();
    await page.locator('.plot canvas').nth(2).waitFor();
    await page.waitForTimeout(1500); // the live stream delivers the whole history
    const box = (await page.locator('.panel[data-panel=weight] .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width * Number(hover), box.y + box.height / 2);
    await page.screenshot({ path: out, clip: { x: 0, y: 0, width: 1280, height: 1000 } });
    process.stdout.write(`${out}: unit ${await page.locator('.plot').getAttribute('data-unit')}\n`);
  } finally {
    await browser.close();
  }
}

await main();
