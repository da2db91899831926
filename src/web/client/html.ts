/** htm bound to Preact's h: tagged templates instead of JSX, so the bundle needs no compiler beyond esbuild. */
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
