/**
 * The one authorization model of meshshift's interfaces (HTTP API, web dashboard, Slack): a principal holds
 * grants, each a role over namespaces. `viewer` may read; `operator` may also submit and send commands
 * (promote, pause, resume, abort). Namespaces are exact names or globs ("*" matches any run of characters).
 */
export const ROLES = ['viewer', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export interface Grant {
  role: Role;
  namespaces: string[];
}

export interface Principal {
  name: string;
  grants: Grant[];
  /** Slack member ids of this person (`slack=U012ABCDEF` on the token line): Slack uses the same grants. */
  slack?: string[];
}

/** Finds the principal of a Slack member (the tokens file implements it). */
export interface SlackPrincipals {
  bySlackUser(id: string): Principal | undefined;
}

/** What a caller wants to do: `read` needs viewer (or operator), `operate` needs operator. */
export type Permission = 'read' | 'operate';

/** A grant given to a token line that names none: full operator, as every token was before roles existed. */
export const DEFAULT_GRANTS: readonly Grant[] = [{ role: 'operator', namespaces: ['*'] }];

export function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(value);
}

/** May the principal do `what` on a migration in `namespace`? */
export function allows(p: Pick<Principal, 'grants'>, namespace: string, what: Permission): boolean {
  return p.grants.some(
    (g) => (what === 'read' || g.role === 'operator') && g.namespaces.some((n) => globMatch(n, namespace)),
  );
}

/** May the principal operate in at least one namespace (submit needs a namespace check after parsing)? */
export const operatesAnywhere = (p: Pick<Principal, 'grants'>): boolean =>
  p.grants.some((g) => g.role === 'operator');

/**
 * Parses grant words of a token line: `operator=payments,team-*` or `viewer=*`. Returns an error message naming
 * the bad word and the fix, or the grants.
 */
export function parseGrants(words: string[]): Grant[] | string {
  const grants: Grant[] = [];
  for (const w of words) {
    const m = /^([a-z]+)=(\S+)$/.exec(w);
    if (!m || !(ROLES as readonly string[]).includes(m[1]!))
      return `"${w}" is not a grant: write viewer=<namespaces> or operator=<namespaces> (comma-separated, globs allowed); a token itself has no spaces`;
    const namespaces = m[2]!.split(',').filter(Boolean);
    if (!namespaces.length) return `"${w}" lists no namespace (use "*" for all)`;
    grants.push({ role: m[1] as Role, namespaces });
  }
  return grants;
}

/** One line for logs and the dashboard: "operator in payments, team-*; viewer in *". */
export function describeGrants(grants: readonly Grant[]): string {
  return grants.map((g) => `${g.role} in ${g.namespaces.join(', ')}`).join('; ');
}
