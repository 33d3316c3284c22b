// The tickets a page may see, kept live: a snapshot of the list on the first connection, then
// server push; after a reconnection the stream resumes from the last event id, so nothing is
// missed and nothing is fetched twice. Events that arrive while the snapshot is on its way are
// applied again after it (they are newer).
import { listTickets } from "./api.js";
import { EventStream } from "./sse.js";
import { ACTIVE_STATUSES, TicketStore } from "./store.js";

const ACTIVE_LIST = [...ACTIVE_STATUSES].join(",");

export class LiveTickets {
  /**
   * onChange(ticket, previous, live): one ticket changed (live: it came by push)
   * onLoaded(): a snapshot replaced the list; onState(state): the connection's state
   * onError(error): the snapshot failed
   */
  constructor({ onChange, onLoaded = () => {}, onState = () => {}, onError = () => {} }) {
    this.store = new TicketStore();
    this.onChange = onChange;
    this.onLoaded = onLoaded;
    this.onError = onError;
    this.snapshotting = false;
    this.buffered = [];
    this.events = 0;
    this.stream = new EventStream("/api/stream", {
      onEvent: (event) => this.onEvent(event),
      onState,
      onOpen: ({ resumed }) => {
        if (!resumed) this.snapshot();
      },
    });
  }

  start() {
    this.stream.start();
  }

  get state() {
    return this.stream.state;
  }

  async snapshot() {
    this.snapshotting = true;
    this.buffered = [];
    try {
      const tickets = await listTickets({ status: ACTIVE_LIST, limit: 5000 });
      this.store.replaceAll(tickets);
      for (const ticket of this.buffered) this.store.upsert(ticket);
      this.onLoaded();
    } catch (error) {
      this.onError(error);
    } finally {
      this.snapshotting = false;
      this.buffered = [];
    }
  }

  onEvent(event) {
    if (event.type === "resync") {
      this.snapshot();
      return;
    }
    if (event.type !== "ticket") return;
    this.events += 1;
    document.body.dataset.events = String(this.events);
    let ticket;
    try {
      ticket = JSON.parse(event.data);
    } catch {
      return;
    }
    if (this.snapshotting) this.buffered.push(ticket);
    this.apply(ticket, true);
  }

  /** A ticket from push (live) or from an action's answer. */
  apply(ticket, live) {
    const change = this.store.upsert(ticket);
    if (change) this.onChange(ticket, change.previous, live);
  }
}
