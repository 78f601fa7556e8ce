// The 12 classes of the CMP facade database in the colours of its pix2pix
// label maps (MATLAB's jet colormap with 12 entries, in class order), and a
// few ready label maps to start drawing from.
"use strict";

const LABELS = [
  { name: "background", color: "#0000aa" },
  { name: "facade", color: "#0000ff" },
  { name: "window", color: "#0055ff" },
  { name: "door", color: "#00aaff" },
  { name: "cornice", color: "#00ffff" },
  { name: "sill", color: "#55ffaa" },
  { name: "balcony", color: "#aaff55" },
  { name: "blind", color: "#ffff00" },
  { name: "deco", color: "#ffaa00" },
  { name: "molding", color: "#ff5500" },
  { name: "pillar", color: "#ff0000" },
  { name: "shop", color: "#aa0000" },
];

const L = Object.fromEntries(LABELS.map((l) => [l.name, l.color]));

// A preset is a list of [label, x, y, w, h] rectangles on a 256x256 map,
// painted in order over the facade colour.
function gridOfWindows(rows, cols, top, rowH, left, right, opts) {
  const out = [];
  const cellW = (right - left) / cols;
  for (let r = 0; r < rows; r++) {
    const y = top + r * rowH;
    if (opts.molding) out.push(["molding", 0, y - 5, 256, 3]);
    for (let c = 0; c < cols; c++) {
      const x = Math.round(left + c * cellW + cellW * 0.22);
      const w = Math.round(cellW * 0.56);
      if (opts.cornice) out.push(["cornice", x - 3, y, w + 6, 4]);
      out.push(["window", x, y + 5, w, rowH - 14]);
      if (opts.blinds) {
        out.push(["blind", x - 7, y + 5, 6, rowH - 14]);
        out.push(["blind", x + w + 1, y + 5, 6, rowH - 14]);
      }
      if (opts.sill) out.push(["sill", x - 2, y + rowH - 10, w + 4, 4]);
    }
    if (opts.balcony) out.push(["balcony", left, y + rowH - 16, right - left, 8]);
  }
  return out;
}

const PRESETS = {
  "Apartment block": [
    ["background", 0, 0, 256, 14],
    ["molding", 0, 14, 256, 12],
    ...gridOfWindows(4, 4, 36, 42, 8, 248, { cornice: false, sill: true, molding: true }),
    ["shop", 0, 206, 256, 50],
    ["door", 104, 214, 48, 42],
  ],
  "Balconies and blinds": [
    ["background", 0, 0, 256, 10],
    ["cornice", 0, 10, 256, 10],
    ["deco", 20, 20, 216, 8],
    ...gridOfWindows(4, 3, 38, 44, 10, 246, { balcony: true, blinds: true }),
    ["pillar", 0, 214, 14, 42],
    ["pillar", 242, 214, 14, 42],
    ["shop", 14, 214, 80, 42],
    ["door", 104, 214, 48, 42],
    ["shop", 162, 214, 80, 42],
  ],
  "Town house": [
    ["background", 0, 0, 256, 40],
    ["cornice", 10, 40, 236, 8],
    ...gridOfWindows(3, 3, 60, 52, 20, 236, { cornice: true, sill: true }),
    ["molding", 0, 214, 256, 4],
    ["window", 40, 222, 50, 34],
    ["door", 110, 218, 36, 38],
    ["window", 166, 222, 50, 34],
  ],
  "Blank facade": [],
};
