// Colours, from the Okabe–Ito palette (distinguishable with the common colour-vision
// deficiencies). One hue per node set (table headers, bars, panel frames) and one per circuit
// family (row headers, chart groups, circuit picker). "Animal" is orange and "attribute" sky
// blue wherever they appear, so a node set, a family and a node kind of the same name match.

const OKABE_ITO = {
  orange: "#E69F00",
  sky: "#56B4E9",
  green: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  purple: "#CC79A7",
  black: "#000000",
};

const NODE_SET = {
  neuron: "#8c8c8c",
  animal: OKABE_ITO.orange,
  attribute: OKABE_ITO.sky,
  half: OKABE_ITO.green,
  mixed: OKABE_ITO.purple,
  spd: OKABE_ITO.blue, // the trained model's SPD subcomponents
  hidden: OKABE_ITO.vermillion, // the trained model's own neurons (not neuron's grey)
};
// Further node sets (learned SAEs) take these in the order they are first asked for, so no two
// columns on one page share a hue (a hash could collide). Dark enough for white text contrast.
const EXTRA = ["#6A3D9A", "#1B7837", "#8C510A", "#01665E", "#B2182B", "#4D4D4D", "#762A83", "#35978F"];
const extraAssigned = new Map();
const UNION = "#B8A900"; // Okabe–Ito yellow, darkened enough to read on white

const FAMILY = {
  animal: OKABE_ITO.orange,
  attribute: OKABE_ITO.sky,
  composite: OKABE_ITO.purple,
  "cross-domain": OKABE_ITO.black,
};

const FALLBACK = [OKABE_ITO.blue, OKABE_ITO.vermillion, OKABE_ITO.black, "#999999"];

function hashIndex(id, n) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % n;
}

export function nodeSetColor(id) {
  if (NODE_SET[id]) return NODE_SET[id];
  if (String(id).startsWith("union")) return UNION;
  if (!extraAssigned.has(id)) extraAssigned.set(id, EXTRA[extraAssigned.size % EXTRA.length]);
  return extraAssigned.get(id);
}

export function familyColor(id) {
  return FAMILY[id] || FALLBACK[hashIndex(id, FALLBACK.length)];
}

/** Fill of a graph node by its kind (animal, attribute, neuron, ...). */
export function nodeKindColor(kind) {
  if (kind === "animal") return OKABE_ITO.orange;
  if (kind === "attribute") return OKABE_ITO.sky;
  if (kind === "neuron") return NODE_SET.neuron;
  if (kind === "spd" || kind === "hidden") return NODE_SET[kind];
  if (kind === "error") return "#ffffff";
  if (kind === "more") return "#ffffff";
  return "#bbbbbb";
}

// Edge sign: blue for positive, vermillion for negative.
export const POSITIVE = OKABE_ITO.blue;
export const NEGATIVE = OKABE_ITO.vermillion;
export const signColor = (w) => (w < 0 ? NEGATIVE : POSITIVE);
