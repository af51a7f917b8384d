// The scrum board's global namespace, read from the page's JSON config block
// (API root and token URLs come from Django's {% url %}), and the start-up.
window.app = (function () {
  'use strict';

  var app = JSON.parse(document.getElementById('config').textContent);

  // Once every script has run; DOMContentLoaded itself rather than $(document).ready,
  // whose callbacks wait for a timer (jQuery runs them asynchronously).
  document.addEventListener('DOMContentLoaded', function () {
    new app.router();  // starts the history: the page shows the route asked for
  });

  return app;
})();
