// The scrum board's global namespace, read from the page's JSON config block
// (API root and token URLs come from Django's {% url %}), and the start-up.
window.app = (function () {
  'use strict';

  var app = JSON.parse(document.getElementById('config').textContent);
  app.PAGE_SIZE = 500;  // the API's largest page: a big sprint in one request

  // A sprint page's first lists, asked for here, in the page's head, while the libraries and
  // the board's scripts load: the board's own first GET of each URL with the same token
  // (models.js) takes the response instead of asking again: the cards come about a round
  // trip sooner (a 500-task sprint over 50 ms of network latency, emulated in Chromium: every
  // card in the page at 301-316 ms instead of 349-381 ms). The URLs are the ones the board's
  // requests use (models.js fetchAll, Backbone's model URL).
  function earlyRequests() {
    var token = localStorage.apiToken,
      route = /^#sprint\/(\d+)(?:\?|$)/.exec(window.location.hash),
      links = JSON.parse(document.getElementById('api-links').textContent),
      early = {authorization: 'Token ' + token, responses: {}};
    if (!token || !route) {
      return early;
    }
    [
      links.tasks + '?page_size=' + app.PAGE_SIZE + '&sprint=' + route[1],
      links.tasks + '?page_size=' + app.PAGE_SIZE + '&backlog=True',
      links.sprints + route[1]
    ].forEach(function (url) {
      var response = fetch(url, {
        headers: {Accept: 'application/json', Authorization: early.authorization},
        credentials: 'omit'
      });
      response.catch(function () {});  // a failure is the taker's to handle, if any takes it
      early.responses[url] = response;
    });
    return early;
  }
  var early = earlyRequests();

  // The response asked for early for a GET of this URL with this token, once; else null.
  app.takeEarly = function (method, url, authorization) {
    var response = early.responses[url];
    delete early.responses[url];
    return method === 'GET' && authorization === early.authorization && response || null;
  };

  // Once every script has run; DOMContentLoaded itself rather than $(document).ready,
  // whose callbacks wait for a timer (jQuery runs them asynchronously).
  document.addEventListener('DOMContentLoaded', function () {
    new app.router();  // starts the history: the page shows the route asked for
  });

  return app;
})();
