// The CSV upload, in the browser: a file over the limit is never sent; one that fits is posted
// as plain bytes to /csv-upload (not as base64 inside a callback's JSON, which the server would
// hold twice over), and the reply fills the column picker.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  upload: {
    send: async function (contents, column, filename, maxBytes, lastChoice, explain) {
      var skip = window.dash_clientside.no_update;
      // Read the trigger now: the callback context is gone once this function awaits.
      var triggered = window.dash_clientside.callback_context.triggered.map(function (t) {
        return t.prop_id;
      });
      var newFile = triggered.indexOf("csv-upload.contents") >= 0;
      // A new file starts from its own columns (the server picks); a pick from the list re-sends the same file.
      var picked = newFile ? null : column;
      if (!contents || (!newFile && !picked)) {
        return [skip, skip, skip];
      }
      var comma = contents.indexOf(",");
      var size = Math.floor(((contents.length - comma - 1) * 3) / 4);
      if (size > maxBytes) {
        return [{ filename: filename, too_large: size }, skip, skip];
      }
      var binary = atob(contents.slice(comma + 1));
      var bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) {
        bytes[i] = binary.charCodeAt(i);
      }
      var query = new URLSearchParams({
        name: filename || "", column: picked || "", last: lastChoice || "", explain: (explain || 0) % 2 === 1 ? "1" : "",
      });
      var reply;
      try {
        var response = await fetch("/csv-upload?" + query.toString(), {
          method: "POST",
          body: bytes,
          headers: { "Content-Type": "application/octet-stream" },
        });
        reply = await response.json();
      } catch (error) {
        reply = { error: "The upload did not reach the dashboard; try again.", columns: null };
      }
      reply.filename = filename;
      reply.picked = picked;
      if (!reply.columns) {
        return [reply, skip, skip];
      }
      return [reply, reply.columns, reply.column || null];
    },
    // The explanation toggle: pressed on odd clicks (a button with aria-pressed, named by its own text).
    explainToggle: function (clicks) {
      var on = (clicks || 0) % 2 === 1;
      return [on ? "true" : "false", on ? "window-button explain-toggle selected" : "window-button explain-toggle"];
    },
    // The labelled CSV is streamed from the server's disk: following its address downloads it
    // without the file passing through a callback (and the server's memory) as base64.
    download: function (url) {
      if (!url) {
        return window.dash_clientside.no_update;
      }
      var link = document.getElementById("csv-download-link");
      link.href = url;
      link.click();
      return url;
    },
  },
});
