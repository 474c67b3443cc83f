// GET /pricing read defensively: the catalog grows (models, aspect ratios, packs), so the client lists
// whatever the API lists and assumes only the contract's shape:
// {"models": [{"model", "kind", "resolutions", "costs": {resolution: credits}, "aspect_ratios"}],
//  "packs": [{"pack_id", "credits", "amount", "currency"}]}.

// What the contract says the Wan models take, for an API that does not list aspect ratios yet.
const CONTRACT_ASPECT_RATIOS = ["16:9", "9:16"];

const nameOf = (value, ...keys) =>
  typeof value === "string" ? value : keys.map((k) => value?.[k]).find((v) => v != null) ?? null;

export function readPricing(pricing) {
  let models = pricing?.models ?? [];
  if (!Array.isArray(models)) models = Object.entries(models).map(([model, m]) => ({ model, ...m }));
  return {
    models: models.map(readModel).filter((m) => m.name && m.kind && m.resolutions.length),
    packs: (Array.isArray(pricing?.packs) ? pricing.packs : []).filter((p) => p?.pack_id && p.credits > 0),
  };
}

function readModel(m) {
  const listed = Array.isArray(m.resolutions) ? m.resolutions : [];
  const costs = {};
  for (const r of listed) if (r && typeof r === "object" && r.cost != null) costs[nameOf(r, "resolution", "name")] = r.cost;
  Object.assign(costs, m.costs ?? {});
  let resolutions = listed.map((r) => nameOf(r, "resolution", "name")).filter(Boolean);
  if (!resolutions.length) resolutions = Object.keys(costs);
  const aspects = m.aspect_ratios ?? m.aspectRatios;
  return {
    name: nameOf(m, "model", "name", "id"),
    kind: m.kind,
    label: m.label ?? m.description ?? null,
    raw: m, // the entry as the API listed it: editing.js reads `inputs`, `durations`, `duration_costs`
    resolutions,
    costs,
    // A list, or one list per resolution ({"480p": [...], ...}).
    aspectRatios(resolution) {
      const list = Array.isArray(aspects) ? aspects : aspects?.[resolution];
      return (Array.isArray(list) ? list : CONTRACT_ASPECT_RATIOS).map((a) => nameOf(a, "aspect_ratio", "value")).filter(Boolean);
    },
  };
}

// "$5.00" from {"amount": 500, "currency": "usd"} (amounts are in the currency's minor unit).
export function formatPrice(amount, currency) {
  try {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() });
    return format.format(amount / 10 ** format.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${amount} ${currency}`;
  }
}
