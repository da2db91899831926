/**
 * Finds the places in a TypeScript file that start a program, and reports each one that starts a program missing
 * from the tool list (src/sim/tools.ts) or one that cannot be told from the source. Allowed:
 * - a child_process call whose first argument is `process.execPath` (Node itself) or a string literal naming a
 *   listed program (`spawnSync('promtool', …)`);
 * - `spawnTool` / `spawnToolSync` / `execTool` / `requireTool` / `findTool` (their parameter is a ToolName, and
 *   they check it at run time; a literal forced past the compiler with a cast is flagged here);
 * - playwright's `executablePath:` given `requireTool('<listed>')`.
 * Anything else (a variable program, `promisify(execFile)`, a shell via `exec`, `require('child_process')`) is a
 * violation: go through src/sim/tools.ts instead.
 */
import ts from 'typescript';
import { isToolName } from '../../src/sim/tools.js';

const CHILD_PROCESS = new Set(['child_process', 'node:child_process']);
const PROGRAM_FNS = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync']);
/** `fork` runs a Node module with Node itself. */
const NODE_FNS = new Set(['fork']);
const TOOL_FNS = new Set(['spawnTool', 'spawnToolSync', 'execTool', 'requireTool', 'findTool']);

export interface SpawnViolation {
  line: number;
  text: string;
  why: string;
}

function isProcessExecPath(n: ts.Node | undefined): boolean {
  return (
    n !== undefined &&
    ts.isPropertyAccessExpression(n) &&
    ts.isIdentifier(n.expression) &&
    n.expression.text === 'process' &&
    n.name.text === 'execPath'
  );
}

/** The string a literal argument names (through `as` casts), if it is one. */
function literalTool(n: ts.Node | undefined): string | undefined {
  while (n && (ts.isAsExpression(n) || ts.isParenthesizedExpression(n))) n = n.expression;
  return n && ts.isStringLiteralLike(n) ? n.text : undefined;
}

/** Local names bound to child_process functions (`import { spawn as run }`) and namespaces (`import * as cp`). */
function childProcessBindings(sf: ts.SourceFile, bad: (n: ts.Node, why: string) => void) {
  const fns = new Map<string, string>();
  const namespaces = new Set<string>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    if (!CHILD_PROCESS.has(st.moduleSpecifier.text)) continue;
    const clause = st.importClause;
    if (!clause || clause.isTypeOnly) continue;
    if (clause.name) bad(st, 'default import of child_process: import the functions by name');
    const bindings = clause.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) namespaces.add(bindings.name.text);
    else if (bindings) {
      for (const el of bindings.elements) {
        const imported = (el.propertyName ?? el.name).text;
        if (!el.isTypeOnly && (PROGRAM_FNS.has(imported) || NODE_FNS.has(imported)))
          fns.set(el.name.text, imported);
      }
    }
  }
  return { fns, namespaces };
}

/** The child_process function a callee names (`spawn`, `cp.spawn`), if any. */
function calleeFn(
  n: ts.Node,
  b: { fns: Map<string, string>; namespaces: Set<string> },
): { fn: string; node: ts.Node } | undefined {
  if (ts.isIdentifier(n) && b.fns.has(n.text)) {
    const parent = n.parent;
    const isBinding =
      ts.isImportSpecifier(parent) ||
      (ts.isPropertyAccessExpression(parent) && parent.name === n) ||
      (ts.isPropertyAssignment(parent) && parent.name === n);
    return isBinding ? undefined : { fn: b.fns.get(n.text)!, node: n };
  }
  if (
    ts.isPropertyAccessExpression(n) &&
    ts.isIdentifier(n.expression) &&
    b.namespaces.has(n.expression.text)
  ) {
    return { fn: n.name.text, node: n };
  }
  return undefined;
}

function checkChildProcessUse(fn: string, node: ts.Node, bad: (n: ts.Node, why: string) => void): void {
  const call = node.parent;
  if (!ts.isCallExpression(call) || call.expression !== node) {
    bad(node, `${fn} used other than by a direct call: its program cannot be checked against the tool list`);
    return;
  }
  if (NODE_FNS.has(fn) || !PROGRAM_FNS.has(fn)) return;
  const first = call.arguments[0];
  if (isProcessExecPath(first)) return;
  const name = literalTool(first);
  if (name === undefined) bad(call, `${fn} of a program not named in the source: use spawnTool & co.`);
  else if (fn === 'exec' || fn === 'execSync') bad(call, `${fn} runs a shell command line: use execTool`);
  else if (!isToolName(name)) bad(call, `${fn}('${name}'): ${name} is not in the tool list`);
}

function checkToolCall(call: ts.CallExpression, bad: (n: ts.Node, why: string) => void): void {
  const callee = call.expression;
  if (!ts.isIdentifier(callee) || !TOOL_FNS.has(callee.text)) return;
  // A ToolName-typed variable is checked by the compiler and by the wrapper at run time; a cast literal is not.
  const name = literalTool(call.arguments[0]);
  if (name !== undefined && !isToolName(name))
    bad(call, `${callee.text}('${name}'): ${name} is not in the tool list`);
}

function checkExecutablePath(p: ts.PropertyAssignment, bad: (n: ts.Node, why: string) => void): void {
  const v = p.initializer;
  const ok =
    ts.isCallExpression(v) &&
    ts.isIdentifier(v.expression) &&
    v.expression.text === 'requireTool' &&
    literalTool(v.arguments[0]) !== undefined;
  if (!ok) bad(p, "executablePath must be requireTool('<listed program>')");
}

/** Every program start in `source` that the tool list does not cover. */
export function spawnViolations(fileName: string, source: string): SpawnViolation[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: SpawnViolation[] = [];
  const bad = (n: ts.Node, why: string) => {
    const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
    out.push({ line, text: n.getText(sf).split('\n')[0]!.slice(0, 120), why });
  };
  const bindings = childProcessBindings(sf, bad);
  const visit = (n: ts.Node): void => {
    const used = calleeFn(n, bindings);
    if (used) checkChildProcessUse(used.fn, used.node, bad);
    if (ts.isCallExpression(n)) checkToolCall(n, bad);
    if (ts.isPropertyAssignment(n) && ts.isIdentifier(n.name) && n.name.text === 'executablePath') {
      checkExecutablePath(n, bad);
    }
    // require('node:child_process'), import('node:child_process'), export … from 'node:child_process'
    const loaded = ts.isCallExpression(n.parent ?? n) || ts.isExportDeclaration(n.parent ?? n);
    if (ts.isStringLiteralLike(n) && CHILD_PROCESS.has(n.text) && loaded) {
      bad(n, 'child_process loaded dynamically or re-exported: import its functions statically');
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}
