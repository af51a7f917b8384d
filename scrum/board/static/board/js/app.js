// The scrum board's global namespace, read from the page's JSON config block
// (API root and token URLs come from Django's {% url %}), and the start-up.
var app = (function ($) {
  'use strict';

  var config = $('#config'),
    app = JSON.parse(config.text());

  $(document).ready(function () {
    app.routerInstance = new app.router();
  });

  return app;
})(jQuery);
