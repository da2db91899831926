/**
 * The decisions benchmark's chart: the containers' weight over virtual time, one thin line per run, coloured by
 * policy (written per scenario to results/charts/).
 */
import type { RunRow } from './results.js';

const COLOURS: Record<string, string> = {
  default: '#1f77b4',
  cautious: '#2ca02c',
  'flagger-defaults': '#d62728',
  'argo-defaults': '#ff7f0e',
};

/** Weight over virtual time, one thin line per run, coloured by policy. */
export function renderSvg(rows: readonly RunRow[], title: string): string {
  const W = 720;
  const H = 300;
  const pad = 40;
  const maxT = Math.max(60_000, ...rows.map((r) => r.virtualMs));
  const x = (t: number) => pad + ((W - 2 * pad) * t) / maxT;
  const y = (w: number) => H - pad - ((H - 2 * pad) * w) / 100;
  const lines = rows.map((r) => {
    // The timeline is sampled every 10 s while traffic flows; the run's last write (a rollback to 0) ends it.
    const last = r.timeline.at(-1);
    const final = r.weights.at(-1);
    const points =
      last && final !== undefined && final !== last.weight
        ? [...r.timeline, { t: r.virtualMs, weight: last.weight }, { t: r.virtualMs, weight: final }]
        : r.timeline;
    const pts = points.map((p) => `${x(p.t).toFixed(1)},${y(p.weight).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${COLOURS[r.policy] ?? '#7f7f7f'}" stroke-opacity="0.35" stroke-width="1.2" points="${pts}"/>`;
  });
  const policies = [...new Set(rows.map((r) => r.policy))];
  const legend = policies.map(
    (p, i) =>
      `<text x="${pad + i * 150}" y="${H - 8}" fill="${COLOURS[p] ?? '#7f7f7f'}" font-size="12">${p}</text>`,
  );
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${pad}" y="20" font-size="14">${esc(title)}: container weight (%) over virtual time (0–${Math.round(maxT / 60_000)} min)</text>`,
    `<line x1="${pad}" y1="${y(0)}" x2="${W - pad}" y2="${y(0)}" stroke="#999"/>`,
    `<line x1="${pad}" y1="${y(0)}" x2="${pad}" y2="${y(100)}" stroke="#999"/>`,
    `<text x="8" y="${y(100) + 4}" font-size="10">100</text><text x="14" y="${y(50) + 4}" font-size="10">50</text>`,
    ...lines,
    ...legend,
    '</svg>',
  ].join('\n');
}
