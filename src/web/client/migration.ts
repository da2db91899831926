/** One migration: state, the commands the engine allows now, the chart, plan/policy, preflight, history. */
import { useEffect, useState } from 'preact/hooks';
import { allows } from '../../auth/access.js';
import { verdictLine } from '../chart-data.js';
import { ApiError, call, mergeEntries, type Entry, type Me, type View } from './api.js';
import { Chart } from './chart.js';
import { html } from './html.js';
import { WeightBar } from './list.js';
import { routeLabel } from '../../engine/route-label.js';
import { stepLabel } from '../../engine/step-label.js';

const LABELS: Record<string, string> = {
  PROMOTE: 'Promote',
  PAUSE: 'Pause',
  RESUME: 'Resume',
  ABORT: 'Abort',
};

export function describe(e: Entry): string {
  switch (e.type) {
    case 'verdict':
      return verdictLine(e);
    case 'weight':
      return `${e.rollback ? 'rollback ' : ''}weight ${e.previous} → ${e.weight} %${e.wrote === false ? ' (not written)' : ''}`;
    case 'phase':
      return `${e.from ?? '·'} → ${e.phase} at ${e.weight} %${e.reason ? `: ${e.reason}` : ''}`;
    case 'command':
      return `${e.command} by ${e.by ?? ''}${e.reason ? ` (${e.reason})` : ''}${e.accepted === false ? ` refused: ${e.refused ?? ''}` : ''}`;
    case 'submitted':
      return `submitted by ${e.by}: plan ${e.plan}, policy ${e.policy}`;
    case 'finished':
      return `finished ${e.phase} at ${e.weight} %${e.reason ? `: ${e.reason}` : ''}`;
    case 'preflight':
      return `preflight ${e.ok ? 'passed' : 'failed'}`;
    case 'takeover':
    case 'schedule':
      return e.text;
    case 'mtls':
      return e.message;
    case 'waiting':
      return e.reason;
    case 'rollbackRetry':
    case 'writeRetry':
      return e.error;
    case 'unreadable':
      return e.error;
    case 'started':
      return '';
  }
}

function Commands({ m, me, onError }: { m: View; me: Me; onError: (s: string) => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!allows(me, m.namespace, 'operate') || m.possible.length === 0) return null;
  const send = async (cmd: string, reason?: string) => {
    setBusy(true);
    try {
      await call(
        'POST',
        `/ui/api/migrations/${encodeURIComponent(m.id)}/${cmd.toLowerCase()}`,
        reason ? { reason } : {},
      );
      onError('');
      setConfirming(false);
    } catch (err) {
      onError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const abort = (e: Event) => {
    e.preventDefault();
    const reason = (
      (e.currentTarget as HTMLFormElement).elements.namedItem('reason') as HTMLInputElement
    ).value.trim();
    if (reason) void send('ABORT', reason);
  };
  return html`<div class="commands">
    ${m.possible.map((c) =>
      c === 'ABORT'
        ? html`<button type="button" class="danger" disabled=${busy} onClick=${() => setConfirming(true)}>
            Abort…
          </button>`
        : html`<button type="button" disabled=${busy} onClick=${() => send(c)}>${LABELS[c] ?? c}</button>`,
    )}
    ${
      confirming &&
      html`<form class="confirm" onSubmit=${abort} aria-label="Confirm abort">
        <label for="abort-reason">Reason for aborting (the weight goes back to the VMs)</label>
        <input id="abort-reason" name="reason" required />
        <button type="submit" class="danger" disabled=${busy}>Confirm abort</button>
        <button type="button" onClick=${() => setConfirming(false)}>Cancel</button>
      </form>`
    }
  </div>`;
}

function Preflight({ history }: { history: Entry[] }) {
  const p = [...history].reverse().find((e) => e.type === 'preflight');
  if (p?.type !== 'preflight') return html`<p>Not run yet.</p>`;
  const checks = p.checks;
  return html`<ul class="checks">
    ${checks.map((c) => html`<li class=${c.ok ? 'ok' : 'bad'}><strong>${c.ok ? '✓' : '✗'} ${c.id}</strong> ${c.message}${c.fix ? ` — ${c.fix}` : ''}</li>`)}
  </ul>`;
}

export function MigrationPage({ id, me }: { id: string; me: Me }) {
  const [m, setM] = useState<View | undefined>(undefined);
  const [history, setHistory] = useState<Entry[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const es = new EventSource(`/ui/api/events?migration=${encodeURIComponent(id)}`);
    const data = <T>(e: Event) => JSON.parse((e as MessageEvent<string>).data) as T;
    es.addEventListener('snapshot', (e) => {
      const s = data<{ migration: View; history: Entry[] }>(e);
      setM(s.migration);
      setHistory((h) => mergeEntries(s.history, h));
    });
    es.addEventListener('history', (e) => setHistory((h) => mergeEntries(h, data<Entry[]>(e))));
    es.addEventListener('migration', (e) => setM(data<View>(e)));
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) setError('Live updates stopped (not found or signed out).');
    });
    return () => es.close();
  }, [id]);
  if (!m) return html`<main><p>${error || 'Loading…'}</p></main>`;
  const submitted = history.find((e) => e.type === 'submitted');
  return html`<main>
    <p><a href="#/">← all migrations</a></p>
    <h1>${m.name} <small>${m.namespace}</small></h1>
    <div class="state">
      <span class=${`phase ${m.phase}`} data-testid="phase">${m.phase}</span>
      <${WeightBar} weight=${m.weight} />
      <span data-testid="step">step ${stepLabel(m)}</span>
      ${m.reason && html`<span class="reason">${m.reason}</span>`}
    </div>
    <${Commands} m=${m} me=${me} onError=${setError} />
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <h2>Weight, errors and latency</h2>
    <${Chart} history=${history} />
    <div class="cols">
      <section>
        <h2>Plan and policy</h2>
        <dl>
          <dt>Plan</dt>
          <dd>${String(submitted?.plan ?? m.name)} (submitted by ${m.createdBy})</dd>
          <dt>Route</dt>
          <dd data-testid="route">${routeLabel(m.route)}</dd>
          <dt>Policy</dt>
          <dd>${m.policy}</dd>
          <dt>Steps</dt>
          <dd>
            ${m.steps.map((s) => html`<span class=${s === m.weight ? 'step now' : 'step'}>${s}</span>`)}
          </dd>
        </dl>
      </section>
      <section>
        <h2>Preflight</h2>
        <${Preflight} history=${history} />
      </section>
    </div>
    <h2>History</h2>
    <table class="history">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Event</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        ${[...history]
          .reverse()
          .slice(0, 300)
          .map(
            (e) =>
              html`<tr class=${`h-${e.type} ${e.type === 'verdict' ? String(e.outcome) : ''}`}>
                <td>${new Date(e.at).toLocaleTimeString()}</td>
                <td>${e.type}</td>
                <td>${describe(e)}</td>
              </tr>`,
          )}
      </tbody>
    </table>
  </main>`;
}
