/**
 * A second look at high resolution for objects too small for the model's input (slicing-aided
 * inference, as SAHI does it): the image is cut into a grid of overlapping tiles, each tile goes
 * through the model at the full input size, and the tiles' boxes are added to the whole image's.
 *
 * What a tile adds is only what the whole-image pass missed: a tile box overlapping a box of the
 * whole image is dropped (the whole image sees large objects whole, a tile may see a part of one),
 * and so is a tile box that touches a tile edge inside the image (an object cut by the tile); the
 * overlap between tiles is what lets the neighbouring tile see such an object whole.
 *
 * Tiles only fill the room the whole image's boxes leave under maxDetections (inference/worker.ts):
 * they never displace a box of the whole image, and an answer that is already full costs nothing more.
 */
import type { Candidate } from './yolo-output.js';

export interface TileConfig {
  /** tiles per side; 1 is no tiling */
  grid: number;
  /** share of a tile's side that overlaps its neighbour */
  overlap: number;
}

export interface Tile {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The tiles of an image, row by row, or none when tiling cannot add resolution: an image whose
 * longer side fits the model input is already seen at its own resolution or larger.
 */
export function tileGrid(width: number, height: number, config: TileConfig, inputSize: number): Tile[] {
  const { grid, overlap } = config;
  if (grid <= 1 || Math.max(width, height) <= inputSize) return [];
  const axis = (length: number): { start: number; size: number }[] => {
    // grid tiles of side s with (grid - 1) overlaps of overlap * s cover the length exactly
    const size = Math.min(length, Math.ceil(length / (grid - (grid - 1) * overlap)));
    const stride = grid > 1 ? (length - size) / (grid - 1) : 0;
    return Array.from({ length: grid }, (_, i) => ({ start: Math.round(i * stride), size }));
  };
  const xs = axis(width);
  const ys = axis(height);
  const tiles: Tile[] = [];
  for (const y of ys) for (const x of xs) tiles.push({ x: x.start, y: y.start, width: x.size, height: y.size });
  return tiles;
}

/** The tile's pixels as their own HWC RGB image. */
export function cropTile(pixels: Uint8Array, imageWidth: number, tile: Tile): Uint8Array {
  const out = new Uint8Array(tile.width * tile.height * 3);
  const row = tile.width * 3;
  for (let y = 0; y < tile.height; y++) {
    const from = ((tile.y + y) * imageWidth + tile.x) * 3;
    out.set(pixels.subarray(from, from + row), y * row);
  }
  return out;
}

/** Within this share of a tile's side (and at least a pixel) a box counts as touching the edge. */
const EDGE_MARGIN = 0.01;

/**
 * A box of a tile (in the tile's pixels) in the image's pixels, or undefined when it touches an
 * edge of the tile that lies inside the image.
 */
export function fromTile(box: Candidate, tile: Tile, imageWidth: number, imageHeight: number): Candidate | undefined {
  const mx = Math.max(1, EDGE_MARGIN * tile.width);
  const my = Math.max(1, EDGE_MARGIN * tile.height);
  if (tile.x > 0 && box.x1 <= mx) return undefined;
  if (tile.y > 0 && box.y1 <= my) return undefined;
  if (tile.x + tile.width < imageWidth && box.x2 >= tile.width - mx) return undefined;
  if (tile.y + tile.height < imageHeight && box.y2 >= tile.height - my) return undefined;
  return { ...box, x1: box.x1 + tile.x, y1: box.y1 + tile.y, x2: box.x2 + tile.x, y2: box.y2 + tile.y };
}

/** Share of the smaller box that the two boxes share. */
function overlapOfSmaller(a: Candidate, b: Candidate): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const smaller = Math.min((a.x2 - a.x1) * (a.y2 - a.y1), (b.x2 - b.x1) * (b.y2 - b.y1));
  return smaller > 0 ? (iw * ih) / smaller : 0;
}

/** Tile boxes over which a whole-image box of the same class lies by half or more are the same object (or a part of it). */
export const SAME_OBJECT_OVERLAP = 0.5;

/** The tile boxes that add an object the whole-image pass did not find. */
export function newFromTiles(tileBoxes: Candidate[], wholeImage: Candidate[]): Candidate[] {
  return tileBoxes.filter((t) => !wholeImage.some((w) => w.classId === t.classId && overlapOfSmaller(t, w) >= SAME_OBJECT_OVERLAP));
}
