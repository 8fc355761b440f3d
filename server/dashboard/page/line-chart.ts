/**
 * A small line chart as SVG markup: a few series over round numbers, nice y ticks, gaps where a value is
 * missing, a legend with each series' latest value, and a message when there is nothing to draw. Pure (string
 * in, string out) so it is tested in Node and the page only assigns the result; every text is escaped.
 */

export interface ChartPoint {
  x: number;
  y: number | null;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: ChartPoint[];
  /** Dashed line: for a series that often coincides with another (it is drawn on top of it). */
  dashed?: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  /** Include 0 in the y range (counts, bytes, durations); otherwise the range hugs the data (losses). */
  yFromZero?: boolean;
  formatY?: (v: number) => string;
  /**
   * The unit y ticks are round numbers of, given the largest |y| (default 1): bytes want 1, 2, 4 KiB rather
   * than 1000, 1953 B.
   */
  yUnit?: (maxAbs: number) => number;
  /** Shown in the middle when no series has a finite point. */
  emptyText?: string;
  /** Dots on the points while there are at most this many of them in total. Default 60. */
  maxDots?: number;
}

export const CHART_MARGIN = { left: 56, right: 14, top: 30, bottom: 26 };

const escapeMap: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => escapeMap[c]!);
}

/**
 * Round tick values (1, 2 or 5 times a power of ten) covering [min, max], at most about `target` + 1 of them.
 * The first tick is <= min and the last >= max.
 */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max < min) [min, max] = [max, min];
  const scale = Math.max(Math.abs(min), Math.abs(max));
  // A flat (or float-noise-wide) range gets a visible band around it; denormals count as zero.
  if (max - min <= Math.max(scale * 1e-9, 1e-300)) {
    const pad = scale > 1e-300 ? scale * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const first = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    // Multiply rather than accumulate, so 0.1 + 0.1 + 0.1 drift never shows up as 0.30000000000000004.
    const t = Number((first + i * step).toPrecision(12));
    ticks.push(t);
    if (t >= max - 1e-9 * Math.abs(step) || i > 1000) break;
  }
  return ticks;
}

/** Integer ticks for round numbers: at most `target` + 1 labels, never a fractional round. */
export function roundTicks(min: number, max: number, target = 6): number[] {
  const span = Math.max(1, max - min);
  const candidates = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];
  const step = candidates.find((s) => span / s <= target) ?? Math.ceil(span / target);
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max; t += step) ticks.push(t);
  return ticks;
}

function defaultFormat(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

export function lineChart(series: readonly ChartSeries[], options: ChartOptions = {}): string {
  const width = options.width ?? 480;
  const height = options.height ?? 230;
  const fmt = options.formatY ?? defaultFormat;
  const m = CHART_MARGIN;
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const finite = series.flatMap((s) =>
    s.points.filter(
      (p): p is { x: number; y: number } => p.y !== null && Number.isFinite(p.y) && Number.isFinite(p.x),
    ),
  );
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" class="chart" data-points="${finite.length}" role="img">`,
  ];
  // Legend: one entry per series with its latest value.
  let lx = m.left;
  for (const s of series) {
    const last = [...s.points].reverse().find((p) => p.y !== null && Number.isFinite(p.y));
    const label = `${s.name}${last ? ` ${fmt(last.y!)}` : ''}`;
    out.push(
      `<g class="legend"><rect x="${lx}" y="9" width="12" height="4" rx="1" fill="${escapeXml(s.color)}"/>` +
        `<text x="${lx + 17}" y="15">${escapeXml(label)}</text></g>`,
    );
    lx += 28 + label.length * 6.6;
  }
  const frame = `<rect class="plot" x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}"/>`;
  if (finite.length === 0) {
    out.push(frame);
    out.push(
      `<text class="empty" x="${m.left + plotW / 2}" y="${m.top + plotH / 2}" text-anchor="middle">${escapeXml(
        options.emptyText ?? 'no data yet',
      )}</text></svg>`,
    );
    return out.join('');
  }
  let xMin = Math.min(...finite.map((p) => p.x));
  let xMax = Math.max(...finite.map((p) => p.x));
  if (xMin === xMax) {
    xMin -= 1;
    xMax += 1;
  }
  let yMin = Math.min(...finite.map((p) => p.y));
  let yMax = Math.max(...finite.map((p) => p.y));
  if (options.yFromZero) {
    yMin = Math.min(0, yMin);
    yMax = Math.max(0, yMax);
  }
  const unit = options.yUnit?.(Math.max(Math.abs(yMin), Math.abs(yMax))) ?? 1;
  const yt = niceTicks(yMin / unit, yMax / unit, 4).map((t) => t * unit);
  yMin = yt[0]!;
  yMax = yt[yt.length - 1]!;
  const sx = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => m.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const c = (v: number) => v.toFixed(1);
  out.push(frame);
  for (const t of yt) {
    const y = c(sy(t));
    out.push(`<line class="grid" x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}"/>`);
    out.push(
      `<text class="tick" x="${m.left - 6}" y="${y}" dy="3.5" text-anchor="end">${escapeXml(fmt(t))}</text>`,
    );
  }
  for (const t of roundTicks(xMin, xMax)) {
    out.push(
      `<text class="tick" x="${c(sx(t))}" y="${m.top + plotH + 16}" text-anchor="middle">${escapeXml(String(t))}</text>`,
    );
  }
  const dots = finite.length <= (options.maxDots ?? 60);
  for (const s of series) {
    let d = '';
    let pen = false;
    for (const p of s.points) {
      if (p.y === null || !Number.isFinite(p.y) || !Number.isFinite(p.x)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${c(sx(p.x))} ${c(sy(p.y))}`;
      pen = true;
    }
    if (d) {
      const dash = s.dashed ? ' stroke-dasharray="5 4"' : '';
      out.push(`<path class="line" d="${d}" stroke="${escapeXml(s.color)}"${dash}/>`);
    }
    if (!dots) continue;
    for (const p of s.points) {
      if (p.y === null || !Number.isFinite(p.y) || !Number.isFinite(p.x)) continue;
      out.push(
        `<circle cx="${c(sx(p.x))}" cy="${c(sy(p.y))}" r="2.6" fill="${escapeXml(s.color)}">` +
          `<title>${escapeXml(`${s.name}, round ${p.x}: ${fmt(p.y)}`)}</title></circle>`,
      );
    }
  }
  out.push(`<text class="axis" x="${m.left - 6}" y="${m.top + plotH + 16}" text-anchor="end">round</text>`);
  out.push('</svg>');
  return out.join('');
}
