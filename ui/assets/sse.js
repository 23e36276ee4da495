// sse.js: Server-Sent Events read from a fetch Response. The dashboard and
// the embeddable viewer read streams with fetch rather than EventSource,
// which cannot send an Authorization header or a CSRF token.

// readSSE reads the text/event-stream body of res and calls
// onEvent({id, event, data}) for each message, until the server closes the
// stream or the request's signal aborts it.
export async function readSSE(res, onEvent) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const msg = { id: "", event: "message", data: "" }, data = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const c = line.indexOf(":");
        const field = c < 0 ? line : line.slice(0, c);
        let v = c < 0 ? "" : line.slice(c + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (field === "data") data.push(v);
        else if (field === "id") msg.id = v;
        else if (field === "event") msg.event = v;
      }
      if (data.length) { msg.data = data.join("\n"); onEvent(msg); }
    }
  }
}
