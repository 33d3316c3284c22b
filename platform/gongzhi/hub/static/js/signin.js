// Sign-in: the party token is typed once, checked against /api/me and kept in sessionStorage.
// The input has no name and the form posts nowhere: even without JavaScript the token could not
// end up in a URL.
import { ApiError, getToken, setToken, whoAmI } from "./api.js";
import { byId } from "./dom.js";
import { t } from "./i18n.js";

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

function askForToken() {
  const dialog = byId("signin");
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
