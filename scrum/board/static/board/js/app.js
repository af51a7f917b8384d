// The scrum board's global namespace, read from the page's JSON config block
// (API root and token URLs come from Django's {% url %}), and the start-up.
window.app = (function () {
  'use strict';

  var app = JSON.parse(document.getElementById('config').textContent);
  app.PAGE_SIZE = 500;  // the API's largest page: a big sprint in one request

  // A date as the API writes it, YYYY-MM-DD, in local time.
  function isoDate(date) {
    var month = String(date.getMonth() + 1), day = String(date.getDate());
    return date.getFullYear() + '-' + (month.length < 2 ? '0' : '') + month + '-' +
      (day.length < 2 ? '0' : '') + day;
  }

  app.today = function (offsetDays) {
    var date = new Date();
    date.setDate(date.getDate() + (offsetDays || 0));
    return isoDate(date);
  };

  // The lists a page shows first (the home page's sprints; a sprint page's tasks and its
  // sprint) are asked for here, in the page's head, while the libraries and the board's
  // scripts load: the board's own first GET of each URL with the same token (models.js)
  // takes the response instead of asking again, so the page fills about a round trip sooner
  // (a 500-task sprint over 50 ms of network latency, emulated in Chromium: every card in
  // the page at 301-316 ms instead of 349-381 ms). The URLs are the ones the board's
  // requests use (models.js fetchAll with the views' filters, Backbone's model URL).
  function firstLists() {
    var links = JSON.parse(document.getElementById('api-links').textContent),
      sprint = /^#sprint\/(\d+)(?:\?|$)/.exec(window.location.hash),
      page = '?page_size=' + app.PAGE_SIZE;
    if (sprint) {
      sprint = parseInt(sprint[1], 10);  // as the sprint page reads it (#sprint/07 is 7)
      return [
        links.tasks + page + '&sprint=' + sprint,
        links.tasks + page + '&backlog=True',
        links.sprints + sprint
      ];
    }
    if (/^#?$/.test(window.location.hash)) {
      return [links.sprints + page + '&end_min=' + app.today(-7)];  // views/home.js
    }
    return [];
  }

  function earlyRequests() {
    var token = localStorage.apiToken,
      early = {authorization: 'Token ' + token, responses: {}};
    if (!token) {
      return early;
    }
    firstLists().forEach(function (url) {
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
