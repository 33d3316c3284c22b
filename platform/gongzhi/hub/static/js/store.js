// The tickets this page may see, kept by id. Updates from the stream and from snapshots land here;
// views read the store once per animation frame, never per update.

export const SEVERITIES = ["critical", "major", "minor"];
export const SEVERITY_RANK = { critical: 0, major: 1, minor: 2 };
export const ACTIVE_STATUSES = new Set(["open", "acknowledged", "dispatched", "on_site"]);
const STATUS_RANK = { open: 0, acknowledged: 1, dispatched: 2, on_site: 3 };

/** Epoch milliseconds from a number (ms) or an ISO-8601 string; null when absent. */
export function toMs(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return value;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

export const isActive = (ticket) => ACTIVE_STATUSES.has(ticket.status);

/** Whether the signed-in party may take `action` on `ticket` now: the platform's action matrix
 * says so in `allowed_actions`. */
export const mayAct = (ticket, action) =>
  Array.isArray(ticket.allowed_actions) && ticket.allowed_actions.includes(action);
export const severityRank = (severity) => SEVERITY_RANK[severity] ?? 3;

/** The map place of a location: one floor of one unit of one building. */
export function placeKey(location) {
  if (!location) return null;
  return [location.estate_id, location.building, location.unit ?? "", location.floor ?? ""]
    .join("|");
}

export function buildingKey(location) {
  if (!location) return null;
  return [location.estate_id, location.building].join("|");
}

/** Most urgent first: severity, then not yet acknowledged, then the nearest deadline. */
export function compareTickets(a, b) {
  return severityRank(a.severity) - severityRank(b.severity)
    || (STATUS_RANK[a.status] ?? 9) - (STATUS_RANK[b.status] ?? 9)
    || (toMs(a.due_at) ?? Infinity) - (toMs(b.due_at) ?? Infinity)
    || (toMs(b.opened_at) ?? 0) - (toMs(a.opened_at) ?? 0)
    || String(a.id).localeCompare(String(b.id));
}

// A snapshot fetched while events stream in may be older than an event already applied.
function version(ticket) {
  if (typeof ticket.version === "number") return ticket.version;
  return toMs(ticket.updated_at);
}

// What decides a ticket's place in the sorted list and its colour on the map. A repeated
// occurrence (the most frequent update by far) changes neither.
const sortKey = (t) => `${t.status}|${t.severity}|${t.due_at}|${t.opened_at}`;
const shapeKey = (t) => `${t.status}|${t.severity}|${t.kind}`;

export class TicketStore {
  constructor() {
    this.byId = new Map();
    this.sorted = null;
    // Bumped when the active set or a ticket's status, severity or kind changes: views that
    // only depend on those (map, counts) skip the other updates.
    this.shapeVersion = 0;
  }

  get size() {
    return this.byId.size;
  }

  get(id) {
    return this.byId.get(String(id));
  }

  /** Apply one ticket; returns {ticket, previous} or null when it is older than what we hold. */
  upsert(ticket) {
    const id = String(ticket.id);
    const previous = this.byId.get(id) ?? null;
    if (previous) {
      const before = version(previous);
      const after = version(ticket);
      if (before !== null && after !== null && after < before) return null;
    }
    this.byId.set(id, ticket);
    if (!previous || shapeKey(previous) !== shapeKey(ticket)) this.shapeVersion += 1;
    if (this.sorted !== null && previous && sortKey(previous) === sortKey(ticket)) {
      // Same position: swap the object in place instead of sorting again.
      const index = isActive(previous) ? this.sorted.indexOf(previous) : -1;
      if (index >= 0) this.sorted[index] = ticket;
      else if (isActive(ticket)) this.sorted = null;
    } else {
      this.sorted = null;
    }
    return { ticket, previous };
  }

  /** Replace everything with a snapshot, keeping any entry newer than the snapshot's copy. */
  replaceAll(tickets) {
    const next = new Map();
    for (const ticket of tickets) {
      const id = String(ticket.id);
      const held = this.byId.get(id);
      const newer = held && version(held) !== null && version(ticket) !== null
        && version(held) > version(ticket);
      next.set(id, newer ? held : ticket);
    }
    this.byId = next;
    this.sorted = null;
    this.shapeVersion += 1;
  }

  /** Active tickets, most urgent first (cached until the next change). */
  active() {
    if (this.sorted === null) {
      this.sorted = [...this.byId.values()].filter(isActive).sort(compareTickets);
    }
    return this.sorted;
  }
}
