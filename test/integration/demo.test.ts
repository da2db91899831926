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
    // Inconclusive analyses are summed up in the step lines; each kind is explained once.
    expect(lines.length).toBeLessThanOrEqual(40);
    const [head, broken] = r.stdout.split(/\n(?=2\/2 )/);
    const healthy = head?.slice(head.indexOf('1/2 ')).trimEnd() ?? '';
    const healthyLines = healthy.split('\n');
    console.log(`healthy migration: ${healthyLines.length} lines\n${healthy}`);
    expect(healthyLines.length).toBeLessThanOrEqual(15);
    expect(healthy.match(/^ {2}step \d\/6 /gm)).toHaveLength(6);
    expect(healthy).toMatch(/✔ completed/);
    expect(healthy).not.toMatch(/\? inconclusive at/); // no per-analysis lines without --verbose
    const reasons = healthyLines.filter((l) => l.includes('? inconclusive: ')).map((l) => l.split(' — ')[0]);
    expect(new Set(reasons).size).toBe(reasons.length); // each reason explained once
    // every step line tells why it advanced: its passes, and its inconclusive analyses with their reason
    for (const l of healthyLines.filter((x) => /^ {2}step \d\/6 /.test(x))) {
      expect(l).toMatch(/\d+ analys[ie]s passed(, \d+ inconclusive: [a-z ×\d,]+)?; last: /);
    }
    // each message once (Prometheus's availability, the policy line, …)
    const said = lines.filter((l) => l.trim() !== '').map((l) => l.replace(/\d+(\.\d+)?/g, '#'));
    expect(said.filter((l) => /Prometheus/.test(l) && !/^ {2}/.test(l))).toHaveLength(1);
    expect(new Set(said.filter((l) => /\? inconclusive: /.test(l))).size).toBe(
      said.filter((l) => /\? inconclusive: /.test(l)).length,
    );
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
