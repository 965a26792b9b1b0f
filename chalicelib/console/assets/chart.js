// The learning curve as SVG built node by node: accuracy against the labels each model version was
// trained on, and the labels random sampling would have needed (the report's estimate).
import { s } from "./dom.js";

const W = 560;
const H = 280;
const M = { left: 48, right: 16, top: 28, bottom: 40 };

export function learningCurve(report) {
  const points = (report.curve || []).filter((p) => typeof p.accuracy === "number");
  const estimate = report.estimated_savings;
  const maxX = Math.max(1, ...points.map((p) => p.labels), estimate ? estimate.random_would_need : 0) * 1.1;
  const x = (v) => M.left + (v / maxX) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - v * (H - M.top - M.bottom);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", id: "learning-curve",
    "aria-label": "learning curve: accuracy against labels" });
  // axes and grid
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: M.left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, v.toFixed(2)));
  }
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].find((n) => maxX / n <= 6) || Math.ceil(maxX / 5);
  for (let v = 0; v <= maxX; v += step) {
    svg.append(s("text", { x: x(v), y: H - M.bottom + 16, class: "tick", "text-anchor": "middle" }, String(v)));
  }
  svg.append(s("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: "axis" }),
    s("line", { x1: M.left, x2: M.left, y1: y(0), y2: y(1), class: "axis" }),
    s("text", { x: (M.left + W - M.right) / 2, y: H - 6, class: "label", "text-anchor": "middle" }, "labeled tasks"),
    s("text", { x: 8, y: 14, class: "label" }, "accuracy"));
  if (!points.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, class: "label", "text-anchor": "middle" }, "no model version yet"));
    return svg;
  }
  svg.append(s("polyline", { class: "curve", points: points.map((p) => `${x(p.labels)},${y(p.accuracy)}`).join(" ") }));
  for (const p of points) {
    svg.append(s("circle", { cx: x(p.labels), cy: y(p.accuracy), r: p.active ? 5 : 3.5,
      class: p.active ? "point active" : "point" }, s("title", {}, `${p.model_version}: ${p.labels} labels, accuracy ${p.accuracy.toFixed(3)}`)));
  }
  if (estimate) {
    const last = points[points.length - 1];
    svg.append(s("line", { x1: x(last.labels), x2: x(estimate.random_would_need), y1: y(last.accuracy),
      y2: y(last.accuracy), class: "random" }),
    s("circle", { cx: x(estimate.random_would_need), cy: y(last.accuracy), r: 3.5, class: "point random" },
      s("title", {}, `random sampling: about ${estimate.random_would_need} labels (estimate)`)),
    s("text", { x: x(estimate.random_would_need), y: y(last.accuracy) - 8, class: "tick", "text-anchor": "end" },
      `random ≈ ${estimate.random_would_need}`));
  }
  return svg;
}
