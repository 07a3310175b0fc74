// Server-Sent Events over fetch, so the credential goes in a header (not the URL) and a
// dropped stream resumes with `Last-Event-ID` after the last event it delivered.

/** Follows `url` until `signal` aborts, calling `onEvent({event, id, data})`; reconnects
 *  after a drop (1 s, doubling up to 30 s) and reports state changes to `onState`. */
export async function follow(url, { credential, signal, onEvent, onState = () => {} }) {
  let lastId = null;
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const headers = { accept: "text/event-stream" };
      if (credential) headers.authorization = `Bearer ${credential}`;
      if (lastId) headers["last-event-id"] = lastId;
      const response = await fetch(url, { headers, signal });
      if (!response.ok) {
        const problem = await response.json().catch(() => null);
        onState("error", problem?.detail || `the live stream answered ${response.status}`);
        if (response.status < 500 && response.status !== 429) return;
      } else {
        onState("live");
        delay = 1000;
        await read(response.body, (message) => {
          if (message.id) lastId = message.id;
          if (message.event !== "heartbeat") onEvent(message);
        });
        if (!signal.aborted) onState("reconnecting");
      }
    } catch (e) {
      if (signal.aborted) return;
      onState("reconnecting");
    }
    await new Promise((done) => setTimeout(done, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

async function read(body, onMessage) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const message = { event: "message", id: null, data: "" };
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") message.data += (message.data ? "\n" : "") + val;
        else if (field === "id") message.id = val;
        else if (field === "event") message.event = val;
      }
      if (message.data || message.id) onMessage(message);
    }
  }
}
