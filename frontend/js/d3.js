// D3 v7 is loaded by a classic <script src="/vendor/d3.min.js"> (the UMD build sets window.d3)
// before the modules run; this module hands it to the rest of the code as an import.
const d3 = window.d3;
if (!d3) throw new Error("D3 did not load from /vendor/d3.min.js");
export default d3;
