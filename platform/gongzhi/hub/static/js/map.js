// The estate map, drawn from the registry's layout (no hand drawing): each building a block, its
// units as columns and floors as rows, each place coloured by its worst open ticket. A fire
// blinks; severity also shows as an icon, never by colour alone.
import { h, setChildren } from "./dom.js";
import { formatLocation, kindLabel, severityLabel, t } from "./i18n.js";
import { severityIcon } from "./icons.js";
import { buildingKey, placeKey, severityRank } from "./store.js";

// Worse first: by severity, then a fire over anything else of the same severity.
function worse(a, b) {
  if (!b) return true;
  const bySeverity = severityRank(a.severity) - severityRank(b.severity);
  if (bySeverity !== 0) return bySeverity < 0;
  return a.kind === "fire" && b.kind !== "fire";
}

/** Floors top-down: the roof, numbers descending, basements ("B1", "-1") under the ground
 *  floor, and places with no floor at the very bottom. */
export function floorOrder(a, b) {
  const value = (f) => {
    if (/^-?\d+$/.test(f)) return Number(f);
    if (/^(roof|rf|top)$/i.test(f)) return 1000;
    const basement = /^B(\d+)$/i.exec(f);
    if (basement) return -Number(basement[1]);
    return f === "" ? -1000 : 0;
  };
  return value(b) - value(a) || String(a).localeCompare(String(b));
}

function floorLabel(floor) {
  if (floor === "") return "·";
  return /^(roof|rf|top)$/i.test(floor) ? t("map.roof") : floor;
}

const MAX_FLASHING = 3;
const MIN_FLOOR_PX = 15; // a 12 px cell and its gap, with a little room
const BLOCK_CHROME_PX = 66; // name, unit heads, padding and border of a building
const MIN_UNIT_PX = 26;
const FLASH_MS = 12_000;

const naturalOrder = (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });

export class EstateMap {
  constructor(root, { onPick }) {
    this.root = root;
    this.onPick = onPick;
    this.cells = new Map(); // placeKey -> element
    this.blocks = new Map(); // buildingKey -> element
    this.shown = new Map(); // element -> signature of what it shows
    this.layout = null;
    this.lastTickets = [];
    this.fitted = null;
    this.offline = new Set();
    new ResizeObserver(() => this.refit()).observe(root);
  }

  setLayout(layout) {
    this.layout = layout;
    this.fitted = null;
    this.cells.clear();
    this.blocks.clear();
    this.shown.clear();
    const estates = layout?.estates ?? [];
    if (estates.length === 0) {
      setChildren(this.root, h("p", { class: "empty", text: t("map.empty") }));
      return;
    }
    const several = estates.length > 1;
    setChildren(this.root, estates.map((estate) => {
      const grid = h("div", { class: "buildings" },
        [...estate.buildings].sort((a, b) => naturalOrder(a.building, b.building))
          .map((building) => this.buildingBlock(estate.estate_id, building)));
      if (!several) this.fitted = { grid, buildings: estate.buildings };
      return h("div", { class: "estate" },
        several ? h("h3", { class: "estate-name", text: estate.estate_id }) : null, grid);
    }));
    this.refit();
    this.setOffline(this.offline);
    this.update(this.lastTickets);
  }

  refit() {
    if (this.fitted) this.fit(this.fitted.grid, this.fitted.buildings);
  }

  /** As many columns as it takes for every building to fit the panel with legible floors
   *  (scrolling only when even the narrowest blocks cannot). */
  fit(grid, buildings) {
    const width = this.root.clientWidth || 700;
    const height = this.root.clientHeight || 700;
    const floors = Math.max(...buildings.map((b) => b.floors.length));
    const units = Math.max(...buildings.map((b) => Math.max(1, b.units.filter(Boolean).length)));
    const minHeight = BLOCK_CHROME_PX + floors * MIN_FLOOR_PX;
    const minWidth = 44 + units * MIN_UNIT_PX;
    const count = buildings.length;
    let columns = Math.max(1, Math.floor(width / minWidth));
    for (let c = 1; c <= count; c += 1) {
      if (width / c < minWidth) break;
      columns = c;
      if (Math.ceil(count / c) * (minHeight + 10) <= height) break;
    }
    const rows = Math.ceil(count / columns);
    grid.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    grid.style.gridTemplateRows = `repeat(${rows}, minmax(${minHeight}px, 1fr))`;
  }

  buildingBlock(estateId, building) {
    // Devices of no unit (a roof tank, a riser, a pump room) get a place across the floor.
    const units = building.units.filter((u) => u !== "").sort(naturalOrder);
    const columns = Math.max(1, units.length);
    const floors = [...building.floors].sort(floorOrder);
    const present = new Set(building.places.map((p) => `${p.unit}|${p.floor}`));
    const grid = h("div", { class: "floors" });
    grid.style.gridTemplateColumns = `2.4em repeat(${columns}, 1fr)`;
    grid.style.gridTemplateRows = `repeat(${floors.length}, 1fr)`;
    const place = (unit, floor) => {
      const location = { estate_id: estateId, building: building.building, unit, floor };
      const key = placeKey(location);
      const cell = h("button", { class: "place", type: "button", dataset: { place: key },
        onclick: () => this.pick(key) });
      this.cells.set(key, cell);
      return cell;
    };
    for (const floor of floors) {
      grid.append(h("span", { class: "floor-label", text: floorLabel(floor) }));
      if (present.has(`|${floor}`) && !units.some((u) => present.has(`${u}|${floor}`))) {
        const cell = place("", floor);
        cell.style.gridColumn = `2 / span ${columns}`;
        grid.append(cell);
        continue;
      }
      for (const unit of units) {
        grid.append(present.has(`${unit}|${floor}`) ? place(unit, floor)
          : h("span", { class: "place place-none" }));
      }
    }
    const location = { estate_id: estateId, building: building.building };
    const block = h("div", { class: "building", dataset: { building: buildingKey(location) } },
      h("div", { class: "building-head" },
        h("span", { class: "building-name", text: formatLocation(location, 1) }),
        h("span", { class: "building-mark" })),
      h("div", { class: "unit-heads" },
        h("span"), units.map((u) => h("span", { text: u }))),
      grid);
    block.querySelector(".unit-heads").style.gridTemplateColumns =
      `2.4em repeat(${columns}, 1fr)`;
    this.blocks.set(buildingKey(location), block);
    return block;
  }

  /** Recolour from the active tickets; only elements whose state changed are touched. */
  update(activeTickets) {
    this.lastTickets = activeTickets;
    this.byPlace = new Map();
    const worstPlace = new Map();
    const worstBuilding = new Map();
    for (const ticket of activeTickets) {
      const place = placeKey(ticket.location);
      const building = buildingKey(ticket.location);
      if (place && this.cells.has(place)) {
        if (worse(ticket, worstPlace.get(place))) worstPlace.set(place, ticket);
        if (!this.byPlace.has(place)) this.byPlace.set(place, []);
        this.byPlace.get(place).push(ticket);
      }
      if (building && worse(ticket, worstBuilding.get(building))) {
        worstBuilding.set(building, ticket);
      }
    }
    for (const [key, cell] of this.cells) this.paint(cell, worstPlace.get(key), key);
    for (const [key, block] of this.blocks) this.paint(block, worstBuilding.get(key), key);
  }

  paint(el, ticket, key) {
    const signature = ticket ? `${ticket.id}|${ticket.severity}|${ticket.kind}|${ticket.status}`
      : "";
    if (this.shown.get(el) === signature) return;
    this.shown.set(el, signature);
    const isBlock = el.classList.contains("building");
    const mark = isBlock ? el.querySelector(".building-mark") : el;
    if (!ticket) {
      delete el.dataset.severity;
      delete el.dataset.kind;
      delete el.dataset.status;
      el.classList.remove("blink");
      mark.replaceChildren();
      el.title = isBlock ? "" : key.split("|").slice(1).join(" ");
      return;
    }
    el.dataset.severity = ticket.severity;
    el.dataset.kind = ticket.kind;
    el.dataset.status = ticket.status;
    el.classList.toggle("blink", ticket.kind === "fire");
    mark.replaceChildren(severityIcon(ticket.severity, isBlock ? 22 : 14));
    el.title = `${severityLabel(ticket.severity)} · ${kindLabel(ticket.kind)} · `
      + formatLocation(ticket.location);
  }

  /** Places with a device the gateway reports offline get a hatch (a ticket still colours). */
  setOffline(places) {
    this.offline = places; // kept: a layout that arrives later is hatched too
    for (const [key, cell] of this.cells) cell.classList.toggle("offline", places.has(key));
  }

  pick(key) {
    const tickets = this.byPlace?.get(key);
    if (tickets?.length) this.onPick(tickets[0]);
  }

  /** Draw the eye to where a new alarm is: a blinking ring for a while, scrolled into view.
   *  Only the newest few blink: a burst of alarms should not turn the map into noise. */
  highlight(location) {
    const el = this.cells.get(placeKey(location)) ?? this.blocks.get(buildingKey(location));
    if (!el) return;
    this.flashing = (this.flashing ?? []).filter((x) => x !== el);
    el.classList.remove("flash");
    void el.offsetWidth; // restart the animation
    el.classList.add("flash");
    this.flashing.push(el);
    while (this.flashing.length > MAX_FLASHING) this.flashing.shift().classList.remove("flash");
    el.scrollIntoView({ block: "nearest", inline: "nearest" });
    setTimeout(() => {
      el.classList.remove("flash");
      this.flashing = this.flashing.filter((x) => x !== el);
    }, FLASH_MS);
  }

  relabel() {
    if (this.layout) this.setLayout(this.layout);
  }
}
