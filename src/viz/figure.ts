/**
 * Writing a figure (heatmap.ts's shapes) in the format asked for:
 *
 * - `png` / `jpg` at 96 dpi: the pixel-exact raster (every cell exactly its colour-map colour);
 * - `png` / `jpg` at another dpi: the SVG rendered by librsvg (sharp) at that density, so text and
 *   cells stay sharp at print resolution; the dpi is recorded in the file's metadata;
 * - `svg`: vector, cells as rectangles (runs of one colour merged), text as text;
 * - `pdf`: vector, through pdf-lib (the same rectangles; text in Helvetica, one of PDF's standard
 *   fonts, so nothing is embedded).
 *
 * Sizes are CSS pixels (1/96 inch): a 490x440 figure is 5.1x4.6 inches in a PDF or SVG.
 */
import { PDFDocument, StandardFonts, degrees, rgb } from 'pdf-lib';
import sharp from 'sharp';
import { FONT_FAMILY } from './format.js';
import { encodeFigureRaster, svgText, type Figure } from './heatmap.js';

export const FIGURE_FORMATS = ['png', 'jpg', 'svg', 'pdf'] as const;
export type FigureFormat = (typeof FIGURE_FORMATS)[number];

export interface FigureOptions {
  format: FigureFormat;
  /** Raster resolution (png/jpg); 96 is one figure pixel per image pixel. */
  dpi?: number;
}

const hex = (c: readonly number[]): string => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

export function figureToSvg(fig: Figure): string {
  const rects: string[] = [];
  const texts: string[] = [];
  for (const s of fig.shapes) {
    if (s.kind === 'rect')
      rects.push(`<rect x="${s.x}" y="${s.y}" width="${s.w}" height="${s.h}" fill="${hex(s.fill)}"/>`);
    else texts.push(svgText(s));
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fig.width}" height="${fig.height}" viewBox="0 0 ${fig.width} ${fig.height}">` +
    `<rect width="100%" height="100%" fill="#ffffff"/>` +
    `<g shape-rendering="crispEdges">${rects.join('')}</g>` +
    `<g font-family="${FONT_FAMILY}" fill="#222">${texts.join('')}</g></svg>\n`
  );
}

/** A PDF page of the figure's size (1 px = 0.75 pt). */
export async function figureToPdf(fig: Figure, title?: string): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  if (title) doc.setTitle(title);
  doc.setProducer('lape');
  doc.setCreator('lape visualize');
  // Fixed dates keep the output reproducible.
  doc.setCreationDate(new Date(0));
  doc.setModificationDate(new Date(0));
  const regular = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  const k = 0.75;
  const page = doc.addPage([fig.width * k, fig.height * k]);
  const H = fig.height;
  const drawable = new Map([
    [regular, new Set(regular.getCharacterSet())],
    [bold, new Set(bold.getCharacterSet())],
  ]);
  for (const s of fig.shapes) {
    if (s.kind === 'rect') {
      page.drawRectangle({
        x: s.x * k,
        y: (H - s.y - s.h) * k,
        width: s.w * k,
        height: s.h * k,
        color: rgb(s.fill[0] / 255, s.fill[1] / 255, s.fill[2] / 255),
      });
    } else {
      const font = s.bold ? bold : regular;
      // Helvetica has no glyph outside WinAnsi: keep what it can draw.
      const set = drawable.get(font) as Set<number>;
      const text = [...s.text].map((ch) => (set.has(ch.codePointAt(0) ?? 0) ? ch : '?')).join('');
      const size = s.size * k;
      const width = font.widthOfTextAtSize(text, size);
      const shift = s.anchor === 'middle' ? width / 2 : s.anchor === 'end' ? width : 0;
      page.drawText(text, {
        x: s.vertical ? s.x * k : s.x * k - shift,
        y: s.vertical ? (H - s.y) * k - shift : (H - s.y) * k,
        size,
        font,
        color: rgb(0x22 / 255, 0x22 / 255, 0x22 / 255),
        rotate: s.vertical ? degrees(90) : undefined,
      });
    }
  }
  return doc.save({ useObjectStreams: false });
}

/** The figure as a file of `format`. */
export async function encodeFigure(fig: Figure, opts: FigureOptions): Promise<Buffer> {
  const dpi = opts.dpi ?? 96;
  if (!(dpi > 0 && dpi <= 2400)) throw new RangeError(`--dpi must be in (0, 2400], got ${dpi}`);
  switch (opts.format) {
    case 'svg':
      return Buffer.from(figureToSvg(fig), 'utf8');
    case 'pdf':
      return Buffer.from(await figureToPdf(fig));
    case 'png':
    case 'jpg': {
      let img: sharp.Sharp;
      if (dpi === 96)
        img = sharp(await encodeFigureRaster(fig), {
          raw: { width: fig.width, height: fig.height, channels: 3 },
        });
      // librsvg's density is relative to 72 dpi; figure pixels are 1/96 inch.
      else
        img = sharp(Buffer.from(figureToSvg(fig)), { density: (dpi * 72) / 96 }).flatten({
          background: '#ffffff',
        });
      img = img.withMetadata({ density: dpi });
      return opts.format === 'png'
        ? img.png({ compressionLevel: 6 }).toBuffer()
        : img.jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
    }
  }
}
