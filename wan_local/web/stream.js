// GET /status/stream from a browser: server-sent events read through fetch (EventSource cannot send
// an Authorization header). One event per change of the generation; the server ends the stream after
// the terminal event, or after 120 s, when we reconnect with Last-Event-ID.
import { endpointUrl } from "./api.js";

// Follows one generation until it ends. Returns true when the terminal event came, false when the
// stream is not available (an old server, a proxy that buffers, the network): then the caller polls.
export async function followStatus(api, id, { onGeneration, alive = () => true } = {}) {
  let lastEventId = null;
  while (alive()) {
    const headers = { Accept: "text/event-stream" };
    if (api.token) headers.Authorization = `Bearer ${api.token}`;
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    let response;
    try {
      response = await fetch(`${endpointUrl(api.settings, "/status/stream")}?${new URLSearchParams({ generation_id: id })}`, { headers });
    } catch {
      return false;
    }
    if (response.status === 204) return true; // the terminal event was the last one we saw
    if (!response.ok || !response.body || !(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
      return false;
    }
    let terminal = false;
    for await (const event of events(response.body)) {
      if (event.id) lastEventId = event.id;
      if (event.event !== "generation" || !event.data) continue;
      const gen = JSON.parse(event.data);
      onGeneration(gen);
      if (gen.terminal) terminal = true;
      if (!alive()) return false;
    }
    if (terminal) return true;
  }
  return false;
}

// The events of a text/event-stream body: {id, event, data, retry}.
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (Object.keys(event).length) yield event;
        event = {};
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        event[field] = field === "data" && event.data ? `${event.data}\n${text}` : text;
      }
    }
  }
}
