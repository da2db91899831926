/**
 * Bounds on plan and policy text. A plan is a few kilobytes and six levels deep; these limits keep hostile or
 * accidental input (huge bodies, deep nesting, alias bombs, thousands of keys) from exhausting the YAML parser,
 * and turn it into a ValidationError instead.
 */
import type { CST } from 'yaml';

export const LIMITS = {
  /** Characters of YAML/JSON text in one file or request body. */
  maxChars: 128 * 1024,
  /** Nesting of mappings and lists (a plan needs 6). */
  maxDepth: 64,
  /** Non-empty documents in one file. */
  maxDocuments: 100,
  /** How often aliases may repeat a value when the document is expanded (YAML's maxAliasCount). */
  maxAliasCount: 50,
  /** Errors reported per document; the rest are counted. */
  maxErrorsPerDocument: 50,
} as const;

type Item = { key?: CST.Token | null; value?: CST.Token };

/**
 * The offset of the first collection nested deeper than `limit` in the parser's concrete syntax tree, or
 * undefined. Walks with an explicit stack: the check must not itself overflow the call stack.
 */
export function tooDeepAt(tokens: readonly CST.Token[], limit: number): number | undefined {
  const stack: Array<[CST.Token, number]> = tokens.map((t) => [t, 0]);
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!;
    if (token.type === 'document') {
      if (token.value) stack.push([token.value, depth]);
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > limit) return token.offset;
      for (const item of token.items as Item[]) {
        if (item.key) stack.push([item.key, depth + 1]);
        if (item.value) stack.push([item.value, depth + 1]);
      }
    }
  }
  return undefined;
}
