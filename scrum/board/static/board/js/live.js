// app.Live: how a sprint page keeps showing what the database holds (docs/protocol.md,
// "Convergence"). The page shows two scopes, its sprint and the backlog; the database gives
// each a version that every write bumps by one in commit order, and every announcement says
// which versions its write made. So the page applies a change only when it is the next one
// for a scope it shows, holds one that arrives early until the missing ones come, and reads
// the lists again when something is missing: a gap that does not fill within GAP_WAIT, or
// versions that moved while no announcement came (checked every CHECK_EVERY while quiet, and
// whenever the socket opens). A late announcement never overwrites a newer state. Each list
// says which versions its rows are at least as new as (the API reads them first), so the
// page starts from those and replays what it heard while the lists were on their way.
(function ($, Backbone, _, app) {
  'use strict';

  var GAP_WAIT = 1000,  // ms an early change waits for the ones before it
    CHECK_EVERY = 5000;  // ms without news after which the versions are asked for

  // ---- versions -------------------------------------------------------------------------

  function scopeKey(sprint) {
    return sprint === null || sprint === undefined ? 'backlog' : 'sprint:' + sprint;
  }

  // What a change's versions mean to a page that knows `known` (scope key -> version):
  // 'early' when a shown scope skipped a version, 'next' when a shown scope is one ahead,
  // else 'stale' (nothing the page shows is newer).
  function verdict(known, versions) {
    var result = 'stale';
    _.each(versions, function (scope) {
      var key = scopeKey(scope.sprint);
      if (!_.has(known, key) || result === 'early') {
        return;
      }
      if (scope.version > known[key] + 1) {
        result = 'early';
      } else if (scope.version === known[key] + 1) {
        result = 'next';
      }
    });
    return result;
  }

  // The ETag the versions endpoint gives for these versions, for If-None-Match.
  function versionsTag(known) {
    return '"' + known[_.find(_.keys(known), function (key) {
      return key !== 'backlog';
    })] + '-' + known.backlog + '"';
  }

  // ---- the page's tasks -----------------------------------------------------------------

  function taskBody(message) {
    return _.omit(message.body, 'change');
  }

  // Applies one announced task change to app.tasks (the page's cards follow the collection).
  function applyTask(message) {
    var task = app.tasks.get(message.id);
    if (message.action === 'remove') {
      app.tasks.remove(message.id);
    } else if (message.body && task) {
      task.set(taskBody(message));
    } else if (message.body) {
      app.tasks.add([taskBody(message)]);
    }
  }

  // The page's tasks in one column of the database (the backlog has one per status too).
  function columnTasks(sprint, status) {
    return app.tasks.filter(function (task) {
      return task.get('sprint') === sprint && task.get('status') === status;
    });
  }

  // Sets each shown column's orders from the ids a change lists top to bottom; returns false
  // when the page's column does not hold exactly those tasks (then it must be read again).
  function applyColumns(columns, sprint) {
    return _.every(columns, function (column) {
      var shown = column.sprint === null || column.sprint === sprint,
        tasks = shown && _.map(column.ids, function (id) {
          return app.tasks.get(id);
        });
      if (!shown) {
        return true;
      }
      if (!_.every(tasks)) {
        return false;
      }
      _.each(tasks, function (task, index) {
        task.set('order', index);
      });
      return columnTasks(column.sprint, column.status).length === tasks.length &&
        _.every(tasks, function (task) {
          return task.get('status') === column.status && task.get('sprint') === column.sprint;
        });
    });
  }

  // ---- the page's live state ------------------------------------------------------------

  var Live = function (sprint) {
    this.sprint = sprint;  // the page's sprint id
    this.known = null;  // scope key -> version, once the lists are read
    this.early = [];  // changes waiting for the ones before them, with when they came
    this.received = null;  // changes heard while the lists are read again
    this.again = false;  // read again once the current reading ends
    this.quietSince = Date.now();
    this.stopped = false;
    this.checkTimer = setInterval(_.bind(this.checkIfQuiet, this), CHECK_EVERY / 5);
    this.gapTimer = null;
  };

  Live.verdict = verdict;

  Live.prototype = _.extend(Live.prototype, Backbone.Events, {
    versionsUrl: function () {
      return _.result(app.sprints, 'url').replace(/\/?$/, '/') + this.sprint + '/versions/';
    },
    stop: function () {
      this.stopped = true;
      clearInterval(this.checkTimer);
      clearTimeout(this.gapTimer);
    },
    // The page's lists, each with the versions its rows are at least as new as, and the
    // changes heard meanwhile replayed on them; tasks no longer in either leave the page.
    load: function () {
      var self = this, sprint = this.sprint;
      if (this.received) {
        this.again = true;
        return;
      }
      this.received = _.pluck(this.early, 'message');  // replayed once the lists are in
      this.again = false;
      this.early = [];
      $.when(app.tasks.getSprint(sprint), app.tasks.getBacklog()).done(function (inSprint,
        inBacklog) {  // each: [tasks, versions]
        var current = _.indexBy(inSprint[0].concat(inBacklog[0]), 'id'),
          received = self.received;
        app.tasks.remove(app.tasks.filter(function (task) {
          return (task.inBacklog() || task.get('sprint') === sprint) && !current[task.id];
        }));
        self.known = {backlog: inBacklog[1].backlog};
        self.known[scopeKey(sprint)] = inSprint[1].version;
        self.received = null;
        _.each(received, self.receive, self);
      }).fail(function () {
        self.received = null;
        self.known = null;  // read again at the next check
      }).always(function () {
        if (self.again && !self.stopped && self.received === null) {
          self.load();
        }
      });
    },
    // An announced task change (from the socket, or a move's own answer).
    receive: function (message) {
      var change = message.body && message.body.change;
      if (this.stopped) {
        return;
      }
      if (this.received) {
        this.received.push(message);
        this.preview(message, change);
        return;
      }
      if (!change && (message.body || message.action === 'remove')) {
        applyTask(message);  // a writer without versions (the book's): applied as it comes
        return;
      }
      if (!change || change.refetch) {
        this.load();
        return;
      }
      this.take(message, change);
    },
    take: function (message, change) {
      var state = verdict(this.known, change.versions);
      if (state === 'stale') {
        return;
      }
      this.quietSince = Date.now();
      if (state === 'early') {
        this.early.push({message: message, at: Date.now()});
        this.waitForGap();
      } else if (this.apply(message, change)) {
        this.takeEarly();
      } else {
        this.load();
      }
    },
    // Applies a next change; returns false when the page's columns turn out not to match.
    apply: function (message, change) {
      _.each(change.versions, function (scope) {
        var key = scopeKey(scope.sprint);
        if (_.has(this.known, key)) {
          this.known[key] = Math.max(this.known[key], scope.version);
        }
      }, this);
      applyTask(message);
      return applyColumns(change.columns, this.sprint);
    },
    // While the lists are read again, a change that follows what the page showed is shown
    // at once too (it is replayed on the lists when they are in).
    preview: function (message, change) {
      if (change && !change.refetch && this.known &&
          verdict(this.known, change.versions) === 'next') {
        this.apply(message, change);
      }
    },
    // The early changes that are now next, in turn.
    takeEarly: function () {
      var waiting = this.early;
      this.early = [];
      _.each(waiting, function (early) {
        if (this.received) {
          this.received.push(early.message);
        } else if (verdict(this.known, early.message.body.change.versions) === 'early') {
          this.early.push(early);
        } else {
          this.take(early.message, early.message.body.change);
        }
      }, this);
    },
    waitForGap: function () {
      var self = this;
      if (this.gapTimer) {
        return;
      }
      this.gapTimer = setTimeout(function () {
        self.gapTimer = null;
        if (_.some(self.early, function (early) {
          return Date.now() - early.at >= GAP_WAIT;
        })) {
          self.load();
        } else if (self.early.length) {
          self.waitForGap();
        }
      }, GAP_WAIT);
    },
    checkIfQuiet: function () {
      if (Date.now() - this.quietSince >= CHECK_EVERY) {
        this.check();
      }
    },
    // Reads the versions (304 while they are what the page knows); others: read again.
    check: function () {
      var self = this;
      this.quietSince = Date.now();
      if (this.known === null || this.received) {
        if (this.known === null && !this.received) {
          this.load();
        }
        return;
      }
      $.ajax({
        url: this.versionsUrl(),
        dataType: 'json',
        headers: {'If-None-Match': versionsTag(this.known)}
      }).done(function (versions, status) {
        if (status !== 'notmodified' && versions && self.known &&
            (versions.version !== self.known[scopeKey(self.sprint)] ||
             versions.backlog !== self.known.backlog)) {
          self.load();
        }
      });
    }
  });

  app.Live = Live;
})(jQuery, Backbone, _, app);
