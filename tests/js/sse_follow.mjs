// Follows an export's server-sent events with the npm `eventsource` package (a
// spec-following client, as browsers are) and prints what it saw as one JSON line.
// Usage: node sse_follow.mjs URL TOKEN TIMEOUT_MS
import { EventSource } from "eventsource";

const [url, token, timeoutMs] = process.argv.slice(2);
const seen = { opens: 0, statuses: [], ids: [], closed: false };

const source = new EventSource(url, {
  fetch: (input, init) =>
    fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
});
source.addEventListener("open", () => {
  seen.opens += 1;
});
source.addEventListener("export", (event) => {
  seen.statuses.push(JSON.parse(event.data).status);
  seen.ids.push(event.lastEventId);
});
source.addEventListener("error", () => {
  // A 204 (or any refusal) leaves the client CLOSED: it will not come back.
  if (source.readyState === EventSource.CLOSED) {
    seen.closed = true;
    finish(0);
  }
});

function finish(code) {
  source.close();
  console.log(JSON.stringify(seen));
  process.exit(code);
}

setTimeout(() => finish(1), Number(timeoutMs));
