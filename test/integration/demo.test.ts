/** `meshshift demo` as a user runs it first (README): the built binary, real Prometheus, the story on one screen. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = path.resolve('bin/meshshift.js');

function demo(args: string[] = []) {
  return new Promise<{ code: number; stdout: string; stderr: string; ms: number }>((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, 'demo', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
  });
}

describe('meshshift demo', () => {
  it('tells both migrations on one screen each: steps, the fault, the rollback and a summary', async () => {
    const r = await demo();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    console.log(`demo: ${lines.length} lines in ${(r.ms / 1000).toFixed(1)} s`);
    expect(r.stdout.includes('\u001b[')).toBe(false); // NO_COLOR and not a TTY: plain text
    // Sequential verdicts add a few inconclusive lines (a step's first analysis, the traffic needed before 100 %).
    expect(lines.length).toBeLessThanOrEqual(52);
    const [healthy, broken] = r.stdout.split(/\n(?=2\/2 )/);
    expect(healthy?.match(/^ {2}step \d\/6 /gm)).toHaveLength(6);
    expect(healthy).toMatch(/✔ completed/);
    expect(broken).toMatch(/^ {2}⚡ FAULT INJECTED: /m);
    expect(broken).toMatch(/^ {6}✗ FAIL at 5 %: error rate/m);
    expect(broken).toMatch(/^ {2}⟲ ROLLBACK at 5 %: /m);
    expect(r.stdout).toMatch(
      /healthy: completed in [\d.]+ s; steps reached 1 → 5 → 10 → 25 → 50 → 100 % \(6\/6\)/,
    );
    expect(r.stdout).toMatch(/regression: rolledBack in [\d.]+ s; steps reached 1 → 5 % \(2\/6\)/);
    expect(r.stdout).toMatch(
      /fault: .*; rolled back [\d.]+ s after the fault; \d+ failed requests reached the target/,
    );
    // One line per step, not per analysis (the default policy analyses every 0.5 s here).
    expect(r.stdout).not.toMatch(/✓ pass at/);
  });
});
