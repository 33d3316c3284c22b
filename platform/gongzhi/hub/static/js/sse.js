// Server push over fetch(): EventSource cannot send an Authorization header, and the token must
// not go into a URL. This parses text/event-stream itself (WHATWG HTML §9.2) and reconnects with
// Last-Event-ID, so a dropped connection or a platform restart loses nothing.
import { authHeaders, signalUnauthorized } from "./api.js";

/** Incremental text/event-stream parser: feed it text, it calls onEvent({id, type, data}). */
export class SseParser {
  constructor(onEvent, onRetry = () => {}) {
    this.onEvent = onEvent;
    this.onRetry = onRetry;
    this.buffer = "";
    this.data = [];
    this.type = "";
    this.lastEventId = null;
    this.sawId = false;
  }

  feed(text) {
    this.buffer += text;
    let start = 0;
    // Scanned in place (no copy of the rest per line): a storm delivers hundreds of events in
    // one chunk, and the cost must stay linear in its size.
    const newline = /\r\n|\r|\n/g;
    for (;;) {
      newline.lastIndex = start;
      const match = newline.exec(this.buffer);
      if (!match) break;
      const end = match.index;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for more text.
      if (match[0] === "\r" && end + 1 === this.buffer.length) break;
      this.line(this.buffer.slice(start, end));
      start = end + match[0].length;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) return; // comment (keepalive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) {
      this.lastEventId = value;
      this.sawId = true;
    } else if (field === "retry" && /^\d+$/.test(value)) this.onRetry(Number(value));
  }

  dispatch() {
    const hadData = this.data.length > 0;
    const event = { id: this.lastEventId, type: this.type || "message", data: this.data.join("\n") };
    this.data = [];
    this.type = "";
    if (hadData) this.onEvent(event);
  }
}

const KEEPALIVE_TIMEOUT_MS = 40_000; // the platform sends a comment every 15 s
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;

/**
 * A resumable server-push connection.
 *   onEvent({id, type, data})      every event, in order
 *   onState("connecting"|"live"|"disconnected", info)
 *   onOpen({resumed})              after each successful (re)connection
 */
export class EventStream {
  constructor(url, { onEvent, onState = () => {}, onOpen = () => {} }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onOpen = onOpen;
    this.lastEventId = null;
    this.running = false;
    this.controller = null;
    this.backoff = MIN_BACKOFF_MS;
    this.retryHint = null;
    this.state = "connecting";
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
    this.controller?.abort();
  }

  setState(state, info = {}) {
    this.state = state;
    this.onState(state, info);
  }

  async loop() {
    while (this.running) {
      // Once down, the page stays "disconnected" until a connection is really live again.
      if (this.state !== "disconnected") this.setState("connecting", {});
      let failure = null;
      try {
        await this.connectOnce();
      } catch (error) {
        failure = error;
      }
      if (!this.running) break;
      this.setState("disconnected", { error: failure ? String(failure.message ?? failure) : "" });
      const wait = this.retryHint ?? this.backoff;
      this.backoff = Math.min(MAX_BACKOFF_MS, this.backoff * 2);
      await new Promise((resolve) => setTimeout(resolve, wait * (0.75 + Math.random() * 0.5)));
    }
  }

  async connectOnce() {
    this.controller = new AbortController();
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (this.lastEventId !== null) headers["Last-Event-ID"] = this.lastEventId;
    const response = await fetch(this.url, {
      headers, signal: this.controller.signal, cache: "no-store", credentials: "omit",
    });
    if (response.status === 401) {
      this.running = false;
      signalUnauthorized();
      return;
    }
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    const resumed = this.lastEventId !== null;
    this.backoff = MIN_BACKOFF_MS;
    this.setState("live", {});
    this.onOpen({ resumed });
    const parser = new SseParser((event) => {
      if (event.id !== null) this.lastEventId = event.id;
      this.onEvent(event);
    }, (ms) => {
      this.retryHint = ms;
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog = this.arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(watchdog);
        watchdog = this.arm();
        parser.feed(value);
      }
    } finally {
      clearTimeout(watchdog);
      reader.releaseLock();
    }
  }

  // A connection that went silent (a half-open TCP after a network cut) is given up on.
  arm() {
    return setTimeout(() => this.controller?.abort(), KEEPALIVE_TIMEOUT_MS);
  }
}
