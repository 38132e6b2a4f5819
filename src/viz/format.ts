/** Small text helpers shared by the PNG, SVG and HTML renderers. */

/** Font stack for every rendered label; DejaVu Sans is what librsvg finds on Debian. */
export const FONT_FAMILY = 'DejaVu Sans, Verdana, Arial, sans-serif';

/**
 * A compact, readable tick label: 3 significant digits without trailing zeros, exponent notation
 * for very large or very small magnitudes (RPE biases can be ~1e-4 early in training).
 */
export function formatTick(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  if (v === 0) return '0'; // also turns -0 into "0"
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) {
    const [m, e] = v.toExponential(2).split('e');
    return `${stripZeros(m)}e${e.replace('+', '')}`;
  }
  return stripZeros(v.toPrecision(3));
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** Escape text for SVG/HTML element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/**
 * Rough rendered width of a string in DejaVu Sans at `fontSize` px. Layouts only use it to reserve
 * enough room (it errs on the wide side), never to position glyphs precisely.
 */
export function estimateTextWidth(text: string, fontSize: number, bold = false): number {
  return Math.ceil([...text].length * fontSize * (bold ? 0.7 : 0.62));
}

/** Zero-padded layer/head number for file names: 3 -> "03", 123 -> "123". */
export function pad2(i: number): string {
  return String(i).padStart(2, '0');
}
