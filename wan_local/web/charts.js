// Small SVG charts for the operator's console: stacked bars and plain bars, no library, no build step.
const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// bars: [{label, values: [n, ...]}] stacked in the order of `series` ([{name, color}]).
export function stackedBars(container, bars, series, { height = 180, labelEvery = 1 } = {}) {
  const width = 720, left = 40, bottom = 22, top = 8;
  const max = Math.max(1, ...bars.map((b) => b.values.reduce((a, n) => a + n, 0)));
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  const plot = height - bottom - top;
  const step = (width - left) / Math.max(bars.length, 1);
  for (const frac of max >= 2 ? [0, 0.5, 1] : [0, 1]) {
    const y = top + plot * (1 - frac);
    svg.append(el("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#d9dde5" }));
    svg.append(el("text", { x: left - 4, y: y + 3, "text-anchor": "end" }, String(Math.round(max * frac))));
  }
  bars.forEach((bar, i) => {
    let y = top + plot;
    bar.values.forEach((n, s) => {
      if (!n) return;
      const h = (n / max) * plot;
      y -= h;
      const rect = el("rect", { x: left + i * step + 1, y, width: Math.max(step - 2, 1), height: h,
                                fill: series[s].color, "data-series": series[s].name });
      rect.append(el("title", {}, `${bar.label}: ${series[s].name} ${n}`));
      svg.append(rect);
    });
    if (i % labelEvery === 0) {
      svg.append(el("text", { x: left + i * step + step / 2, y: height - 6, "text-anchor": "middle" }, bar.label));
    }
  });
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    item.innerHTML = `<i style="background:${s.color}"></i>`;
    item.append(s.name);
    legend.append(item);
  }
  container.replaceChildren(svg, legend);
  return svg;
}
