// Sign-in: password, then TOTP when asked, then the forced password change or
// TOTP enrolment the server may require before anything else.
import { h, clear } from "./dom.js";
import { t, langSwitch } from "./i18n.js";
import { post, setCSRF } from "./api.js";

function field(id, label, attrs) {
  return h("div", { class: "field" }, h("label", { for: id }, label), h("input", { id, name: id, ...attrs }));
}

function card(title, ...body) {
  return h("main", { id: "main", class: "login-wrap" },
    h("section", { class: "card login", "aria-labelledby": "login-title" },
      h("div", { class: "login-head" }, h("img", { src: "/ui/icon.svg", alt: "", width: 40, height: 40 }),
        h("div", {}, h("h1", { id: "login-title" }, title), h("p", { class: "muted" }, document.title))),
      ...body,
      h("div", { class: "login-foot" }, langSwitch())));
}

function errorBox() { return h("p", { id: "login-error", class: "error", role: "alert", hidden: true }); }
function showError(box, msg) { box.hidden = false; box.textContent = msg; }

// showLogin renders the sign-in card into root and resolves once the session
// is fully usable (state ok).
export function showLogin(root, notice) {
  return new Promise((resolve) => {
    let username = "", password = "";
    const stepPassword = () => {
      const err = errorBox();
      const form = h("form", { id: "login-form", novalidate: true },
        notice ? h("p", { class: "notice", role: "status" }, notice) : null,
        field("username", t("login.username"), { autocomplete: "username", required: true, autofocus: true, value: username }),
        field("password", t("login.password"), { type: "password", autocomplete: "current-password", required: true }),
        err,
        h("button", { type: "submit", class: "primary", id: "login-submit" }, t("login.submit")));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        username = form.username.value.trim();
        password = form.password.value;
        if (!username || !password) { showError(err, t("login.missing")); return; }
        await attempt(err, "");
      });
      render(card(t("login.title"), form));
      form.username.focus();
    };
    const attempt = async (err, code) => {
      try {
        const res = await post("/auth/login", { username, password, totp_code: code || undefined }, { quiet401: true });
        next(res);
      } catch (e) {
        showError(err, e.status === 429 ? t("login.rateLimited") : (e.message || t("login.failed")));
      }
    };
    const next = (res) => {
      if (res.csrf_token) setCSRF(res.csrf_token);
      switch (res.state) {
        case "totp_required": return stepTOTP();
        case "must_change_password": return stepChange(res.password_expired);
        case "must_enroll_totp": return stepEnroll();
        default: password = ""; resolve(res);
      }
    };
    const stepTOTP = () => {
      const err = errorBox();
      const form = h("form", { id: "totp-form" },
        h("p", {}, t("login.totpHelp")),
        field("totp", t("login.totpCode"), { inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6,8}", required: true, maxlength: 8 }),
        err, h("button", { type: "submit", class: "primary" }, t("login.verify")));
      form.addEventListener("submit", (ev) => { ev.preventDefault(); attempt(err, form.totp.value.trim()); });
      render(card(t("login.totpTitle"), form));
      form.totp.focus();
    };
    const stepChange = (expired) => {
      const err = errorBox();
      const form = h("form", { id: "change-form" },
        h("p", { class: "notice" }, expired ? t("pw.expired") : t("pw.firstLogin")),
        h("p", { class: "muted" }, t("pw.rules")),
        field("new_password", t("pw.new"), { type: "password", autocomplete: "new-password", required: true }),
        field("confirm_password", t("pw.confirm"), { type: "password", autocomplete: "new-password", required: true }),
        err, h("button", { type: "submit", class: "primary" }, t("pw.submit")));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const np = form.new_password.value;
        if (np !== form.confirm_password.value) { showError(err, t("pw.mismatch")); return; }
        try {
          await post("/auth/password", { old_password: password, new_password: np });
          password = np;
          await attempt(err, ""); // sign in again with the new password
        } catch (e) { showError(err, describe(e)); }
      });
      render(card(t("pw.title"), form));
      form.new_password.focus();
    };
    const stepEnroll = async () => {
      const err = errorBox();
      let enr = null;
      try { enr = await post("/auth/totp/enroll"); } catch (e) { showError(err, describe(e)); }
      const form = h("form", { id: "enroll-form" },
        h("p", {}, t("totp.enrollHelp")),
        enr ? h("p", {}, t("totp.secret"), " ", h("code", { class: "secret", id: "totp-secret" }, enr.secret)) : null,
        enr ? h("p", { class: "muted small" }, h("code", { class: "wrap" }, enr.otpauth_url)) : null,
        field("totp", t("login.totpCode"), { inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: 8 }),
        err, h("button", { type: "submit", class: "primary" }, t("totp.confirm")));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          await post("/auth/totp/confirm", { code: form.totp.value.trim() });
          stepTOTP();
        } catch (e) { showError(err, describe(e)); }
      });
      render(card(t("totp.title"), form));
      form.totp.focus();
    };
    const render = (node) => { clear(root).append(node); root.removeAttribute("aria-busy"); };
    stepPassword();
  });
}

// describe turns an API error into one readable line, with the field
// problems the server listed.
export function describe(e) {
  if (!e) return "";
  const extra = (e.details || []).filter((d) => d.message && d.message !== e.message)
    .map((d) => (d.line ? t("err.line", d.line) + " " : "") + (d.field ? d.field + ": " : "") + d.message);
  return [e.message, ...extra].join(" · ");
}
