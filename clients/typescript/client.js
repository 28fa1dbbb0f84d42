// @ts-check
/**
 * A small client for an export's life in exportd — create it, read it, follow its
 * server-sent events, get a download link — with no dependencies and no build step.
 * Its types come from schema.d.ts, which openapi-typescript generates from exportd's
 * OpenAPI document; for every other operation use schema.d.ts with openapi-fetch
 * (docs/clients.md).
 */

/** @typedef {import("./schema").paths} paths */
/** @typedef {"application/json"} Json */
/** @typedef {paths["/v1/exports"]["post"]["requestBody"]["content"][Json]} ExportRequest */
/** @typedef {paths["/v1/exports/{export_id}"]["get"]["responses"][200]["content"][Json]} Export */
/**
 * @typedef {paths["/v1/exports/{export_id}/download-token"]["post"]["responses"][201]["content"][Json]} DownloadLink
 */
/** @typedef {string | (() => string | Promise<string>)} Token a JWT, or a function for one */

/**
 * An error as exportd answers it (RFC 9457 problem+json); `code` is stable.
 * @typedef {object} Problem
 * @property {number} status
 * @property {string} code
 * @property {string} [title]
 * @property {string} [detail] for people: its wording may change
 * @property {string | null} [request_id]
 */

export const ACTIVE_STATUSES = Object.freeze(["queued", "running"]);

/** A refusal from exportd, or `unreachable` when no answer came (offline, or CORS). */
export class ExportdError extends Error {
  /** @param {Problem} problem */
  constructor(problem) {
    super(problem.detail || problem.code);
    this.name = "ExportdError";
    this.problem = problem;
    this.code = problem.code;
    this.status = problem.status;
  }
}

/**
 * @param {{ baseUrl?: string, token: Token }} options `baseUrl`: where exportd answers
 *   ("" for the page's own origin)
 */
export function createClient({ baseUrl = "", token }) {
  const root = baseUrl.replace(/\/+$/, "");

  /**
   * @param {string} method
   * @param {string} path
   * @param {{ body?: unknown, headers?: Record<string, string>, signal?: AbortSignal }} [init]
   */
  async function call(method, path, { body, headers = {}, signal } = {}) {
    const bearer = typeof token === "function" ? await token() : token;
    /** @type {Record<string, string>} */
    const sent = { Accept: "application/json", Authorization: `Bearer ${bearer}`, ...headers };
    if (body !== undefined) sent["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(root + path, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ExportdError({ status: 0, code: "unreachable", detail: "exportd did not answer" });
    }
    if (!response.ok) throw new ExportdError(await problemOf(response));
    return response;
  }

  const exportPath = (/** @type {string} */ id) => `/v1/exports/${encodeURIComponent(id)}`;

  /** @param {string} id @returns {Promise<Export>} */
  async function get(id) {
    return (await call("GET", exportPath(id))).json();
  }

  return {
    get,

    /**
     * Queue an export.  A retried call with the same `idempotencyKey` gets the same one.
     * @param {ExportRequest} request
     * @param {{ idempotencyKey?: string }} [options]
     * @returns {Promise<Export>}
     */
    async create(request, { idempotencyKey = randomKey() } = {}) {
      const headers = { "Idempotency-Key": idempotencyKey };
      return (await call("POST", "/v1/exports", { body: request, headers })).json();
    },

    /**
     * A one-time link to the file (absolute); each call makes a fresh one.
     * @param {string} id
     * @returns {Promise<DownloadLink>}
     */
    async downloadLink(id) {
      /** @type {DownloadLink} */
      const link = await (await call("POST", `${exportPath(id)}/download-token`)).json();
      return { ...link, url: new URL(link.url, root || globalThis.location?.href).href };
    },

    /**
     * Follow the export's server-sent events until it is final; `onExport` sees each
     * state.  Over fetch, not EventSource, which cannot send the token.  A stream that
     * ends early (a restart) is resumed with `Last-Event-ID`.
     * @param {string} id
     * @param {{ onExport?: (e: Export) => void, signal?: AbortSignal }} [options]
     * @returns {Promise<Export>} the final state
     */
    async follow(id, { onExport = () => {}, signal } = {}) {
      const stream = { lastId: "", retryMs: 2000 };
      /** @type {Export | undefined} */
      let last;
      for (let failures = 0; ; ) {
        try {
          const headers = { Accept: "text/event-stream" };
          if (stream.lastId) Object.assign(headers, { "Last-Event-ID": stream.lastId });
          const response = await call("GET", `${exportPath(id)}/events`, { headers, signal });
          if (response.status === 204 || !response.body) {
            // Nothing newer than what this stream sent: read the state once.
            if (last && !ACTIVE_STATUSES.includes(last.status)) return last;
            last = await get(id);
            onExport(last);
            return last;
          }
          for await (const event of serverSentEvents(response.body, stream)) {
            if (event.type !== "export") continue;
            last = /** @type {Export} */ (JSON.parse(event.data));
            failures = 0;
            onExport(last);
          }
        } catch (error) {
          // A refusal is final; a cut stream, no answer or a 5xx is tried again a few times.
          const passing =
            !(error instanceof ExportdError) || error.code === "unreachable" || error.status >= 500;
          if (signal?.aborted || !passing || ++failures > 5) throw error;
        }
        if (last && !ACTIVE_STATUSES.includes(last.status)) return last;
        await new Promise((resolve) => setTimeout(resolve, stream.retryMs));
      }
    },
  };
}

/** @param {Response} response @returns {Promise<Problem>} */
async function problemOf(response) {
  const fallback = { status: response.status, code: `http_${response.status}` };
  try {
    const body = await response.json();
    return body && typeof body.code === "string" ? body : fallback;
  } catch {
    return { ...fallback, detail: response.statusText };
  }
}

/**
 * Server-sent events as the HTML standard parses them (fields data, event, id, retry).
 * @param {ReadableStream<Uint8Array>} body
 * @param {{ lastId: string, retryMs: number }} stream updated as `id` and `retry` arrive
 *   (an id counts once its event is complete, as EventSource counts it)
 * @returns {AsyncGenerator<{ type: string, data: string }>}
 */
async function* serverSentEvents(body, stream) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  /** @type {string[]} */
  let data = [];
  let type = "";
  /** @type {string | undefined} */
  let id;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const lines = (buffer + decoder.decode(value, { stream: true })).split(/\r\n|\r|\n/);
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (id !== undefined) stream.lastId = id;
          if (data.length) yield { type: type || "message", data: data.join("\n") };
          data = [];
          type = "";
          continue;
        }
        const colon = line.indexOf(":");
        if (colon === 0) continue; // a comment: keep-alive
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(text);
        else if (field === "event") type = text;
        else if (field === "id" && !text.includes("\0")) id = text;
        else if (field === "retry" && /^\d+$/.test(text)) stream.retryMs = Number(text);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** A random idempotency key (crypto.randomUUID needs a secure context; this does not). */
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
