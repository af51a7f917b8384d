// app.Socket: the book's WebSocket wrapper with Backbone events, plus what a 2026 client
// needs: reconnection with exponential back-off, catching up with ?since= after a
// reconnect, and the watercooler's close codes (4403 expired token, 4410 access revoked: ask
// for a new URL, which a logged-out page cannot get).
(function ($, Backbone, _, app) {
  'use strict';

  var FIRST_DELAY = 500, MAX_DELAY = 10000,
    STABLE = 3000,  // open this long, a socket counts as working: back-off starts afresh
    CLOSE_BAD_REQUEST = 4400, CLOSE_TOKEN_INVALID = 4401, CLOSE_TOKEN_EXPIRED = 4403,
    CLOSE_REVOKED = 4410;

  // Milliseconds to wait before reconnect attempt number `attempt` (0, 1, ...): doubling
  // from half a second up to ten, each randomly shortened by up to half (jitter).
  function backoff(attempt, random) {
    var delay = Math.min(MAX_DELAY, FIRST_DELAY * Math.pow(2, attempt));
    return Math.round(delay * (0.5 + 0.5 * random));
  }

  // The query that resumes the two channels a sprint socket hears ("sprint:<id>" and
  // "all") from the last message seen on each: {since: 'epoch:seq', since_all: ...}.
  function catchUpQuery(positions) {
    var query = {};
    _.each(positions, function (position, channel) {
      query[channel === 'all' ? 'since_all' : 'since'] = position.epoch + ':' + position.seq;
    });
    return query;
  }

  // url with the query's parameters added (replacing any of the same name).
  function withQuery(url, query) {
    var parts = url.split('?'),
      params = _.reject((parts[1] || '').split('&'), function (param) {
        return !param || _.has(query, param.split('=')[0]);
      });
    _.each(query, function (value, name) {
      params.push(name + '=' + encodeURIComponent(value));
    });
    return parts[0] + (params.length ? '?' + params.join('&') : '');
  }

  var Socket = function (server) {
    this.server = server;
    this.ws = null;
    this.connected = new $.Deferred();
    this.positions = {};  // channel -> {epoch, seq} of the last message seen
    this.attempt = 0;
    this.renewals = 0;  // new URLs asked for since the socket last worked
    this.reconnecting = false;  // the next open catches up on what was missed
    this.refetchOnOpen = false;  // the next open refetches besides catching up
    this.stopped = false;
    this.timer = null;
    this.stable = null;
    this.open();
  };

  Socket.backoff = backoff;
  Socket.catchUpQuery = catchUpQuery;
  Socket.withQuery = withQuery;

  Socket.prototype = _.extend(Socket.prototype, Backbone.Events, {
    open: function () {
      var url = this.server;
      if (this.ws === null) {
        if (this.reconnecting) {
          url = withQuery(url, catchUpQuery(this.resumable()));
        }
        this.ws = new WebSocket(url);
        this.ws.onopen = _.bind(this.onopen, this);
        this.ws.onmessage = _.bind(this.onmessage, this);
        this.ws.onclose = _.bind(this.onclose, this);
        this.ws.onerror = _.bind(this.onerror, this);
      }
      return this.connected;
    },
    // Closes for good (the page is left): no reconnection.
    close: function () {
      this.stopped = true;
      clearTimeout(this.timer);
      this.drop();
    },
    // Forgets the current WebSocket: a fresh `connected` deferred, 'closed' triggered.
    drop: function () {
      var ws = this.ws;
      clearTimeout(this.stable);
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        ws.close();
      }
      this.ws = null;
      this.connected = new $.Deferred();
      this.trigger('closed');
    },
    // Opens again on a new URL (a fresh channel token), catching up from where it was.
    reconnect: function (server) {
      this.server = server || this.server;
      if (this.ws) {
        this.drop();
      }
      this.reconnecting = true;
      this.retry(0);
    },
    // Channels that can be resumed: only those whose epoch is known (a watercooler
    // without epochs restarts its numbers, so a bare number could silently skip messages).
    resumable: function () {
      return _.pick(this.positions, function (position) {
        return position.epoch !== undefined;
      });
    },
    onopen: function () {
      var self = this,
        caughtUp = _.has(this.resumable(), 'all') && !this.refetchOnOpen;
      // The server may still refuse the socket right after opening it (a bad token):
      // only one that stays open resets the back-off and the token renewals.
      this.stable = setTimeout(function () {
        self.attempt = 0;
        self.renewals = 0;
      }, STABLE);
      this.connected.resolve(true);
      this.trigger('open');
      this.trigger('status', 'live');
      if (this.reconnecting && !caughtUp) {
        this.trigger('resync');  // refetch: the history alone may not hold what was missed
      }
      this.reconnecting = false;
      this.refetchOnOpen = false;
    },
    onmessage: function (message) {
      var result;
      try {
        result = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (!_.isObject(result)) {
        return;
      }
      this.remember(result);
      this.trigger('message', result, message);
      if (result.type === 'resync') {
        this.trigger('resync', result);
      } else if (result.type === 'presence') {
        this.trigger('presence', result.viewers || []);
      } else if (result.model && result.action) {
        this.trigger(result.model + ':' + result.action, result.id, result, message);
      }
    },
    remember: function (result) {
      if (result.channel && typeof result.seq === 'number') {
        this.positions[result.channel] = {epoch: result.epoch, seq: result.seq};
      }
    },
    onclose: function (event) {
      this.drop();
      if (this.stopped) {
        return;
      }
      this.reconnecting = true;
      if (_.contains([CLOSE_TOKEN_EXPIRED, CLOSE_TOKEN_INVALID, CLOSE_REVOKED], event.code)) {
        this.renew();
      } else {
        if (event.code === CLOSE_BAD_REQUEST) {
          this.positions = {};  // the server did not understand ?since=: start afresh
        }
        // The history replayed with ?since= holds what reached the watercooler, but the
        // page cannot tell a dropped connection from a watercooler that was down, and
        // what the API announced to a watercooler that was down is in no history.
        this.refetchOnOpen = true;
        this.retry(backoff(this.attempt++, Math.random()));
      }
    },
    // The browser always follows an error with a close event, which reconnects.
    onerror: function (error) {
      this.trigger('error', error);
    },
    // The channel token was refused (expired): the page is asked for a new URL, at once
    // the first time, then with back-off (a token that keeps being refused, e.g. signed
    // with another secret, must not make the page hammer the API).
    renew: function () {
      var self = this,
        delay = this.renewals > 0 ? backoff(this.attempt++, Math.random()) : 0;
      this.renewals += 1;
      clearTimeout(this.timer);
      this.trigger('status', 'reconnecting');
      this.timer = setTimeout(function () {
        self.timer = null;
        if (!self.stopped) {
          self.trigger('expired');  // the page fetches the sprint again and calls reconnect
        }
      }, delay);
    },
    retry: function (delay) {
      var self = this;
      clearTimeout(this.timer);
      this.trigger('status', 'reconnecting');
      this.timer = setTimeout(function () {
        self.timer = null;
        if (!self.stopped && self.ws === null) {
          self.open();
        }
      }, delay);
    },
    send: function (message) {
      var self = this, payload = JSON.stringify(message);
      this.connected.done(function () {
        if (self.ws) {
          self.ws.send(payload);
        }
      });
    }
  });

  app.Socket = Socket;
})(jQuery, Backbone, _, app);
