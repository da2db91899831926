/**
 * The migration's chart: three aligned uPlot panels on one time axis (time since the first entry) — the weight as
 * a step line, both sides' error rate, both sides' p50/p99 latency — each y axis scaled to its data, cursors in
 * sync, the hovered values in each panel's legend, and markers for verdicts, commands, gates, pauses and the
 * rollback.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { chartData, pointCounts, type ChartData, type Marker, type MarkerKind } from '../chart-data.js';
import {
  TICK_INCREMENTS,
  elapsedLabel,
  maxOf,
  rangeOf,
  tickLabel,
  timeUnitOf,
  valueAtOrBefore,
  valueLabel,
  weightRange,
  type TimeUnit,
} from '../chart-scale.js';
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

/** The chart's data on its own time axis: seconds since the first point. */
interface Frame {
  d: ChartData;
  t0: number;
  xs: number[];
  span: number;
  unit: TimeUnit;
  markers: Marker[];
  /** The quantiles that have values (p50 has none when the policy judges p99 only); p99 when neither has. */
  quantiles: Array<'p50' | 'p99'>;
}

function frameOf(d: ChartData): Frame {
  const t0 = d.x[0] ?? 0;
  const xs = d.x.map((x) => x - t0);
  const markers = d.markers.map((m) => ({ ...m, x: m.x - t0 }));
  const span = Math.max(1, xs.at(-1) ?? 0, ...markers.map((m) => m.x));
  const has = (a: Array<number | null>, b: Array<number | null>) => [...a, ...b].some((v) => v !== null);
  const quantiles = (['p50', 'p99'] as const).filter((q) =>
    q === 'p50' ? has(d.sourceP50, d.targetP50) : has(d.sourceP99, d.targetP99),
  );
  return {
    d,
    t0,
    xs,
    span,
    unit: timeUnitOf(span),
    markers,
    quantiles: quantiles.length ? quantiles : ['p99'],
  };
}

type PanelKey = 'weight' | 'errors' | 'latency';
const AXIS_WIDTH = 64;

function drawMarkers(u: uPlot, markers: Marker[], dots: boolean): void {
  const ctx = u.ctx;
  const { top, height, left, width } = u.bbox;
  const px = devicePixelRatio;
  ctx.save();
  for (const m of markers) {
    const x = Math.round(u.valToPos(m.x, 'x', true));
    if (x < left - 1 || x > left + width + 1) continue;
    const verdict = m.kind === 'pass' || m.kind === 'inconclusive' || m.kind === 'fail';
    ctx.strokeStyle = MARKER_COLORS[m.kind];
    ctx.fillStyle = MARKER_COLORS[m.kind];
    ctx.lineWidth = (m.kind === 'rollback' ? 3 : 1) * px;
    ctx.setLineDash(verdict ? [] : [6 * px, 4 * px]);
    if (!verdict || m.kind === 'fail') {
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    }
    if (!dots) continue;
    const r = (m.kind === 'fail' ? 6 : 4) * px;
    ctx.beginPath();
    if (verdict) ctx.arc(x, top + height - r - 2, r, 0, 2 * Math.PI);
    else ctx.rect(x - r, top, 2 * r, 2 * r);
    ctx.fill();
  }
  ctx.restore();
}

/** A data series whose legend shows the last sample at or before the cursor, with its unit. */
function line(label: string, stroke: string, unit: '%' | 'ms', dash?: number[]): uPlot.Series {
  return {
    label,
    stroke,
    width: 1.75,
    spanGaps: true,
    points: { show: true, size: 5, fill: stroke },
    ...(dash ? { dash } : {}),
    value: (u, _v, si, di) => valueLabel(valueAtOrBefore(u.data[si]!, di ?? u.data[0].length - 1), unit),
  };
}

function seriesOf(key: PanelKey, f: Frame): uPlot.Series[] {
  if (key === 'weight')
    return [
      {
        stroke: '#1d4ed8',
        width: 2.5,
        label: 'weight on the containers',
        paths: uPlot.paths.stepped!({ align: 1 }),
        fill: 'rgba(29,78,216,0.08)',
        points: { show: false },
        value: (u, _v, si, di) => `${valueAtOrBefore(u.data[si]!, di ?? u.data[0].length - 1) ?? 0} %`,
      },
    ];
  if (key === 'errors') return [line('VMs', '#374151', '%'), line('containers', '#dc2626', '%')];
  return f.quantiles.flatMap((q) =>
    q === 'p50'
      ? [line('VMs p50', '#6b7280', 'ms', [3, 3]), line('containers p50', '#f59e0b', 'ms', [3, 3])]
      : [line('VMs p99', '#111827', 'ms'), line('containers p99', '#c2410c', 'ms')],
  );
}

function dataOf(key: PanelKey, f: Frame): uPlot.AlignedData {
  const { d, xs } = f;
  if (key === 'weight') return [xs, d.weight];
  if (key === 'errors') return [xs, d.sourceErrorPct, d.targetErrorPct];
  return [
    xs,
    ...f.quantiles.flatMap((q) => (q === 'p50' ? [d.sourceP50, d.targetP50] : [d.sourceP99, d.targetP99])),
  ];
}

function seriesValues(key: PanelKey, { d }: Frame): Array<Array<number | null>> {
  if (key === 'weight') return [d.weight];
  if (key === 'errors') return [d.sourceErrorPct, d.targetErrorPct];
  return [d.sourceP50, d.targetP50, d.sourceP99, d.targetP99];
}

function yRange(key: PanelKey, f: Frame): [number, number] {
  if (key === 'weight') return weightRange(f.d.weight);
  return rangeOf(seriesValues(key, f), key === 'errors' ? 0.1 : 10);
}

const Y_LABEL: Record<PanelKey, string> = { weight: 'weight %', errors: 'errors %', latency: 'latency ms' };
const HEIGHT: Record<PanelKey, number> = { weight: 130, errors: 150, latency: 170 };

function options(
  key: PanelKey,
  width: number,
  frame: () => Frame,
  onHover: (m: Marker | undefined) => void,
): uPlot.Options {
  const bottom = key === 'latency';
  return {
    width,
    height: HEIGHT[key],
    cursor: { sync: { key: 'meshshift-migration' }, points: { size: 7 } },
    legend: { live: true },
    scales: {
      // 2 % room on the right: the last samples and the rollback marker do not sit on the edge.
      x: { time: false, range: () => [0, frame().span * 1.02] },
      y: { range: () => yRange(key, frame()) },
    },
    series: [
      { label: 'time since the start', value: (_u, v) => (v === null ? '–' : elapsedLabel(v)) },
      ...seriesOf(key, frame()),
    ],
    axes: [
      {
        incrs: () => TICK_INCREMENTS[frame().unit],
        values: (_u, splits) =>
          bottom ? splits.map((s) => tickLabel(s, frame().unit)) : splits.map(() => ''),
        size: bottom ? 40 : 6,
        ...(bottom
          ? { label: frame().unit === 'min' ? 'minutes since the start' : 'seconds since the start' }
          : {}),
        ...(bottom ? {} : { ticks: { show: false } }),
      },
      {
        label: Y_LABEL[key],
        size: AXIS_WIDTH,
        values: (_u, splits) => splits.map((s) => String(+s.toFixed(2))),
      },
    ],
    hooks: {
      draw: [(u) => drawMarkers(u, frame().markers, key === 'weight')],
      setCursor: [(u) => onHover(nearestMarker(u, frame().markers))],
    },
  };
}

function nearestMarker(u: uPlot, markers: Marker[]): Marker | undefined {
  const left = u.cursor.left;
  if (left === undefined || left < 0) return undefined;
  let best: Marker | undefined;
  let bestD = 8;
  for (const m of markers) {
    const d = Math.abs(u.valToPos(m.x, 'x') - left);
    if (d <= bestD) [best, bestD] = [m, d];
  }
  return best;
}

const PANELS: PanelKey[] = ['weight', 'errors', 'latency'];
const HOVER_HINT =
  'Hover the chart for the values at that time; hover a marker for its verdict, command or rollback.';

function usePanels(
  frame: Frame,
  boxes: Array<{ current: HTMLDivElement | null }>,
  hover: { current: HTMLParagraphElement | null },
) {
  const current = useRef(frame);
  current.current = frame;
  const plots = useRef<uPlot[]>([]);
  useEffect(() => {
    const onHover = (m: Marker | undefined) => {
      if (hover.current) hover.current.textContent = m ? m.label : HOVER_HINT;
    };
    const widthOf = (el: HTMLElement) => Math.max(320, el.clientWidth);
    plots.current = PANELS.map((key, i) => {
      const el = boxes[i]!.current!;
      return new uPlot(
        options(key, widthOf(el), () => current.current, onHover),
        dataOf(key, current.current),
        el,
      );
    });
    const onResize = () =>
      plots.current.forEach((p, i) =>
        p.setSize({ width: widthOf(boxes[i]!.current!), height: HEIGHT[PANELS[i]!] }),
      );
    addEventListener('resize', onResize);
    return () => {
      removeEventListener('resize', onResize);
      plots.current.forEach((p) => p.destroy());
      plots.current = [];
    };
  }, [frame.quantiles.join()]); // a quantile's series appear with its first values
  useEffect(() => {
    plots.current.forEach((p, i) => p.setData(dataOf(PANELS[i]!, frame)));
  });
}

export function Chart({ history }: { history: Entry[] }) {
  const boxes = [useRef<HTMLDivElement>(null), useRef<HTMLDivElement>(null), useRef<HTMLDivElement>(null)];
  const hover = useRef<HTMLParagraphElement>(null);
  const data = chartData(history);
  const frame = frameOf(data);
  usePanels(frame, boxes, hover);
  const counts = pointCounts(data);
  const kinds = (k: MarkerKind) => data.markers.filter((m) => m.kind === k).length;
  const titles = [
    'Weight on the containers',
    'Error rate',
    frame.quantiles.length === 2 ? 'Latency (p50 dashed, p99 solid)' : `Latency ${frame.quantiles[0]}`,
  ];
  return html`<figure class="chart">
    <div
      class="plot"
      role="img"
      aria-label=${`Weight, error rate and latency over time: ${data.markers.length} events`}
      data-unit=${frame.unit}
      data-points-source=${counts.source}
      data-points-target=${counts.target}
      data-pass=${kinds('pass')}
      data-inconclusive=${kinds('inconclusive')}
      data-fail=${kinds('fail')}
      data-rollback=${kinds('rollback')}
      data-commands=${kinds('command')}
    >
      ${PANELS.map(
        (k, i) =>
          html`<div
            class="panel"
            data-panel=${k}
            data-y-max=${yRange(k, frame)[1]}
            data-max=${maxOf(seriesValues(k, frame))}
          >
            <h3>${titles[i]}</h3>
            <div ref=${boxes[i]}></div>
          </div>`,
      )}
    </div>
    <p ref=${hover} class="hover" aria-live="polite">${HOVER_HINT}</p>
    <figcaption class="legend-markers">
      ${(['pass', 'inconclusive', 'fail', 'gate', 'pause', 'command', 'rollback'] as MarkerKind[]).map(
        (k) => html`<span><i style=${{ background: MARKER_COLORS[k] }}></i>${k} (${kinds(k)})</span>`,
      )}
    </figcaption>
  </figure>`;
}
