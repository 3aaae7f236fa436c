// My account: change password, enrol TOTP.
import { h, toast } from "./dom.js";
import { t } from "./i18n.js";
import { post } from "./api.js";
import { state } from "./state.js";
import { formDialog } from "./forms.js";

export function accountView(main) {
  const me = state.me;
  const change = () => formDialog({ id: "password-form", title: t("pw.title"), fields: [
    { name: "old_password", label: t("pw.old"), type: "password", required: true, autocomplete: "current-password" },
    { name: "new_password", label: t("pw.new"), type: "password", required: true, autocomplete: "new-password", help: t("pw.rules") },
    { name: "confirm", label: t("pw.confirm"), type: "password", required: true, autocomplete: "new-password" },
  ], submit: async (v) => {
    if (v.new_password !== v.confirm) throw Object.assign(new Error(t("pw.mismatch")), { field: "confirm" });
    await post("/auth/password", { old_password: v.old_password, new_password: v.new_password });
    return true;
  } }).then((ok) => ok && toast(t("pw.changed")));
  const enroll = async () => {
    let e;
    try { e = await post("/auth/totp/enroll"); } catch (err) { toast(err.message, "error"); return; }
    const ok = await formDialog({ id: "totp-form", title: t("totp.title"), fields: [
      { name: "secret", label: t("totp.secret"), readonly: true, help: e.otpauth_url },
      { name: "code", label: t("login.totpCode"), required: true },
    ], values: { secret: e.secret }, submit: async (v) => { await post("/auth/totp/confirm", { code: v.code }); return true; } });
    if (ok) toast(t("totp.enabled"));
  };
  main.append(h("div", { class: "toolbar" }, h("h1", { class: "view-title" }, t("nav.account"))),
    h("dl", { class: "facts" },
      h("dt", {}, t("user.username")), h("dd", {}, me.user.username),
      h("dt", {}, t("user.org")), h("dd", {}, (state.orgs.get(me.user.org_id) || { name: me.user.org_id }).name),
      h("dt", {}, t("user.roles")), h("dd", {}, me.user.roles.join(", ")),
      h("dt", {}, t("account.permissions")), h("dd", {}, me.site_permissions.join(", ") || "—")),
    h("div", { class: "row-actions" },
      h("button", { type: "button", id: "change-password", onclick: change }, t("pw.title")),
      h("button", { type: "button", id: "enroll-totp", onclick: enroll }, t("totp.title"))));
  return { el: main };
}
