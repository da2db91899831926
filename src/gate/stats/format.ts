/** A rate as the gate's messages print it: percent, three decimals below 0.1 %, otherwise two. */
export const pct = (x: number): string => `${(x * 100).toFixed(x < 0.001 && x > 0 ? 3 : 2)} %`;
