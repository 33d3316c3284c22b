// A ticket's timeline entries in words: alarms, routing decisions (with their rule), escalations
// and the parties' actions with their notes.
import { h } from "./dom.js";
import { formatTime, kindLabel, partyLabel, statusLabel, t } from "./i18n.js";

const parties = (ids) => (ids ?? []).map(partyLabel).join("、");

/** {what, detail} for one entry of GET /api/tickets/{id}'s timeline. */
export function describeEntry(entry) {
  const data = entry.data ?? {};
  switch (entry.type) {
    case "alarm":
      return { what: t("tl.alarm", { n: data.occurrence ?? 1 }), detail: null };
    case "clear":
      return { what: t("tl.clear"), detail: null };
    case "routing": {
      const notified = parties(data.notified);
      return {
        what: t("tl.routing", { party: partyLabel(data.assignee) }),
        detail: [notified ? `${t("drawer.notified")}：${notified}` : null,
          entry.rule_id ? `${t("tl.rule")} ${entry.rule_id}` : null].filter(Boolean).join(" · "),
      };
    }
    case "escalation": {
      const step = data.step ?? entry.action;
      let what = t("tl.escalation");
      if (step === "convert") what = t("tl.convert", { kind: kindLabel(data.to_kind) });
      else if (step === "reassign") what = t("tl.reassign", { party: partyLabel(data.to_party) });
      else if (step === "overdue") what = t("tl.overdue", { stage: t(`stage.${data.stage}`) });
      const notified = parties(data.notified);
      return { what, detail: notified ? `${t("drawer.notified")}：${notified}` : null };
    }
    case "action": {
      const change = data.from && data.to && data.from !== data.to
        ? `${statusLabel(data.from)} → ${statusLabel(data.to)}` : null;
      const who = data.via === "link" && data.name ? t("tl.via_link", { name: data.name }) : null;
      return { what: t(`action.${entry.action}`),
        detail: [who, change].filter(Boolean).join(" · ") || null };
    }
    case "notification":
      return { what: describeNotification(entry, data), detail: null };
    default:
      return { what: entry.type ?? "", detail: null };
  }
}

// What became of one message (the delivery's timeline entries, named by the outbox's states).
const DELIVERY = new Set(["sent", "failed", "fallback", "pending"]);

/** A channel's words ("企业微信", "SMS"), or its configured name when it has none. */
function channelLabel(name) {
  if (!name) return "";
  const key = `channel.${name}`;
  const label = t(key);
  return label === key ? name : label;
}

/** Who was told: an attempt of the re-notification, a silence, or a message's outcome. */
function describeNotification(entry, data) {
  const names = (data.to ?? []).map((p) => p.name).join("、") || "—";
  if (entry.action === "silenced") return t("tl.silenced", { id: data.silenced_by });
  if (entry.action === "notify" || entry.action === "renotify") {
    if (data.outcome === "nobody_on_duty") return t("tl.nobody");
    if (data.outcome === "unreachable") return t("tl.unreachable", { names });
    return entry.action === "notify" ? t("tl.notify", { names })
      : t("tl.renotify", { names, n: data.attempt });
  }
  if (DELIVERY.has(entry.action)) {
    return t(`tl.delivery.${entry.action}`, {
      names, channel: channelLabel(data.kind ?? data.channel),
      next: channelLabel(data.next_channel),
      time: data.next_attempt_at ? formatTime(data.next_attempt_at) : "—" });
  }
  return t("tl.message", { names, channel: channelLabel(data.kind ?? data.channel),
    result: entry.action ?? data.result ?? "" });
}

/** Whether an entry tells of someone not reached (the pages mark it). */
export function unreached(entry) {
  if (entry.type !== "notification") return false;
  const outcome = entry.data?.outcome;
  return entry.action === "failed" || outcome === "unreachable" || outcome === "nobody_on_duty";
}

export function timelineList(entries) {
  return h("ol", {}, [...entries].reverse().map((entry) => {
    const { what, detail } = describeEntry(entry);
    return h("li", { class: unreached(entry) ? "tl-unreached" : null,
      dataset: { type: entry.type, action: entry.action ?? "" } },
      h("time", { text: entry.ts ? formatTime(entry.ts) : "" }),
      h("span", { class: "tl-what", text: what }),
      entry.actor ? h("span", { class: "tl-who", text: partyLabel(entry.actor) }) : null,
      detail ? h("span", { class: "tl-detail", text: detail }) : null,
      entry.note ? h("span", { class: "tl-note", text: entry.note }) : null);
  }));
}
