/** The migrations list: live over SSE, filterable by namespace and phase. */
import { useEffect, useState } from 'preact/hooks';
import { age, type Me, type View } from './api.js';
import { routeLabel } from '../../engine/route-label.js';
import { stepLabel } from '../../engine/step-label.js';
import { html } from './html.js';

export function WeightBar({ weight }: { weight: number }) {
  return html`<span
    class="bar"
    role="progressbar"
    aria-label="weight"
    aria-valuemin="0"
    aria-valuemax="100"
    aria-valuenow=${weight}
  >
    <span class="track"><span class="fill" style=${{ width: `${weight}%` }}></span></span
    ><span class="num">${weight} %</span>
  </span>`;
}

export function ListPage(_: { me: Me }) {
  const [items, setItems] = useState<View[]>([]);
  const [live, setLive] = useState(false);
  const [ns, setNs] = useState('');
  const [phase, setPhase] = useState('');
  const [, tick] = useState(0);
  useEffect(() => {
    const es = new EventSource('/ui/api/events');
    es.addEventListener('open', () => setLive(true));
    es.addEventListener('error', () => setLive(false));
    es.addEventListener('list', (e) => setItems(JSON.parse((e as MessageEvent<string>).data) as View[]));
    es.addEventListener('migration', (e) => {
      const m = JSON.parse((e as MessageEvent<string>).data) as View;
      setItems((xs) => {
        const i = xs.findIndex((x) => x.id === m.id);
        return i < 0 ? [m, ...xs] : xs.map((x) => (x.id === m.id ? m : x));
      });
    });
    const t = setInterval(() => tick((n) => n + 1), 5000);
    return () => {
      es.close();
      clearInterval(t);
    };
  }, []);
  const namespaces = [...new Set(items.map((m) => m.namespace))].sort();
  const phases = [...new Set(items.map((m) => m.phase))].sort();
  const shown = items.filter((m) => (!ns || m.namespace === ns) && (!phase || m.phase === phase));
  return html`<main>
    <h1>Migrations <span class=${live ? 'live on' : 'live'}>${live ? 'live' : 'connecting…'}</span></h1>
    <div class="filters">
      <label
        >Namespace
        <select value=${ns} onChange=${(e: Event) => setNs((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          ${namespaces.map((n) => html`<option value=${n}>${n}</option>`)}
        </select></label
      >
      <label
        >Phase
        <select value=${phase} onChange=${(e: Event) => setPhase((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          ${phases.map((p) => html`<option value=${p}>${p}</option>`)}
        </select></label
      >
    </div>
    <table class="list">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Namespace</th>
          <th scope="col">Route</th>
          <th scope="col">Phase</th>
          <th scope="col">Weight</th>
          <th scope="col">Step</th>
          <th scope="col">Last verdict</th>
          <th scope="col">Age</th>
        </tr>
      </thead>
      <tbody>
        ${shown.map(
          (m) =>
            html`<tr data-id=${m.id} data-phase=${m.phase} data-weight=${m.weight}>
              <td><a href=${`#/m/${encodeURIComponent(m.id)}`}>${m.name}</a></td>
              <td>${m.namespace}</td>
              <td class="route">${routeLabel(m.route)}</td>
              <td><span class=${`phase ${m.phase}`}>${m.phase}</span></td>
              <td><${WeightBar} weight=${m.weight} /></td>
              <td>${stepLabel(m)}</td>
              <td>
                ${m.lastVerdict?.outcome ? html`<span class=${`verdict ${m.lastVerdict.outcome}`} title=${m.lastVerdict.summary ?? ''}>${m.lastVerdict.outcome}</span>` : '–'}
              </td>
              <td>${age(m.createdAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${shown.length === 0 && html`<p>No migrations${ns || phase ? ' match the filters' : ' yet'}.</p>`}
  </main>`;
}
