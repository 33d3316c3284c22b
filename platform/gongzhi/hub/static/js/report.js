// The building's report page, opened from its QR code: /r/<building link>. The resident picks a
// category, says what is wrong, may add up to three photos and a phone number, and is given the
// tracking link of the report.

import { byId, h, setChildren, setText } from "./dom.js";
import { currentLang } from "./i18n.js";
import {
  call, formatTime, myReports, refusalText, rememberReport, setupLanguage, w,
} from "./resident.js";

const HEADER = "X-Gongzhi-Building";
const token = decodeURIComponent(location.pathname.split("/").pop());
let building = null;
let refusal = null;
let chosen = null;
let photos = [];

function render() {
  if (refusal) {
    document.body.dataset.state = "refused";
    byId("r-form").hidden = true;
    byId("r-refused").hidden = false;
    setText(byId("r-refused-reason"), refusalText(refusal));
    return;
  }
  if (!building) return;
  setText(byId("r-where"), w("where", { estate: building.estate_id, building: building.building }));
  setChildren(byId("r-categories"), building.categories.map((c) => h("button", {
    type: "button", class: "r-choice", dataset: { category: c.id },
    "aria-pressed": String(chosen === c.id),
    onclick: () => { chosen = c.id; render(); },
  }, currentLang() === "zh" ? c.zh : c.en)));
  setChildren(byId("r-photo-list"), photos.map((p) => h("li", {}, p.name)));
  const mine = myReports();
  byId("r-mine").hidden = mine.length === 0;
  setChildren(byId("r-mine-list"), mine.map((e) => h("li", {},
    h("a", { href: `/r/t#${e.token}` }, `${formatTime(e.at)} · ${w(`cat.${e.category}`)}`))));
}

async function load() {
  const { status, data } = await call("GET", "/api/reports/building", HEADER, token);
  if (status === 200) {
    building = data;
    document.body.dataset.state = "ready";
    byId("r-form").hidden = false;
  } else {
    refusal = data.detail ?? { message: String(status) };
  }
  render();
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// A large photo is made smaller on the phone before it is sent (a slow mobile network, the
// platform's 6 MiB bound); the platform cleans and re-encodes every photo whatever it gets.
const SHRINK_ABOVE = 1.5 * 1024 * 1024;
const MAX_SIDE = 2048;

async function shrunk(file) {
  if (file.size <= SHRINK_ABOVE || typeof createImageBitmap !== "function") {
    return readAsDataUrl(file);
  }
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = h("canvas", { width: Math.round(bitmap.width * scale),
      height: Math.round(bitmap.height * scale) });
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
    return blob ? readAsDataUrl(blob) : readAsDataUrl(file);
  } catch {
    return readAsDataUrl(file); // a format this browser cannot draw: the platform decides
  }
}

function fail(message) {
  const error = byId("r-error");
  error.hidden = false;
  setText(error, message);
}

byId("r-photos").addEventListener("change", async (event) => {
  const files = [...event.target.files];
  byId("r-error").hidden = true;
  if (files.length > building.max_photos) fail(w("too_many"));
  photos = [];
  for (const file of files.slice(0, building.max_photos)) {
    photos.push({ name: file.name, data: await shrunk(file) });
  }
  render();
});

byId("r-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  byId("r-error").hidden = true;
  const text = byId("r-text").value.trim();
  if (!chosen) return fail(w("pick"));
  if (!text) return fail(w("say"));
  const send = byId("r-send");
  send.disabled = true;
  send.textContent = w("sending");
  const phone = byId("r-phone").value.trim();
  const { status, data } = await call("POST", "/api/reports", HEADER, token, {
    category: chosen, text, phone: phone || null, photos: photos.map((p) => p.data),
  });
  send.disabled = false;
  send.textContent = w("send");
  if (status === 201) {
    const link = `/r/t#${data.track_token}`;
    rememberReport({ token: data.track_token, at: Date.now(), category: chosen });
    byId("r-form").hidden = true;
    byId("r-done").hidden = false;
    document.body.dataset.state = "sent";
    byId("r-track").setAttribute("href", link);
    setText(byId("r-track-url"), new URL(link, location.href).href);
    return undefined;
  }
  return fail(w("failed", { m: refusalText(data.detail) || status }));
});

setupLanguage(render);
load();
