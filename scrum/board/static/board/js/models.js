// The session (token in localStorage), the API's models, and the collections at the API
// root's links (book ch. 5-6), with moves through POST /api/tasks/<id>/move/.
(function ($, Backbone, _, app) {
  'use strict';

  // The API's error body as a list of messages ({"field": ["..."]}, {"detail": "..."}).
  app.errorMessages = function (xhr) {
    var body = xhr && xhr.responseJSON;
    if (!_.isObject(body)) {
      return [xhr && xhr.status ? 'The server answered ' + xhr.status + '.'
        : 'The server cannot be reached.'];
    }
    return _.flatten(_.values(body));
  };

  // Every request of the board goes through fetch() without credentials: then a 401 that
  // carries "WWW-Authenticate: Basic" (the API's answer to a revoked token) never opens the
  // browser's own login dialog, which XMLHttpRequest does even for requests with a token.
  // A GET of a URL the page's head asked for early (app.js) takes that response.
  $.ajaxTransport('+*', function (options) {
    var controller = new AbortController();
    return {
      send: function (headers, complete) {
        (app.takeEarly(options.type, options.url, headers.Authorization) || fetch(options.url, {
          method: options.type,
          headers: headers,
          body: options.hasContent ? options.data : undefined,
          credentials: 'omit',
          signal: controller.signal
        })).then(function (response) {
          return response.text().then(function (text) {
            var lines = [];
            response.headers.forEach(function (value, name) {
              lines.push(name + ': ' + value);
            });
            complete(response.status, response.statusText, {text: text}, lines.join('\r\n'));
          });
        }).catch(function (error) {
          complete(0, error.name === 'AbortError' ? 'abort' : 'error', {}, '');
        });
      },
      abort: function () {
        controller.abort();
      }
    };
  });

  var Session = Backbone.Model.extend({
    defaults: {token: null, username: null},
    initialize: function (options) {
      this.load();
      $.ajaxPrefilter(_.bind(this._setupAuth, this));
    },
    load: function () {
      this.set({
        token: localStorage.apiToken || null,
        username: localStorage.apiUsername || null
      });
    },
    save: function (token, username) {
      this.set({token: token, username: token === null ? null : username || null});
      if (token === null) {
        localStorage.removeItem('apiToken');
        localStorage.removeItem('apiUsername');
      } else {
        localStorage.apiToken = token;
        if (username) {
          localStorage.apiUsername = username;
        }
      }
    },
    delete: function () {
      this.save(null);
    },
    // Ends the session on the server as well: the token is deleted there, so a copy of it
    // works no more. The page forgets it all the same when the server cannot be reached.
    logout: function () {
      var self = this;
      return $.post(app.apiLogout).always(function () {
        self.delete();
      });
    },
    authenticated: function () {
      return this.get('token') !== null;
    },
    // Every request below the API root carries the token, so no 401 ever asks the browser
    // for Basic credentials; a 401 means the token was revoked or has expired.
    _setupAuth: function (settings, originalOptions, xhr) {
      var self = this;
      if (this.authenticated() && settings.url !== app.apiRoot) {
        xhr.setRequestHeader('Authorization', 'Token ' + this.get('token'));
        xhr.fail(function () {
          if (xhr.status === 401) {
            self.expire();
          }
        });
      }
    },
    expire: function () {
      if (this.authenticated()) {
        this.delete();
        this.trigger('expired');
      }
    }
  });

  app.session = new Session();

  // An API link on the page's own origin: an object announced through the watercooler
  // carries the links of the host it was written through (another scrum server, an internal
  // name), but the board talks only to the API it was loaded from.
  function ownLink(url) {
    var link = new URL(url, window.location.href);
    return link.pathname + link.search;
  }

  var BaseModel = Backbone.Model.extend({
    url: function () {
      var links = this.get('links');
      if (links && links.self) {
        return ownLink(links.self);
      }
      return Backbone.Model.prototype.url.call(this);
    },
    // The URL of one of the object's actions, e.g. tasks/7/move/.
    actionUrl: function (name) {
      return this.url().replace(/\/?$/, '/') + name + '/';
    }
  });

  app.models.Sprint = BaseModel.extend({
    finished: function () {
      return this.get('end') < app.today();
    },
    burndown: function () {
      return $.getJSON(this.actionUrl('burndown'));
    },
    // Moves the unfinished tasks to another sprint (its id) or the backlog (null).
    carryOver: function (to) {
      return postJSON(this.actionUrl('carry-over'), {to: to}).done(function (data) {
        app.tasks.set(data.moved, {remove: false});
      });
    }
  });

  function postJSON(url, data) {
    return $.ajax({
      url: url,
      type: 'POST',
      contentType: 'application/json',
      dataType: 'json',
      data: JSON.stringify(data)
    });
  }

  var STATUS_CLASSES = ['todo', 'active', 'testing', 'done'];

  app.models.Task = BaseModel.extend({
    statusClass: function () {
      var sprint = this.get('sprint'), status;
      if (!sprint) {
        status = 'unassigned';
      } else {
        status = STATUS_CLASSES[this.get('status') - 1];
      }
      return status;
    },
    inBacklog: function () {
      return !this.get('sprint');
    },
    inSprint: function (sprint) {
      return sprint !== null && this.get('sprint') === sprint.get('id');
    },
    // Moves the task to a column (status, sprint: an id or null for the backlog) at a
    // position (0 is the top) through the API, which renumbers the column and sets the
    // dates; the card moves when the API has stored it (what the user sees is what is
    // stored): 'move:saved' gives the page the change the API made (the task, the scopes'
    // versions, the columns' new order), as its announcement will, and where the task was.
    // If the API refuses, the card stays and 'move:failed' is triggered with its messages.
    moveTo: function (status, sprint, position) {
      var task = this,
        from = _.pick(this.attributes, 'status', 'sprint', 'order');  // for an undo
      this.trigger('move:saving', this, true);
      return postJSON(this.actionUrl('move'), {status: status, sprint: sprint, position: position})
        .always(function () {
          task.trigger('move:saving', task, false);
        })
        .done(function (data) {
          task.trigger('move:saved', task, data, from);
        })
        .fail(function (xhr) {
          if (xhr.status !== 401) {
            task.trigger('move:failed', task, app.errorMessages(xhr));
          }
        });
    }
  });

  // Board order: by order, then by id (as the API sorts).
  app.compareTasks = function (a, b) {
    return (a.get('order') - b.get('order')) || (a.get('id') - b.get('id'));
  };

  app.models.User = BaseModel.extend({
    idAttribute: 'username'
  });

  var BaseCollection = Backbone.Collection.extend({
    parse: function (response) {
      this._next = response.next;
      this._previous = response.previous;
      this._count = response.count;
      return response.results || [];
    },
    getOrFetch: function (id) {
      var result = new $.Deferred(),
        collection = this,
        model = this.get(id);
      if (!model) {
        model = this.push({id: id});
        model.fetch({
          success: function (model, response, options) {
            result.resolve(model);
          },
          error: function (model, response, options) {
            collection.remove(model);
            result.reject(model, response);
          }
        });
      } else {
        result.resolve(model);
      }
      return result;
    },
    // Fetches every page of the list (options.url, options.data), merging each page in as
    // it arrives: the pages after the first are asked for at once when their URLs follow
    // from `next` (?page=N), else one after the other by `next`. Resolves with all objects
    // and the versions the first page's rows are at least as new as (its Scrum-Versions
    // header; the other pages are read after it). Only done/fail callbacks: they run as
    // soon as a response is in, where each `then` would wait for a timer.
    fetchAll: function (options) {
      var collection = this,
        result = new $.Deferred(),
        found = [],
        versions = null;
      function get(url, data) {
        return $.ajax({url: url, data: data, dataType: 'json'}).fail(result.reject);
      }
      function merge(response) {
        var results = response.results || [];
        found = found.concat(results);
        collection.set(results, {remove: false});
      }
      function follow(response) {
        merge(response);
        if (response.next) {
          get(response.next).done(follow);
        } else {
          result.resolve(found, versions);
        }
      }
      options = options || {};
      get(options.url || _.result(this, 'url'), _.extend({page_size: app.PAGE_SIZE}, options.data))
        .done(function (first, status, xhr) {
          var others = _.map(otherPages(first), function (url) {
            return get(url).done(merge);
          });
          versions = JSON.parse(xhr.getResponseHeader('Scrum-Versions') || 'null');
          if (!others.length) {
            follow(first);
            return;
          }
          merge(first);  // while the other pages are on their way
          $.when.apply($, others).done(function () {
            result.resolve(found, versions);
          });
        });
      return result.promise();
    }
  });

  var PAGE_NUMBER = /([?&]page=)(\d+)/;

  // The URLs of pages 2..last of a paginated list, from its first page's `next` and count.
  function otherPages(response) {
    var size = (response.results || []).length,
      last = size ? Math.ceil(response.count / size) : 0,
      urls = [];
    if (!response.next || !PAGE_NUMBER.test(response.next)) {
      return urls;
    }
    _.each(_.range(2, last + 1), function (number) {
      urls.push(response.next.replace(PAGE_NUMBER, '$1' + number));
    });
    return urls;
  }

  // The API root's links come with the page (the data Backbone's docs call bootstrapped), so
  // a page asks for its lists as soon as it starts: asking the root first held a 500-task
  // sprint's cards back by that round trip and the frames drawn while it was out (bench_board,
  // three runs each way, alternated: every card visible at a median of 335-353 ms before,
  // 320-343 ms after). The root still answers these links to every other client.
  app.collections.ready = $.Deferred()
    .resolve(JSON.parse(document.getElementById('api-links').textContent))
    .promise();

  app.collections.ready.done(function (data) {
    app.collections.Sprints = BaseCollection.extend({
      model: app.models.Sprint,
      url: data.sprints
    });
    app.sprints = new app.collections.Sprints();
    app.collections.Tasks = BaseCollection.extend({
      model: app.models.Task,
      url: data.tasks,
      getBacklog: function (options) {
        return this.fetchAll(_.extend({data: {backlog: 'True'}}, options));
      },
      // A sprint's tasks from the root's task list (the sprint itself need not be in).
      getSprint: function (id) {
        return this.fetchAll({data: {sprint: id}});
      },
      // The tasks of one column in board order (by order, then id), without `except`.
      column: function (sprint, status, except) {
        var tasks = this.filter(function (task) {
          if (task === except) {
            return false;
          }
          return sprint ? task.get('sprint') === sprint && task.get('status') === status
            : task.inBacklog();
        });
        return tasks.sort(app.compareTasks);
      }
    });
    app.tasks = new app.collections.Tasks();
    app.collections.Users = BaseCollection.extend({
      model: app.models.User,
      url: data.users
    });
    app.users = new app.collections.Users();
  });
})(jQuery, Backbone, _, app);
