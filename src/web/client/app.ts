/** The dashboard shell: sign-in (token → session cookie), then the list (#/) or a migration (#/m/<id>). */
import { useEffect, useState } from 'preact/hooks';
import { describeGrants } from '../../auth/access.js';
import { ApiError, call, setCsrf, type Me } from './api.js';
import { html } from './html.js';
import { ListPage } from './list.js';
import { MigrationPage } from './migration.js';

const route = () => {
  const m = /^#\/m\/([^/?#]+)/.exec(location.hash);
  return m ? { page: 'migration' as const, id: decodeURIComponent(m[1]!) } : { page: 'list' as const };
};

function Login({ onIn }: { onIn: (me: Me) => void }) {
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem('token') as HTMLInputElement;
    try {
      const me = await call<Me>('POST', '/ui/api/login', { token: input.value });
      input.value = '';
      onIn(me);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401 ? 'Unknown token.' : String((err as Error).message),
      );
    }
  };
  return html`<main class="login">
    <h1>meshshift</h1>
    <form onSubmit=${submit} method="post" action="#">
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required />
      <button type="submit">Sign in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <p class="hint">The token is exchanged for a session cookie; it is never put in a URL.</p>
    </form>
  </main>`;
}

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [r, setRoute] = useState(route());
  useEffect(() => {
    call<Me>('GET', '/ui/api/me')
      .then((m) => {
        setCsrf(m.csrf);
        setMe(m);
      })
      .catch(() => setMe(null));
    const onHash = () => setRoute(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (me === undefined) return html`<main><p>Loading…</p></main>`;
  if (me === null)
    return html`<${Login}
      onIn=${(m: Me) => {
        setCsrf(m.csrf);
        setMe(m);
      }}
    />`;
  const logout = async () => {
    await call('POST', '/ui/api/logout', {}).catch(() => undefined);
    setMe(null);
  };
  return html`<header class="top">
      <a href="#/" class="brand">meshshift</a>
      <span class="who" title=${describeGrants(me.grants)}>${me.user} · ${describeGrants(me.grants)}</span>
      <button type="button" class="link" onClick=${logout}>Sign out</button>
    </header>
    ${
      r.page === 'migration'
        ? html`<${MigrationPage} key=${r.id} id=${r.id} me=${me} />`
        : html`<${ListPage} me=${me} />`
    }`;
}
