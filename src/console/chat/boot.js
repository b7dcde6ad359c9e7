// A classic script: it runs even when the module graph cannot load, and says why on the page. A module
// script whose graph fails to fetch (a 404 for /volley-client.js: the SDK bundle was not built) gets an
// `error` event, which fires after the document is parsed.
(function () {
  var script = document.querySelector('script[type="module"][src$="/chat.js"]');
  if (!script) return;
  script.addEventListener('error', function () {
    var banner = document.getElementById('banner');
    if (!banner) return;
    banner.className = 'banner failed';
    banner.textContent =
      'The chat could not load its scripts. If /volley-client.js answers 404, build the SDK bundle: ' +
      'npm run build (tsc, then node scripts/build-browser.mjs).';
  });
})();
