/** The migration's one time chart (uPlot): weight step line, both sides' errors and latency, event markers. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { chartData, pointCounts, type ChartData, type Marker, type MarkerKind } from '../chart-data.js';
import type { Entry } from './api.js';
import { html } from './html.js';

export const MARKER_COLORS: Record<MarkerKind, string> = {
  pass: '#15803d',
  inconclusive: '#a16207',
  fail: '#b91c1c',
  command: '#6d28d9',
  gate: '#0e7490',
  pause: '#475569',
  rollback: '#b91c1c',
};

function drawMarkers(u: uPlot, markers: Marker[]): void {
  const ctx = u.ctx;
  const { top, height } = u.bbox;
  ctx.save();
  for (const m of markers) {
    const x = Math.round(u.valToPos(m.x, 'x', true));
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
    ctx.strokeStyle = MARKER_COLORS[m.kind];
    ctx.fillStyle = MARKER_COLORS[m.kind];
    const verdict = m.kind === 'pass' || m.kind === 'inconclusive' || m.kind === 'fail';
    ctx.lineWidth = m.kind === 'rollback' ? 3 * devicePixelRatio : 1 * devicePixelRatio;
    ctx.setLineDash(verdict ? [] : [6 * devicePixelRatio, 4 * devicePixelRatio]);
    if (!verdict || m.kind === 'fail') {
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    }
    const r = (m.kind === 'fail' ? 6 : 4) * devicePixelRatio;
    ctx.beginPath();
    if (verdict) ctx.arc(x, top + height - r - 2, r, 0, 2 * Math.PI);
    else ctx.rect(x - r, top, 2 * r, 2 * r);
    ctx.fill();
  }
  ctx.restore();
}

function options(
  width: number,
  markers: () => Marker[],
  onHover: (m: Marker | undefined) => void,
): uPlot.Options {
  const line = (label: string, scale: string, stroke: string, dash?: number[]): uPlot.Series => ({
    label,
    scale,
    stroke,
    width: 1.5,
    spanGaps: true,
    points: { show: true, size: 4 },
    ...(dash ? { dash } : {}),
  });
  return {
    width,
    height: 340,
    scales: {
      x: { time: true },
      pct: { range: [0, 100] },
      err: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1)] },
      ms: { range: (_u, _min, max) => [0, Math.max(10, max ?? 10)] },
    },
    series: [
      {},
      {
        label: 'weight %',
        scale: 'pct',
        stroke: '#1d4ed8',
        width: 2.5,
        paths: uPlot.paths.stepped!({ align: 1 }),
        fill: 'rgba(29,78,216,0.07)',
      },
      line('VM errors %', 'err', '#374151'),
      line('k8s errors %', 'err', '#dc2626'),
      line('VM p50 ms', 'ms', '#6b7280', [2, 3]),
      line('k8s p50 ms', 'ms', '#f59e0b', [2, 3]),
      line('VM p99 ms', 'ms', '#111827', [8, 4]),
      line('k8s p99 ms', 'ms', '#c2410c', [8, 4]),
    ],
    axes: [
      {},
      { scale: 'pct', label: 'weight %' },
      { scale: 'err', side: 1, label: 'errors %', grid: { show: false } },
      { scale: 'ms', side: 1, label: 'latency ms', grid: { show: false } },
    ],
    hooks: {
      draw: [(u) => drawMarkers(u, markers())],
      setCursor: [
        (u) => {
          const left = u.cursor.left;
          if (left === undefined || left < 0) return onHover(undefined);
          let best: Marker | undefined;
          let bestD = 8;
          for (const m of markers()) {
            const d = Math.abs(u.valToPos(m.x, 'x') - left);
            if (d <= bestD) [best, bestD] = [m, d];
          }
          onHover(best);
        },
      ],
    },
  };
}

const asData = (d: ChartData): uPlot.AlignedData => [
  d.x,
  d.weight,
  d.sourceErrorPct,
  d.targetErrorPct,
  d.sourceP50,
  d.targetP50,
  d.sourceP99,
  d.targetP99,
];

export function Chart({ history }: { history: Entry[] }) {
  const box = useRef<HTMLDivElement>(null);
  const hover = useRef<HTMLParagraphElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = chartData(history);
  const markers = useRef<Marker[]>(data.markers);
  markers.current = data.markers;
  useEffect(() => {
    const el = box.current!;
    const onHover = (m: Marker | undefined) => {
      if (hover.current)
        hover.current.textContent = m ? m.label : 'Hover a marker for the verdict, command or rollback.';
    };
    plot.current = new uPlot(
      options(Math.max(320, el.clientWidth), () => markers.current, onHover),
      asData(data),
      el,
    );
    const onResize = () => plot.current?.setSize({ width: Math.max(320, el.clientWidth), height: 340 });
    addEventListener('resize', onResize);
    return () => {
      removeEventListener('resize', onResize);
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(asData(data));
  });
  const counts = pointCounts(data);
  const kinds = (k: MarkerKind) => data.markers.filter((m) => m.kind === k).length;
  return html`<figure class="chart">
    <div
      ref=${box}
      class="plot"
      role="img"
      aria-label=${`Weight, error rate and latency over time: ${data.markers.length} events`}
      data-points-source=${counts.source}
      data-points-target=${counts.target}
      data-pass=${kinds('pass')}
      data-inconclusive=${kinds('inconclusive')}
      data-fail=${kinds('fail')}
      data-rollback=${kinds('rollback')}
      data-commands=${kinds('command')}
    ></div>
    <p ref=${hover} class="hover" aria-live="polite">Hover a marker for the verdict, command or rollback.</p>
    <figcaption class="legend-markers">
      ${(['pass', 'inconclusive', 'fail', 'gate', 'pause', 'command', 'rollback'] as MarkerKind[]).map(
        (k) => html`<span><i style=${{ background: MARKER_COLORS[k] }}></i>${k} (${kinds(k)})</span>`,
      )}
    </figcaption>
  </figure>`;
}
