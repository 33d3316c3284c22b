// The resident's report behind a ticket, in the ticket drawer: the words, the phone (in full for
// the party holding the ticket, masked for a notified one) and the photos. The API gives them
// only to the parties handling the ticket; photos come with the party's token and are shown as
// data: URLs (the pages' policy allows no other image source).
import { api, authHeaders } from "./api.js";
import { h } from "./dom.js";
import { currentLang } from "./i18n.js";

const WORDS = {
  zh: { title: "居民反映", phone: "联系电话", none: "未留电话", hidden: "无权查看居民反映内容",
    rating: "居民评价：{n} 星", reply: "办结时填写的备注将作为答复展示给居民",
    answer: "答复居民", answer_hint: "居民可在进度页看到这条答复", sent: "已答复" },
  en: { title: "Resident's report", phone: "Phone", none: "No phone given",
    hidden: "Your party does not see the resident's report",
    rating: "Resident's rating: {n} stars",
    reply: "The note written when closing is shown to the resident as the reply",
    answer: "Reply to the resident", answer_hint: "The resident reads this on the tracking page",
    sent: "Replied" },
};

function w(key, vars = {}) {
  const text = WORDS[currentLang()][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export const isReport = (ticket) => ticket?.evidence?.source === "resident_report";

// One reply box per ticket, kept across the drawer's re-renders (a live update must not lose
// what is being typed).
const replyBoxes = new Map();

function replyForm(ticketId) {
  let box = replyBoxes.get(ticketId);
  if (!box) {
    const text = h("textarea", { class: "note report-reply-text", rows: 2, maxlength: 2000,
      placeholder: w("answer_hint") });
    const state = h("span", { class: "muted report-reply-state", role: "status" });
    const button = h("button", { class: "btn", type: "submit" });
    const form = h("form", { class: "report-reply" }, text, button, state);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reply = text.value.trim();
      if (!reply) return;
      button.disabled = true;
      try {
        await api(`/api/reports/tickets/${encodeURIComponent(ticketId)}/reply`,
          { method: "POST", body: { text: reply } });
        text.value = "";
        state.textContent = w("sent");
      } catch (error) {
        state.textContent = error.message;
      } finally {
        button.disabled = false;
      }
    });
    box = { form, button };
    replyBoxes.set(ticketId, box);
  }
  box.button.textContent = w("answer");
  return box.form;
}

function dataUrl(blob) {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => resolve(null);
    reader.readAsDataURL(blob);
  });
}

async function photo(url) {
  const response = await fetch(url, { headers: authHeaders(), cache: "no-store",
    credentials: "omit" });
  return response.ok ? dataUrl(await response.blob()) : null;
}

/** The report of a ticket, or {refused: true} when the party does not handle it. */
export async function loadReport(ticketId) {
  try {
    const report = await api(`/api/reports/tickets/${encodeURIComponent(ticketId)}`);
    report.images = (await Promise.all(report.photos.map(photo))).filter(Boolean);
    return report;
  } catch {
    return { refused: true };
  }
}

export function reportSection(report) {
  const section = h("section", { class: "household resident-report" }, h("h3", { text: w("title") }));
  if (!report) return section;
  if (report.refused) {
    section.append(h("p", { class: "muted", text: w("hidden") }));
    return section;
  }
  const parts = [
    h("p", { class: "report-text", text: report.text }),
    h("dl", { class: "facts" }, h("dt", { text: w("phone") }),
      h("dd", { text: report.phone ?? w("none") })),
    h("div", { class: "report-photos" }, report.images.map((src) => h("img", {
      src, alt: "", width: 120 }))),
    report.rating ? h("p", { class: "report-rating", text: w("rating", { n: report.rating }) })
      : null,
    replyForm(report.ticket_id),
    h("p", { class: "muted", text: w("reply") })];
  section.append(...parts.filter(Boolean));
  return section;
}
