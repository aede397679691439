// Checks an upload's size in the browser, so a file over the limit is never sent:
// the server only ever receives the file (as base64) when it fits, or else its size.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  upload: {
    checkSize: function (contents, filename, maxBytes) {
      if (!contents) {
        return window.dash_clientside.no_update;
      }
      var comma = contents.indexOf(",");
      var bytes = Math.floor(((contents.length - comma - 1) * 3) / 4);
      if (bytes > maxBytes) {
        return { filename: filename, too_large: bytes };
      }
      return { filename: filename, contents: contents };
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
