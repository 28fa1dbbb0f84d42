// The kit's client (clients/typescript/client.js) against a scripted HTTP server: the
// cases a live exportd gives only by accident — a stream cut mid-event and resumed with
// Last-Event-ID, a server gone for a moment, events split across chunks, a refusal.
// Prints what it saw as one JSON line.  Usage: node kit_client.mjs
import { createServer } from "node:http";
import { ExportdError, createClient } from "../../clients/typescript/client.js";

const exportAt = (status, percent) =>
  JSON.stringify({ id: "e1", status, progress: { percent, rows_done: null, rows_total: null } });

const seen = { lastEventIds: [], authorizations: [] };
let connection = 0;
const server = createServer((request, response) => {
  seen.authorizations.push(request.headers.authorization);
  if (request.url === "/v1/exports/gone/events") {
    response.writeHead(404, { "Content-Type": "application/problem+json" });
    response.end(JSON.stringify({ status: 404, code: "export_not_found", detail: "no export gone" }));
    return;
  }
  connection += 1;
  seen.lastEventIds.push(request.headers["last-event-id"] ?? null);
  if (connection === 2) {
    // A server that is restarting: 503, and the client comes back.
    response.writeHead(503, { "Content-Type": "application/problem+json", "Retry-After": "1" });
    response.end(JSON.stringify({ status: 503, code: "database_unavailable" }));
    return;
  }
  response.writeHead(200, { "Content-Type": "text/event-stream" });
  if (connection === 1) {
    // retry first, a comment, an event split across writes (CRLF lines), then the stream
    // is cut in the middle of the next event.
    response.write("retry: 50\r\n\r\n: keep-alive\r\n\r\nid: 7\r\nevent: exp");
    setTimeout(() => {
      response.write(`ort\r\ndata: ${exportAt("running", 40)}\r\n\r\nid: 8\nevent: export\ndata: {"id`);
      setTimeout(() => response.destroy(), 20);
    }, 20);
    return;
  }
  response.end(`id: 9\nevent: export\ndata: ${exportAt("completed", 100)}\n\n`);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());

let tokens = 0;
const client = createClient({ baseUrl: `http://127.0.0.1:${port}/`, token: async () => `t${++tokens}` });
const states = [];
const final = await client.follow("e1", { onExport: (e) => states.push([e.status, e.progress.percent]) });
seen.states = states;
seen.final = final.status;

try {
  await client.follow("gone");
} catch (error) {
  seen.refusal = error instanceof ExportdError ? [error.status, error.code] : String(error);
}
server.close();
console.log(JSON.stringify(seen));
