// Sign-in: the party token is typed once, checked against /api/me and kept in sessionStorage.
// The input has no name and the form posts nowhere: even without JavaScript the token could not
// end up in a URL.
import { ApiError, getToken, setToken, whoAmI } from "./api.js";
import { toggleLang } from "./chrome.js";
import { byId, h } from "./dom.js";
import { applyStatic, t } from "./i18n.js";

export function partyOf(me) {
  return me?.party ?? me?.party_id ?? me?.id ?? null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolve with the signed-in party's /api/me answer, asking for a token when there is none. */
export async function signIn() {
  const stored = getToken();
  if (stored) {
    // A wall PC may boot before the platform: keep trying a stored token instead of asking again.
    for (let wait = 500; ; wait = Math.min(wait * 2, 5000)) {
      try {
        const me = await whoAmI(stored);
        if (me) return me;
        break;
      } catch {
        await sleep(wait);
      }
    }
  }
  return askForToken();
}

/** The sign-in dialog, built once (every page shares it). */
function signInDialog() {
  const existing = document.getElementById("signin");
  if (existing) return existing;
  const dialog = h("dialog", { id: "signin", class: "signin" },
    h("form", { id: "signin-form", method: "dialog", autocomplete: "off" },
      h("div", { class: "signin-brand" },
        h("img", { src: "/static/img/icon.svg", alt: "", width: 56, height: 56 }),
        h("span", { dataset: { i18n: "app.name" } })),
      h("h1", { dataset: { i18n: "signin.title" } }),
      h("label", { for: "signin-token", dataset: { i18n: "signin.token" } }),
      h("input", { id: "signin-token", type: "password", autocomplete: "off",
        spellcheck: "false", required: true }),
      h("p", { id: "signin-error", class: "signin-error", role: "alert" }),
      h("div", { class: "signin-actions" },
        h("button", { type: "submit", class: "btn btn-primary", dataset: { i18n: "signin.submit" } }),
        h("button", { type: "button", class: "btn btn-quiet", dataset: { i18n: "lang.switch" },
          onclick: toggleLang })),
      h("p", { class: "muted", dataset: { i18n: "signin.hint" } })));
  document.body.append(dialog);
  applyStatic(dialog);
  return dialog;
}

function askForToken() {
  const dialog = signInDialog();
  const form = byId("signin-form");
  const input = byId("signin-token");
  const error = byId("signin-error");
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      error.textContent = "";
      try {
        const me = await whoAmI(token);
        if (!me) {
          error.textContent = t("signin.bad");
          input.select();
          return;
        }
        setToken(token);
        input.value = "";
        dialog.close();
        resolve(me);
      } catch (failure) {
        error.textContent = failure instanceof ApiError ? failure.message : t("signin.unreachable");
      }
    });
    // Escape must not close the sign-in: there is nothing behind it to use yet.
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    dialog.showModal();
    input.focus();
  });
}
