// @ts-check
/**
 * <exportd-export>: a "Download my data" button for a host application's page.  It asks
 * exportd for an export, shows its progress live (server-sent events), offers the file
 * when it is ready, and offers to make it again once it has expired or failed.
 *
 *   <script type="module" src="/vendor/exportd/exportd-export.js"></script>
 *   <exportd-export api="https://exports.example.com" source="trades" format="csv">
 *     Download my trades
 *   </exportd-export>
 *   <script type="module">
 *     document.querySelector("exportd-export").getToken = () => myApp.exportdToken();
 *   </script>
 *
 * Attributes: api, source, format, params (JSON), export-id (follow an existing export;
 * the element sets it when it creates one).  Properties: getToken (a function returning
 * the user's JWT, or a promise of it), token (a string instead), request (the whole
 * create body, instead of the attributes), labels (texts to override).  Events:
 * `exportd-change` ({export}) on every state, `exportd-error` ({problem}).  Style it
 * with ::part(button | progress | status | error) and --exportd-* custom properties.
 * No dependencies but ./client.js; no build step.  See docs/clients.md.
 */
import { ACTIVE_STATUSES, ExportdError, createClient } from "./client.js";

/** @typedef {import("./client.js").Export} Export */
/** @typedef {import("./client.js").ExportRequest} ExportRequest */
/** @typedef {"start" | "busy" | "download" | "again"} Action */

export const LABELS = Object.freeze({
  start: "Download my data",
  asking: "Asking for your export…",
  queued: "Your export is waiting to start…",
  running: "Preparing your export…",
  preparing: "Preparing…",
  completed: "Your export is ready.",
  download: "Download",
  expired: "This export has expired.",
  failed: "The export failed.",
  cancelled: "The export was cancelled.",
  skipped: "There were no rows to export.",
  again: "Export again",
  error: "Something went wrong.",
});

const STYLE = `
:host { display: inline-block; }
:host([hidden]) { display: none; }
.row { display: flex; flex-wrap: wrap; align-items: center; gap: var(--exportd-gap, .5em); }
[part~=button] {
  font: inherit; cursor: pointer;
  padding: var(--exportd-padding, .5em 1em);
  border: var(--exportd-border, 1px solid transparent);
  border-radius: var(--exportd-radius, .375em);
  background: var(--exportd-accent, #1d4ed8); color: var(--exportd-on-accent, #fff);
}
[part~=button]:focus-visible {
  outline: 2px solid var(--exportd-accent, #1d4ed8); outline-offset: 2px;
}
[part~=button][aria-disabled=true] { cursor: progress; opacity: .7; }
[part~=progress] {
  inline-size: var(--exportd-progress-width, 8em); accent-color: var(--exportd-accent, #1d4ed8);
}
[part~=error] { color: var(--exportd-error, #b91c1c); flex-basis: 100%; }
[hidden] { display: none !important; }
`;

export class ExportdExportElement extends HTMLElement {
  static observedAttributes = ["export-id"];

  /** @type {Action} */
  #action = "start";
  /** @type {AbortController | undefined} */
  #following;
  #ready = false; // connected, and the page's script has run
  #root = this.attachShadow({ mode: "open" });
  #button = element("button", { part: "button", type: "button" });
  #progress = element("progress", { part: "progress", max: "100", hidden: "" });
  #status = element("span", { part: "status", role: "status" });
  #error = element("span", { part: "error", role: "alert" });

  constructor() {
    super();
    // Properties a page may have set before this module loaded are kept (no class fields).
    /** @type {(() => string | Promise<string>) | undefined} */
    this.getToken = this.getToken;
    /** @type {string | undefined} */
    this.token = this.token;
    /** @type {ExportRequest | undefined} the create body, instead of the attributes */
    this.request = this.request;
    /** @type {Partial<typeof LABELS>} texts to override */
    this.labels = this.labels ?? {};
    /** @type {Export | undefined} the latest state seen */
    this.export = undefined;
    const sheet = new CSSStyleSheet(); // adopted, so a host's CSP on <style> does not apply
    sheet.replaceSync(STYLE);
    this.#root.adoptedStyleSheets = [sheet];
    const row = element("div", { class: "row" });
    row.append(this.#button, this.#progress, this.#status, this.#error);
    this.#root.append(row);
    this.#button.addEventListener("click", () => this.#act());
    this.#show("start", "");
  }

  connectedCallback() {
    // A task later: the page's script that imported this module sets getToken first.
    setTimeout(() => {
      this.#ready = true;
      const id = this.getAttribute("export-id");
      if (this.isConnected && id && id !== this.export?.id) this.#follow(id);
    });
  }

  disconnectedCallback() {
    this.#following?.abort();
  }

  /** @param {string} _name @param {string | null} _old @param {string | null} id */
  attributeChangedCallback(_name, _old, id) {
    if (this.#ready && this.isConnected && id && id !== this.export?.id) this.#follow(id);
  }

  /** @param {keyof typeof LABELS} key */
  #text(key) {
    return this.labels[key] ?? LABELS[key];
  }

  #client() {
    const token = async () => {
      const bearer = this.getToken ? await this.getToken() : this.token;
      if (bearer) return bearer;
      const detail = "set getToken (or token) on <exportd-export>";
      throw new ExportdError({ status: 0, code: "token_missing", detail });
    };
    return createClient({ baseUrl: this.getAttribute("api") ?? "", token });
  }

  #act() {
    const current = this.export;
    if (this.#action === "start") this.#create(() => this.#requestFromPage());
    else if (this.#action === "again" && current) this.#create(() => sameAs(current));
    else if (this.#action === "download") this.#download();
  }

  /** @returns {ExportRequest} */
  #requestFromPage() {
    if (this.request) return this.request;
    const params = this.getAttribute("params");
    return {
      source: this.getAttribute("source") ?? "",
      format: this.getAttribute("format") ?? "",
      params: params ? JSON.parse(params) : {},
    };
  }

  /** @param {() => ExportRequest} request */
  async #create(request) {
    this.#show("busy", this.#text("asking"), null);
    try {
      const created = await this.#client().create(request());
      this.#update(created);
      this.setAttribute("export-id", created.id);
      this.#follow(created.id);
    } catch (error) {
      this.#fail(error, this.export ? "again" : "start");
    }
  }

  /** @param {string} id */
  async #follow(id) {
    this.#following?.abort();
    const following = (this.#following = new AbortController());
    this.#show("busy", this.#text("asking"), null);
    try {
      const onExport = (/** @type {Export} */ e) => this.#update(e);
      this.#update(await this.#client().follow(id, { onExport, signal: following.signal }));
    } catch (error) {
      if (!following.signal.aborted) this.#fail(error, "start");
    }
  }

  async #download() {
    const current = this.export;
    if (!current) return;
    this.#show("busy", this.#status.textContent ?? "");
    this.#button.textContent = this.#text("download");
    try {
      const link = await this.#client().downloadLink(current.id);
      const anchor = element("a", { href: link.url, download: "", hidden: "" });
      this.#root.append(anchor); // Content-Disposition: attachment keeps the page where it is
      anchor.click();
      anchor.remove();
      this.#update(current);
    } catch (error) {
      if (error instanceof ExportdError && error.code === "export_expired") {
        this.#update({ ...current, status: "expired" });
      } else {
        this.#fail(error, "download");
      }
    }
  }

  /** @param {Export} current */
  #update(current) {
    this.export = current;
    const { status, progress } = current;
    if (ACTIVE_STATUSES.includes(status)) {
      this.#show("busy", this.#text(status === "queued" ? "queued" : "running"), progress.percent);
    } else if (status === "completed") {
      this.#show("download", `${this.#text("completed")} ${describe(current)}`.trim());
    } else {
      const reason = status === "failed" && current.error ? ` ${current.error.message}` : "";
      this.#show("again", this.#text(status) + reason);
    }
    this.#emit("exportd-change", { export: current });
  }

  /** @param {unknown} error @param {Action} then */
  #fail(error, then) {
    const problem =
      error instanceof ExportdError
        ? error.problem
        : { status: 0, code: "client_error", detail: String(error) };
    this.#show(then, then === "start" ? "" : (this.#status.textContent ?? ""));
    this.#error.textContent = `${this.#text("error")} ${problem.detail ?? ""} (${problem.code})`;
    this.#emit("exportd-error", { problem });
  }

  /** @param {string} type @param {object} detail */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /**
   * One state on screen: the button's action and label, the status line, the progress
   * bar (null: indeterminate; undefined: hidden).
   * @param {Action} action @param {string} status @param {number | null} [percent]
   */
  #show(action, status, percent) {
    this.#action = action;
    const button = this.#button;
    button.setAttribute("aria-disabled", String(action === "busy"));
    if (action === "start") button.replaceChildren(element("slot", {}, this.#text("start")));
    else if (action === "busy") button.textContent = this.#text("preparing");
    else button.textContent = this.#text(action === "download" ? "download" : "again");
    const progress = this.#progress;
    progress.hidden = percent === undefined;
    if (percent == null) progress.removeAttribute("value");
    else progress.value = percent;
    progress.setAttribute("aria-label", status);
    if (this.#status.textContent !== status) this.#status.textContent = status;
    this.#error.textContent = "";
  }
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Record<string, string>} attributes @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/**
 * The request that made `current`, to make it again.
 * @param {Export} current
 * @returns {ExportRequest}
 */
function sameAs(current) {
  const { source, format, params, template, options } = current;
  const columns = current.columns?.map(({ name, label }) => (label ? { name, label } : { name }));
  return { source, format, params, columns, template, options };
}

/** "(trades.csv, 12 kB)" from the result, when it says. @param {Export} current */
function describe(current) {
  const result = /** @type {{ filename?: unknown, size?: unknown }} */ (current.result ?? {});
  if (typeof result.filename !== "string") return "";
  const size = typeof result.size === "number" ? `, ${Math.ceil(result.size / 1000)} kB` : "";
  return `(${result.filename}${size})`;
}

if (!customElements.get("exportd-export")) {
  customElements.define("exportd-export", ExportdExportElement);
}
