// @ts-check
// A whole export through openapi-fetch, typed by what openapi-typescript generated from
// exportd's OpenAPI document at test time (tsc checks this file against it: the module
// "exportd-openapi" is mapped to the generated file).  Prints what it saw as one JSON line.
// Usage: node openapi_fetch_lifecycle.mjs BASE_URL TOKEN
import { createHash } from "node:crypto";
import createClient from "openapi-fetch";

/** @typedef {import("exportd-openapi").paths} paths */

const [baseUrl, token] = process.argv.slice(2);
/** @type {import("openapi-fetch").Client<paths>} */
const api = createClient({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
/** @type {Record<string, unknown>} */
const seen = {};

const created = await api.POST("/v1/exports", {
  body: { source: "trades", format: "csv", params: {} },
  headers: { "Idempotency-Key": `lifecycle-${Date.now()}` },
});
if (!created.data) throw new Error(`create: ${created.response.status}`);
seen.created = created.response.status;
let current = created.data;
let polls = 0;
while (current.status === "queued" || current.status === "running") {
  // A long poll for the outcome: held while the export is active (?until=final).
  const polled = await api.GET("/v1/exports/{export_id}", {
    params: {
      path: { export_id: current.id },
      query: { until: "final" },
      header: { prefer: "wait=20" },
    },
  });
  if (!polled.data) throw new Error(`poll: ${polled.response.status}`);
  current = polled.data;
  polls += 1;
}
seen.status = current.status;
seen.polls = polls;
seen.result = current.result;

const link = await api.POST("/v1/exports/{export_id}/download-token", {
  params: { path: { export_id: current.id } },
});
if (!link.data) throw new Error(`download-token: ${link.response.status}`);
const downloadToken = link.data.url.split("/").pop() ?? "";
const file = await api.GET("/v1/downloads/{token}", {
  params: { path: { token: downloadToken } },
  parseAs: "arrayBuffer",
});
if (!file.data) throw new Error(`download: ${file.response.status}`);
const bytes = Buffer.from(file.data);
seen.download = {
  status: file.response.status,
  size: bytes.length,
  sha256: createHash("sha256").update(bytes).digest("hex"),
  text: bytes.toString("utf8"),
};

// Errors read as the spec's typed problem: tsc must know `code` and `status` here.
// <typed-problem>
const missing = await api.GET("/v1/exports/{export_id}", {
  params: { path: { export_id: "no-such-export" } },
});
const unknown = await api.POST("/v1/exports", {
  body: { source: "no-such-source", format: "csv", params: {} },
});
seen.problems = [missing, unknown].map(({ error, response }) => ({
  http: response.status,
  contentType: response.headers.get("content-type"),
  status: error?.status,
  code: error?.code,
}));
// </typed-problem>

console.log(JSON.stringify(seen));
