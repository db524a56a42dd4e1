// A tiny 5x7 bitmap font (plus two descender rows) for labels in generated PNGs: lowercase letters,
// digits and a little punctuation. Uppercase is drawn as lowercase; unknown characters as '?'.
// Each glyph is up to 9 rows of 5 columns ('#' = ink); rows 0-6 sit on the baseline, rows 7-8 descend.
import { setPixel, type Raster } from "./png.js";

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 9;
/** Horizontal advance per character, including one column of spacing. */
export const ADVANCE = GLYPH_WIDTH + 1;

const GLYPHS: Record<string, string> = {
  a: ".....|.....|.###.|....#|.####|#...#|.####",
  b: "#....|#....|####.|#...#|#...#|#...#|####.",
  c: ".....|.....|.####|#....|#....|#....|.####",
  d: "....#|....#|.####|#...#|#...#|#...#|.####",
  e: ".....|.....|.###.|#...#|#####|#....|.###.",
  f: "..##.|.#...|####.|.#...|.#...|.#...|.#...",
  g: ".....|.....|.####|#...#|#...#|#...#|.####|....#|.###.",
  h: "#....|#....|####.|#...#|#...#|#...#|#...#",
  i: "..#..|.....|.##..|..#..|..#..|..#..|.###.",
  j: "...#.|.....|..##.|...#.|...#.|...#.|...#.|#..#.|.##..",
  k: "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
  l: ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
  m: ".....|.....|##.#.|#.#.#|#.#.#|#.#.#|#.#.#",
  n: ".....|.....|####.|#...#|#...#|#...#|#...#",
  o: ".....|.....|.###.|#...#|#...#|#...#|.###.",
  p: ".....|.....|####.|#...#|#...#|#...#|####.|#....|#....",
  q: ".....|.....|.####|#...#|#...#|#...#|.####|....#|....#",
  r: ".....|.....|#.##.|##..#|#....|#....|#....",
  s: ".....|.....|.####|#....|.###.|....#|####.",
  t: ".#...|.#...|####.|.#...|.#...|.#..#|..##.",
  u: ".....|.....|#...#|#...#|#...#|#..##|.##.#",
  v: ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
  w: ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
  x: ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
  y: ".....|.....|#...#|#...#|#...#|#...#|.####|....#|.###.",
  z: ".....|.....|#####|...#.|..#..|.#...|#####",
  "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
  "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
  "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
  "3": "####.|....#|....#|.###.|....#|....#|####.",
  "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
  "5": "#####|#....|####.|....#|....#|#...#|.###.",
  "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
  "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
  "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
  "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
  " ": "",
  "-": ".....|.....|.....|.###.",
  "_": ".....|.....|.....|.....|.....|.....|#####",
  ".": ".....|.....|.....|.....|.....|.##..|.##..",
  ",": ".....|.....|.....|.....|.....|..#..|..#..|.#...",
  ":": ".....|.##..|.##..|.....|.##..|.##..",
  "/": "....#|....#|...#.|..#..|.#...|#....|#....",
  "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
  ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
  "%": "##..#|##..#|...#.|..#..|.#...|#..##|#..##",
  "=": ".....|.....|#####|.....|#####",
  "+": ".....|..#..|..#..|#####|..#..|..#..",
  "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
  "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
};

/** Glyph bitmaps decoded once: 9 rows of 5 bits, bit 4 = leftmost column. */
const BITMAPS = new Map<string, Uint8Array>(
  Object.entries(GLYPHS).map(([ch, spec]) => {
    const rows = new Uint8Array(GLYPH_HEIGHT);
    (spec === "" ? [] : spec.split("|")).forEach((row, y) => {
      if (y >= GLYPH_HEIGHT || row.length !== GLYPH_WIDTH) throw new Error(`font: bad glyph row for '${ch}'`);
      for (let x = 0; x < GLYPH_WIDTH; x++) if (row[x] === "#") rows[y]! |= 1 << (GLYPH_WIDTH - 1 - x);
    });
    return [ch, rows];
  }),
);

function glyph(ch: string): Uint8Array {
  return BITMAPS.get(ch) ?? BITMAPS.get(ch.toLowerCase()) ?? BITMAPS.get("?")!;
}

/** Pixel width of `text` at `scale` (no trailing spacing). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * ADVANCE - 1) * scale;
}

/** Draws `text` with its top-left corner at (x, y); each font pixel is a scale x scale block. */
export function drawText(
  r: Raster,
  text: string,
  x: number,
  y: number,
  color: number | readonly [number, number, number] = 0,
  scale = 1,
): void {
  let cx = x;
  for (const ch of text) {
    const rows = glyph(ch);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      const bits = rows[gy]!;
      if (bits === 0) continue;
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (!(bits & (1 << (GLYPH_WIDTH - 1 - gx)))) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) setPixel(r, cx + gx * scale + dx, y + gy * scale + dy, color);
        }
      }
    }
    cx += ADVANCE * scale;
  }
}

/** The characters the font draws (others fall back to '?'). */
export const FONT_CHARACTERS: string = Object.keys(GLYPHS).join("");
