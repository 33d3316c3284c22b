// The printable sheet of an estate's building QR codes, for the property office and the
// residents' committee: each code opens the building's report page.

import { api, ApiError } from "./api.js";
import { byId, h, setChildren, setText } from "./dom.js";
import { currentLang, setLang } from "./i18n.js";
import { signIn } from "./signin.js";

const WORDS = {
  zh: {
    title: "居民反映二维码", estate: "小区", show: "生成", print: "打印",
    card: "{building} 栋 · 扫码反映问题", lines: "消防通道堵塞、电动车入户充电、漏水、照明或电梯故障、违章搭建",
    note: "无需注册；处理进度可通过链接查看。",
  },
  en: {
    title: "QR codes for residents' reports", estate: "Estate", show: "Show", print: "Print",
    card: "Building {building} · scan to report", lines: "Blocked fire exit, e-bike indoors, leak, broken light or lift, illegal construction",
    note: "No account needed; follow your report by its link.",
  },
};
let sheet = null;

function w(key, vars = {}) {
  const text = WORDS[currentLang()][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function render() {
  for (const el of document.querySelectorAll("[data-w]")) el.textContent = w(el.dataset.w);
  byId("qr-lang").textContent = currentLang() === "zh" ? "EN" : "中文";
  if (!sheet) return;
  document.body.dataset.loaded = "1";
  setChildren(byId("qr-sheet"), sheet.codes.map((code) => h("section",
    { class: "qr-card", dataset: { building: code.building } },
    h("h2", {}, w("card", { building: code.building })),
    h("img", { src: code.svg, alt: code.url }),
    h("p", {}, w("lines")), h("p", {}, w("note")), h("p", {}, code.estate_id))));
}

async function load() {
  const estate = byId("qr-estate").value.trim();
  if (!estate) return;
  const error = byId("qr-error");
  error.hidden = true;
  try {
    sheet = await api(`/api/reports/qr-codes?estate=${encodeURIComponent(estate)}`);
  } catch (failure) {
    error.hidden = false;
    setText(error, failure instanceof ApiError ? failure.message : String(failure));
    return;
  }
  render();
}

byId("qr-load").addEventListener("click", load);
byId("qr-print").addEventListener("click", () => window.print());
byId("qr-lang").addEventListener("click", () => {
  setLang(currentLang() === "zh" ? "en" : "zh");
  render();
});
render();
await signIn();
const fromUrl = new URLSearchParams(location.search).get("estate");
if (fromUrl) {
  byId("qr-estate").value = fromUrl;
  load();
}
