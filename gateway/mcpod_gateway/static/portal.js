// Passkey ceremonies for the portal, with the browser's own WebAuthn JSON helpers.
// A form with data-webauthn="signup|signin|add" posts its fields to
// <action>/options, hands the options to the authenticator, then posts the
// credential to <action>/verify and follows the redirect it gets back.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function say(text, isError) {
    const status = document.getElementById("status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (response.status === 401 && data.reauthenticate) {
      window.location.assign(data.reauthenticate);  // a recent sign-in is needed first
      throw new Error(data.error);
    }
    if (!response.ok) throw new Error(data.error || ("request failed (" + response.status + ")"));
    return data;
  }

  function supported() {
    return window.PublicKeyCredential &&
      typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
      typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";
  }

  async function run(form) {
    const kind = form.dataset.webauthn;
    const fields = Object.fromEntries(new FormData(form).entries());
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      say("Follow your browser's passkey prompt…");
      const start = await post(form.getAttribute("action") + "/options", fields);
      let credential;
      if (kind === "signin") {
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(start.options);
        credential = await navigator.credentials.get({ publicKey });
      } else {
        const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(start.options);
        credential = await navigator.credentials.create({ publicKey });
      }
      if (!credential) throw new Error("no passkey was chosen");
      const done = await post(form.getAttribute("action") + "/verify",
        Object.assign({}, fields, { credential: credential.toJSON() }));
      say("Done.");
      // A page may ask to come back to itself after sign-in (e.g. /authorize): same-origin paths only.
      const next = form.dataset.next;
      const back = next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\");
      window.location.assign(back ? next : done.redirect);
    } catch (err) {
      const message = err && err.name === "NotAllowedError"
        ? "The passkey prompt was cancelled or timed out. Try again."
        : (err && err.message) || String(err);
      say(message, true);
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!supported()) {
        say("This browser cannot use passkeys here. Use a current Chrome, Edge, Safari or Firefox.", true);
        return;
      }
      run(form);
    });
  });

  const secret = document.getElementById("new-token");
  if (secret) secret.addEventListener("focus", function () { secret.select(); });
})();
