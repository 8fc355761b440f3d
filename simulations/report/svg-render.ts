/**
 * Renders a Vega-Lite spec to a standalone SVG string, headless in Node: Vega's SVG renderer needs no canvas
 * and no native code (without the optional `canvas` package it estimates text widths, which only shifts
 * labels by a pixel or two). Vega-Lite 5 / Vega 5 are used because Vega-Lite 6 requires Node >= 22.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export type PlotSpec = TopLevelSpec;

/** Shared look: white background, readable fonts, no chart border. */
export const PLOT_CONFIG = {
  background: 'white',
  font: 'Helvetica, Arial, sans-serif',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, gridOpacity: 0.5 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 },
  title: { fontSize: 14, anchor: 'start' },
} as const;

export async function renderSvg(spec: PlotSpec): Promise<string> {
  const vegaSpec = compile({
    ...spec,
    config: { ...PLOT_CONFIG, ...(spec.config ?? {}) },
  }).spec;
  const view = new View(parse(vegaSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
