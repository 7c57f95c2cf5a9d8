/**
 * Draws ci/smoke/plate.png, the monitor stage's sample image: a synthetic car rear with a white
 * licence plate reading "AB 123 CD" in seven-segment glyphs (plain SVG rectangles: no fonts needed,
 * so the picture is the same on every machine).
 *
 *   npx tsx ci/smoke/make-plate.ts
 */
import sharp from 'sharp';
import { fileURLToPath } from 'node:url';

// Segments a..g of a seven-segment digit in a 20x36 cell.
const SEGMENTS: Record<string, [number, number, number, number]> = {
  a: [3, 0, 14, 4], b: [16, 2, 4, 15], c: [16, 19, 4, 15], d: [3, 32, 14, 4],
  e: [0, 19, 4, 15], f: [0, 2, 4, 15], g: [3, 16, 14, 4],
};
const GLYPHS: Record<string, string> = {
  A: 'abcefg', B: 'cdefg', C: 'adef', D: 'bcdeg', '1': 'bc', '2': 'abdeg', '3': 'abcdg',
};

function glyph(ch: string, x: number, y: number): string {
  return [...(GLYPHS[ch] ?? '')]
    .map((s) => {
      const [sx, sy, w, h] = SEGMENTS[s]!;
      return `<rect x="${x + sx}" y="${y + sy}" width="${w}" height="${h}" fill="#111"/>`;
    })
    .join('');
}

export function plateSvg(text = 'AB 123 CD'): string {
  const plate = { x: 210, y: 250, w: 220, h: 52 };
  let x = plate.x + 14;
  const chars = [...text].map((ch) => {
    const g = ch === ' ' ? '' : glyph(ch, x, plate.y + 8);
    x += ch === ' ' ? 12 : 26;
    return g;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400">
  <rect width="640" height="400" fill="#7d8a96"/>
  <rect x="60" y="90" width="520" height="260" rx="30" fill="#2b3a55"/>
  <rect x="90" y="120" width="460" height="90" rx="12" fill="#9fb3c8"/>
  <rect x="80" y="230" width="70" height="30" fill="#c0392b"/><rect x="490" y="230" width="70" height="30" fill="#c0392b"/>
  <rect x="${plate.x - 3}" y="${plate.y - 3}" width="${plate.w + 6}" height="${plate.h + 6}" rx="6" fill="#111"/>
  <rect x="${plate.x}" y="${plate.y}" width="${plate.w}" height="${plate.h}" rx="4" fill="#f4f4f0"/>
  ${chars.join('')}
  <rect x="40" y="350" width="560" height="20" fill="#222"/>
</svg>`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = fileURLToPath(new URL('plate.png', import.meta.url));
  await sharp(Buffer.from(plateSvg())).png({ compressionLevel: 9 }).toFile(out);
  console.log(`wrote ${out}`);
}
