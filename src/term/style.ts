/** Text styling for a terminal, shared by every command that prints for people: ANSI colours and the weight bar. */

/** Colours only on a TTY, and never with NO_COLOR set. */
const useColor = () => !!process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, s: string) => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);
export const green = (s: string) => paint(32, s);
export const red = (s: string) => paint(31, s);
export const yellow = (s: string) => paint(33, s);
export const dim = (s: string) => paint(2, s);
export const bold = (s: string) => paint(1, s);

/** A weight (0 to 100 %) as a bar of `width` characters. */
export function bar(weight: number, width = 20): string {
  const n = Math.round((weight / 100) * width);
  return `${'█'.repeat(n)}${'░'.repeat(width - n)}`;
}
