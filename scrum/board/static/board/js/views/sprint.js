// The sprint page (book ch. 6-8): five columns of task cards, their details, drag and drop
// and the "Move to..." menu, the live socket and the page's convergence (live.js), the
// burndown chart and the carry-over of a finished sprint. As in Backbone's todos example,
// each card's view listens to its own task; the page adds, moves and removes cards as tasks
// join, change column or leave its collection.
(function ($, Backbone, _, app) {
  'use strict';

  var TemplateView = app.views.TemplateView, FormView = app.views.FormView,
    dropTarget = app.views.dropTarget, dataTransfer = app.views.dataTransfer,
    DELETE_CONFIRM = 5000,  // ms "Really delete?" waits for its second click
    LIMITED_COLUMNS = [  // the columns a sprint may give a work-in-progress limit
      {status: 1, title: 'Not Started'},
      {status: 2, title: 'In Development'},
      {status: 3, title: 'In Testing'}
    ],
    DONE = 4,
    UNDO_TIMEOUT = 10000,  // ms a move or a delete can be undone from its notice
    TITLE = document.title,  // the page's own, "Scrum Board"
    LOCK_TIMEOUT = 30000,  // a lock whose dragend never came (the other browser left) ends
    ERROR_TIMEOUT = 10000,
    COLUMNS = [
      {key: 'unassigned', title: 'Backlog', status: 1, backlog: true},
      {key: 'todo', title: 'Not Started', status: 1},
      {key: 'active', title: 'In Development', status: 2},
      {key: 'testing', title: 'In Testing', status: 3},
      {key: 'done', title: 'Completed', status: 4}
    ],
    CONNECTION_LABELS = {
      connecting: 'Connecting...',
      live: 'Live',
      reconnecting: 'Reconnecting...'
    };

  // ---- details and forms -----------------------------------------------------------------

  // A task's field as its details show it (task-detail-template; empty ones show their
  // placeholder from CSS, with no text of their own).
  function shown(value) {
    return value ? String(value) : '';
  }

  // What a field's element holds, as the API takes it: trimmed, the no-break spaces that
  // contenteditable types turned back into spaces, an empty due date or assignee null.
  function typedValue(element, field) {
    var value = element.innerText.replace(/\u00a0/g, ' ').trim();
    return value === '' && (field === 'due' || field === 'assigned') ? null : value;
  }

  // A task's details, editable in place. Saves send If-Match with the version the panel
  // read: when someone else saved the task meanwhile (412), a save that touches none of the
  // fields they changed is made again on their version without a word; otherwise their
  // values are shown beside the unsaved ones and the user keeps one or the other. The panel
  // follows live changes to the fields the user is not editing.
  // The users an assignee picker offers: every user the API listed, and the task's own.
  function pickableUsers(task) {
    var users = app.users.map(function (user) {
      var username = user.get('username'), name = user.get('full_name');
      return {username: username, label: name ? name + ' (' + username + ')' : username};
    });
    if (task.get('assigned') && !_.findWhere(users, {username: task.get('assigned')})) {
      users.push({username: task.get('assigned'), label: task.get('assigned')});
    }
    return _.sortBy(users, 'username');
  }

  var TaskDetailView = FormView.extend({
    tagName: 'div',
    className: 'task-detail',
    templateName: '#task-detail-template',
    conflictTemplate: '#conflict-template',
    attributes: {role: 'listitem'},
    events: _.extend({}, FormView.prototype.events, {
      'click button.cancel': 'close',
      'focus [data-field][contenteditable=true]': 'beginEdit',
      'input [data-field][contenteditable=true]': 'editField',
      'blur [data-field][contenteditable=true]': 'editField',
      'keydown [data-field][contenteditable=true]': 'fieldKey',
      'change [data-pick]': 'pick',
      'click button.delete': 'destroy',
      'click button.keep-mine': 'keepMine',
      'click button.take-theirs': 'takeTheirs'
    }),
    initialize: function (options) {
      FormView.prototype.initialize.apply(this, arguments);
      this.task = options.task;
      this.changes = {};  // field -> the user's unsaved value
      this.base = {};  // field -> its value when the user began editing it
      this.etag = null;  // the version of the task the next save expects
      this.conflict = null;  // {theirs: the server's task, etag, fields: [names]}
      this.deleting = null;  // the timer of a first click on Delete
      this.closing = false;  // Close or Escape: saved first, then closed
      this.sending = null;  // the fields of the save in flight
      this.pending = false;  // another save asked for while one was in flight
      this.listenTo(this.task, 'change', this.render);
      this.listenTo(this.task, 'remove', this.done);
      this.listenTo(app.users, 'update', this.render);  // the picker's users may come later
      this.readVersion();
    },
    readVersion: function () {
      var self = this;
      return $.ajax({url: this.task.url(), dataType: 'json'}).done(function (data, s, xhr) {
        self.etag = xhr.getResponseHeader('ETag');
      });
    },
    getContext: function () {
      return {task: this.task, deleting: this.deleting !== null, users: pickableUsers(this.task)};
    },
    // Re-rendered when the task changes (here or elsewhere); unsaved edits stay, and so does
    // what is being typed in a field.
    render: function () {
      var typing = this.el.querySelector('[data-field]:focus'),
        typed = typing && {name: $(typing).data('field'), text: typing.innerText};
      if (typed && shown(this.base[typed.name]) === typed.text.trim()) {
        typed.text = shown(this.task.get(typed.name));  // nothing typed: follow
      }
      FormView.prototype.render.apply(this, arguments);
      _.each(this.changes, function (value, field) {
        this.field(field).text(shown(value));
        this.$('[data-pick=' + field + ']').val(value || '');
      }, this);
      if (typed) {
        this.field(typed.name).text(typed.text)[0].focus();
      }
      if (this.conflict) {
        this.$('form').before(app.views.compiled(this.conflictTemplate)({
          fields: _.map(this.conflict.fields, function (field) {
            return {name: field, theirs: this.conflict.theirs[field], mine: this.changes[field]};
          }, this)
        }));
      }
      this.$('button.save').toggleClass('hide', _.isEmpty(this.changes) || !!this.conflict);
    },
    field: function (name) {
      return this.$('[data-field]').filter(function () {
        return $(this).data('field') === name;
      });
    },
    submit: function (event) {
      FormView.prototype.submit.apply(this, arguments);
      this.save();
    },
    // One save at a time: a save asked for while one is in flight (Save, Close, Escape) is
    // made once it is answered, on the version it leaves, with whatever is still unsaved.
    save: function () {
      if (this.sending) {
        this.pending = true;
        return;
      }
      var self = this, sent = this.sending = _.clone(this.changes),
        headers = this.etag ? {'If-Match': this.etag} : {};
      this.pending = false;
      this.task.save(sent, {
        wait: true,
        patch: true,  // only what was edited: a concurrent move is not overwritten
        headers: headers,
        success: function (model, response, options) {
          self.etag = options.xhr.getResponseHeader('ETag');
          self.sending = null;
          self.saved(sent);
          if (!_.isEmpty(self.changes) && (self.pending || self.closing)) {
            self.save();
          } else if (self.closing) {
            self.done();
          }
        },
        error: function (model, xhr) {
          self.sending = null;
          if (xhr.status === 412) {
            self.compare();
          } else {
            self.closing = self.pending = false;  // the user sees why, and the edit stays
            self.modelFailure(model, xhr);
          }
        }
      });
    },
    // A save's answer: the fields it sent are saved, unless typed again while it was in flight.
    saved: function (sent) {
      _.each(sent, function (value, field) {
        if (_.isEqual(this.changes[field], value)) {
          delete this.changes[field];
          delete this.base[field];
        } else {
          this.base[field] = value;
        }
      }, this);
      this.render();
    },
    // Close (or Escape): an unsaved edit is saved first, so nothing typed is lost unseen.
    close: function (event) {
      if (event && event.preventDefault) {
        event.preventDefault();
      }
      if (_.isEmpty(this.changes) && !this.sending) {
        this.done();
        return;
      }
      this.closing = true;
      this.clearErrors();
      if (!this.conflict) {
        this.save();
      }
    },
    // Someone else saved the task: their version decides whether this save can simply be
    // made again on it (none of the fields edited here changed there) or the user chooses.
    compare: function () {
      var self = this;
      $.ajax({url: this.task.url(), dataType: 'json'}).done(function (theirs, s, xhr) {
        var fields = _.filter(_.keys(self.changes), function (field) {
          return !_.isEqual(theirs[field], self.base[field]) &&
            !_.isEqual(theirs[field], self.changes[field]);
        });
        self.etag = xhr.getResponseHeader('ETag');
        if (fields.length) {
          self.conflict = {theirs: theirs, fields: fields};
          self.render();
        } else {
          self.save();
        }
      }).fail(function (xhr) {
        self.failure(xhr);
      });
    },
    keepMine: function () {
      _.each(this.conflict.fields, function (field) {
        this.base[field] = this.conflict.theirs[field];
      }, this);
      this.conflict = null;
      this.clearErrors();
      this.save();
    },
    takeTheirs: function () {
      var theirs = this.conflict.theirs;
      _.each(this.conflict.fields, function (field) {
        delete this.changes[field];
        delete this.base[field];
      }, this);
      this.conflict = null;
      this.task.set(_.pick(theirs, _.keys(this.task.attributes)));
      this.render();
      if (this.closing && _.isEmpty(this.changes)) {
        this.done();
      }
    },
    // Deletes the task once the API agrees: its card and these details leave the page
    // (the task's 'remove'), and every other board hears it from the watercooler.
    // The first click asks "Really delete?" for a few seconds; the second deletes.
    destroy: function (event) {
      var self = this;
      event.preventDefault();
      this.clearErrors();
      if (this.deleting === null) {
        this.deleting = setTimeout(function () {
          self.deleting = null;
          self.render();
        }, DELETE_CONFIRM);
        this.render();
        this.$('button.delete').trigger('focus');
        return;
      }
      clearTimeout(this.deleting);
      this.deleting = null;
      // 'deleted' goes to the collection by hand: when the delete's announcement comes first,
      // the task has already left the collection, which then no longer hears its 'destroy'.
      this.task.destroy({wait: true, error: _.bind(this.modelFailure, this),
        success: function (task) { app.tasks.trigger('deleted', task); }});
    },
    remove: function () {
      clearTimeout(this.deleting);
      return FormView.prototype.remove.apply(this, arguments);
    },
    // The value a field had when the user began to edit it: what a save would overwrite.
    beginEdit: function (event) {
      var field = $(event.currentTarget).data('field'), stored = this.task.get(field);
      if (!_.has(this.base, field)) {
        this.base[field] = stored === undefined ? null : stored;
      }
    },
    // An edit, as it is typed: Save shows as soon as something differs from the task.
    editField: function (event) {
      var field = $(event.currentTarget).data('field'),
        value = typedValue(event.currentTarget, field),
        stored = this.task.get(field);
      if ((stored === undefined ? null : stored) === value) {
        delete this.changes[field];
        delete this.base[field];
      } else {
        this.changes[field] = value;
      }
      this.$('button.save').toggleClass('hide', _.isEmpty(this.changes) || !!this.conflict);
    },
    // A date or a user chosen with a picker is typed into its field for the user.
    pick: function (event) {
      var field = this.field($(event.currentTarget).data('pick'));
      this.beginEdit({currentTarget: field[0]});
      field.text($(event.currentTarget).val());
      this.editField({currentTarget: field[0]});
    },
    // Enter ends a one-line field, Escape closes the details (saving an edit first).
    fieldKey: function (event) {
      var field = $(event.currentTarget).data('field');
      if (event.key === 'Enter' && field !== 'description') {
        event.preventDefault();
        event.currentTarget.blur();
      } else if (event.key === 'Escape') {
        event.currentTarget.blur();
        this.close();
      }
    },
    clearErrors: function () {
      this.$('.error').remove();
    },
    // Errors go before their field's row, or before the first field.
    showErrors: function (errors) {
      _.each(errors, function (fieldErrors, name) {
        var field = this.field(name),
          row;
        if (field.length === 0) {
          field = this.$('[data-field]').first();
        }
        row = field.parent('.with-label');
        _.each(_.flatten([fieldErrors]), function (msg) {
          (row.length ? row : field).before(this.errorTemplate({msg: msg}));
        }, this);
      }, this);
    }
  });


  // The sprint's name, dates and description, edited on its page; Delete (confirmed) goes
  // home once the API agrees (it refuses while the sprint still holds tasks, and says so).
  var SprintEditView = FormView.extend({
    templateName: '#edit-sprint-template',
    className: 'edit-sprint-form',
    events: _.extend({}, FormView.prototype.events, {
      'click button.delete': 'destroy'
    }),
    initialize: function (options) {
      FormView.prototype.initialize.apply(this, arguments);
      this.sprint = options.sprint;
      this.deleting = null;
    },
    getContext: function () {
      return {sprint: this.sprint, limited: LIMITED_COLUMNS};
    },
    submit: function (event) {
      var attributes, form;
      FormView.prototype.submit.apply(this, arguments);
      form = this.serializeForm(this.form);
      attributes = _.pick(form, 'name', 'start', 'end', 'description');
      attributes.archived = Boolean(form.archived);
      attributes.wip_limits = {};
      _.each(LIMITED_COLUMNS, function (column) {
        var limit = form['wip_' + column.status];
        if (limit) {
          attributes.wip_limits[column.status] = parseInt(limit, 10);
        }
      });
      if (!attributes.start) {
        delete attributes.start;  // a sprint from before starts were kept may stay without
      }
      this.sprint.save(attributes, {
        patch: true,
        wait: true,
        success: _.bind(this.done, this),
        error: _.bind(this.modelFailure, this)
      });
    },
    destroy: function () {
      var self = this;
      this.clearErrors();
      if (this.deleting === null) {
        this.deleting = setTimeout(function () {
          self.deleting = null;
          self.$('button.delete').text('Delete sprint');
        }, DELETE_CONFIRM);
        this.$('button.delete').text('Really delete?').trigger('focus');
        return;
      }
      clearTimeout(this.deleting);
      this.deleting = null;
      this.$('button.delete').text('Delete sprint');
      this.sprint.destroy({
        wait: true,
        success: function () {
          window.location.hash = '';
        },
        error: _.bind(this.modelFailure, this)
      });
    },
    remove: function () {
      clearTimeout(this.deleting);
      return FormView.prototype.remove.apply(this, arguments);
    }
  });

  // The "Add Task" form of a column: the task goes to the end of that column.
  var AddTaskView = FormView.extend({
    templateName: '#new-task-template',
    initialize: function (options) {
      FormView.prototype.initialize.apply(this, arguments);
      this.column = options.column;  // {key, title, status, sprint}
    },
    getContext: function () {
      return this.column;
    },
    submit: function (event) {
      var self = this, attributes = {};
      FormView.prototype.submit.apply(this, arguments);
      attributes = _.extend(this.serializeForm(this.form),
        {sprint: this.column.sprint, status: this.column.status});
      app.collections.ready.done(function () {
        app.tasks.create(attributes, {
          wait: true,
          success: function () {
            self.done();
          },
          error: _.bind(self.modelFailure, self)
        });
      });
    }
  });

  var CarryOverView = FormView.extend({
    templateName: '#carry-over-template',
    initialize: function (options) {
      var self = this;
      FormView.prototype.initialize.apply(this, arguments);
      this.sprint = options.sprint;
      this.result = null;
      app.sprints.fetchAll({data: {end_min: app.today()}}).done(function () {
        self.render();
      });
    },
    // The sprints that can still take tasks.
    getContext: function () {
      var today = app.today(), sprint = this.sprint,
        targets = app.sprints.filter(function (other) {
          return other !== sprint && other.get('end') >= today;
        });
      return {
        targets: _.sortBy(targets, function (other) {
          return other.get('end');
        }),
        result: this.result
      };
    },
    submit: function (event) {
      var self = this, to;
      FormView.prototype.submit.apply(this, arguments);
      to = this.serializeForm(this.form).to;
      this.sprint.carryOver(to ? parseInt(to, 10) : null)
        .done(function (data) {
          self.result = 'Carried over ' + data.moved.length + ' unfinished task(s).';
          self.render();
        })
        .fail(_.bind(this.failure, this));
    }
  });

  // ---- cards ----------------------------------------------------------------------------

  // Up to two letters for a username: "ann.lee" -> "AL", "demo" -> "DE".
  function initials(username) {
    var parts = _.compact(String(username || '').split(/[\s._-]+/));
    if (parts.length > 1) {
      return (parts[0][0] + parts[1][0]).toUpperCase();
    }
    return (parts[0] || '').slice(0, 2).toUpperCase();
  }

  // The page's one "Move to..." menu, opened inside the card whose button asked for it: a
  // column is chosen with a click, or with the arrow keys and Enter (nothing moves while the
  // user looks through it); Escape or leaving it closes it.
  var MoveMenuView = TemplateView.extend({
    className: 'move-menu',
    templateName: '#move-menu-template',
    attributes: {role: 'menu', 'aria-label': 'Move to'},
    events: {
      'click button[data-column]': 'pick',
      'keydown': 'key',
      'focusout': 'leave'
    },
    initialize: function () {
      TemplateView.prototype.initialize.apply(this, arguments);
      this.card = null;
      this.render();
    },
    getContext: function () {
      return {columns: COLUMNS};
    },
    open: function (card) {
      this.close();
      this.card = card;
      card.$('.glance').after(this.el);
      this.delegateEvents();
      this.$('button').first().trigger('focus');
    },
    close: function (refocus) {
      var card = this.card;
      this.card = null;
      this.$el.detach();
      if (refocus && card) {
        card.el.focus();
      }
    },
    closeOn: function (card) {
      if (this.card === card) {
        this.close();
      }
    },
    pick: function (event) {
      var card = this.card,
        column = _.findWhere(COLUMNS, {key: $(event.currentTarget).data('column')});
      event.stopPropagation();
      this.close();
      if (card && column) {
        card.moveToColumn(column);
      }
    },
    key: function (event) {
      var items = this.$('button').toArray(),
        index = items.indexOf(document.activeElement),
        step = {ArrowDown: 1, ArrowUp: -1}[event.key];
      event.stopPropagation();  // Enter here is a choice, not the card's "open details"
      if (event.key === 'Escape') {
        this.close(true);
      } else if (step) {
        event.preventDefault();
        items[(index + step + items.length) % items.length].focus();
      }
    },
    // Focus that leaves the menu for anything outside it closes it.
    leave: function (event) {
      if (this.card && !this.el.contains(event.relatedTarget)) {
        this.close();
      }
    }
  });

  // The card views by their elements, for the events their columns receive for them.
  var cardViews = new WeakMap();

  // A column's handlers of its cards' events (TaskItemView's cardEvents): each calls the card
  // view's method of that name. Binding each card's nine handlers on the card itself took a
  // 500-task sprint's page 30 ms (jQuery's on(), 4,500 times).
  function forCards(events) {
    return _.object(_.map(events, function (method, event) {
      var type = event.split(' ')[0], selector = event.slice(type.length);
      return [type + ' .task-item' + selector, function (domEvent) {
        var view = cardViews.get(domEvent.currentTarget.closest('.task-item'));
        if (view) {
          view[method](domEvent);
        }
      }];
    }));
  }

  // A task's card: its name and its "Move to..." menu; it can be dragged, and dropped on.
  var TaskItemView = TemplateView.extend(_.extend({}, dropTarget, {
    tagName: 'div',
    className: 'task-item',
    templateName: '#task-item-template',
    attributes: {
      draggable: 'true',
      tabindex: '0',
      role: 'listitem'
    },
    // Not Backbone's `events`: its column handles these for all its cards (forCards).
    cardEvents: {
      'click': 'details',
      'keydown': 'key',
      'click button.move': 'openMenu',
      'dragstart': 'start',
      'dragenter': 'enter',
      'dragover': 'over',
      'dragleave': 'leave',
      'dragend': 'end',
      'drop': 'drop'
    },
    initialize: function (options) {
      TemplateView.prototype.initialize.apply(this, arguments);
      cardViews.set(this.el, this);
      this.sprint = options.sprint;  // the page's sprint id, for "Move to..."
      this.menu = options.menu;  // the page's one "Move to..." menu
      this.column = null;  // its StatusView
      this.detail = null;
      this.listenTo(this.model, 'change', this.changed);
      this.listenTo(this.model, 'move:saving', this.saving);
      this.listenTo(this.model, 'move:failed', this.showFailure);
    },
    getContext: function () {
      var task = this.model;
      return {
        task: task,
        initials: initials(task.get('assigned')),
        overdue: task.get('due') < app.today() && task.get('status') !== DONE
      };
    },
    render: function () {
      this.menu.closeOn(this);  // its element would go with the card's old content
      TemplateView.prototype.render.apply(this, arguments);
      this.el.style.order = Math.floor(this.model.get('order'));
      this.el.setAttribute('aria-label', this.model.get('name'));
      if (this.detail) {
        this.detail.el.style.order = this.el.style.order;
      }
      return this;
    },
    // Drawn again (keeping the focus on the card); a new order takes it to its place.
    changed: function () {
      var focused = this.el.contains(document.activeElement);
      this.render();
      if (focused) {
        this.el.focus();
      }
      if (this.column && this.model.hasChanged('order')) {
        this.column.place(this);
      }
    },
    // The element the card's place starts with: its open details, or the card itself.
    topElement: function () {
      return this.detail ? this.detail.el : this.el;
    },
    remove: function () {
      if (this.detail) {
        this.detail.remove();
      }
      if (this.column) {
        this.column.forget(this);
      }
      clearTimeout(this.lockTimer);
      return TemplateView.prototype.remove.apply(this, arguments);
    },
    details: function (event) {
      var view;
      if ($(event.target).closest('.move, .move-menu').length || this.detail) {
        return;
      }
      view = new TaskDetailView({task: this.model});
      this.detail = view;
      this.$el.before(view.el);
      this.$el.addClass('hide');
      view.render();
      view.el.style.order = this.el.style.order;
      view.$('[data-field]').first().trigger('focus');
      view.on('done', function () {
        this.detail = null;
        this.$el.removeClass('hide');
        this.$el.trigger('focus');
      }, this);
    },
    key: function (event) {
      if (event.key === 'Enter' && event.target === this.el) {
        this.details(event);
      }
    },
    openMenu: function () {
      this.menu.open(this);
    },
    // To the top of the column on the left (-1) or right (1) of its own.
    moveBeside: function (step) {
      var index = _.findIndex(COLUMNS, {key: this.model.statusClass()}),
        column = COLUMNS[index + step];
      if (column) {
        this.moveToColumn(column);
      }
    },
    // To the top of a column, chosen from the menu; the focus stays on the card.
    moveToColumn: function (column) {
      this.el.focus();
      this.model.moveTo(column.status, column.backlog ? null : this.sprint, 0);
    },
    start: function (event) {
      var transfer = dataTransfer(event);
      transfer.effectAllowed = 'move';
      transfer.setData('application/model', String(this.model.get('id')));
      this.trigger('dragstart', this.model);
    },
    end: function () {
      this.trigger('dragend', this.model);
    },
    // A drop on a card: the dragged task takes this card's place in its column.
    drop: function (event) {
      var transfer = dataTransfer(event),
        task = transfer && app.tasks.get(transfer.getData('application/model')),
        sprint = this.model.get('sprint'),
        status = this.model.get('status'),
        position;
      event.preventDefault();
      event.stopPropagation();
      this.clearOver();
      if (this.column) {
        this.column.clearOver();
      }
      if (task && task !== this.model) {
        position = _.indexOf(app.tasks.column(sprint, status), this.model);
        this.trigger('drop', task);
        task.moveTo(status, sprint, position);
      }
    },
    // Another viewer is dragging this task: the card says who (by: {username, name}).
    lock: function (by) {
      var self = this;
      this.$el.addClass('locked');
      this.$('.holder').remove();
      if (by) {
        this.$el.append($('<span class="holder">').text('Held by ' + initials(by.name))
          .attr('title', 'Held by ' + by.name));
      }
      clearTimeout(this.lockTimer);
      this.lockTimer = setTimeout(function () {
        self.unlock();
      }, LOCK_TIMEOUT);
    },
    unlock: function () {
      clearTimeout(this.lockTimer);
      this.$el.removeClass('locked');
      this.$('.holder').remove();
    },
    saving: function (task, pending) {
      this.$el.toggleClass('saving', pending);
    },
    // The API refused a move: the card stays where it was; say why next to it.
    showFailure: function (task, messages) {
      var error = $('<div class="error move-error" role="alert"></div>').text(messages.join(' '));
      error[0].style.order = this.el.style.order;
      this.$el.after(error);
      setTimeout(function () {
        error.remove();
      }, ERROR_TIMEOUT);
    }
  }));

  // ---- columns --------------------------------------------------------------------------

  // One of the page's five columns: its cards in board order, and drops on it.
  var StatusView = TemplateView.extend(_.extend({}, dropTarget, {
    tagName: 'section',
    className: 'status',
    templateName: '#status-template',
    events: _.extend(forCards(TaskItemView.prototype.cardEvents), {
      'click button.add': 'renderAddForm',
      'dragenter': 'enter',
      'dragover': 'over',
      'dragleave': 'leave',
      'drop': 'drop'
    }),
    initialize: function (options) {
      TemplateView.prototype.initialize.apply(this, arguments);
      this.sprint = options.sprint;  // an id, or null for the backlog
      this.key = options.key;
      this.status = options.status;
      this.title = options.title;
      this.limit = null;  // the sprint's work-in-progress limit for it, if any
      this.cards = [];  // its card views, top to bottom
    },
    getContext: function () {
      return {sprint: this.sprint, title: this.title};
    },
    renderAddForm: function (event) {
      var link = $(event.currentTarget),
        view = app.views.openForm(new AddTaskView({column: {key: this.key, title: this.title,
          status: this.status, sprint: this.sprint}}), event);
      view.on('done', function () {
        link.removeClass('hide');
      });
    },
    // A drop anywhere on the column puts the task at its top.
    drop: function (event) {
      var transfer = dataTransfer(event),
        task = transfer && app.tasks.get(transfer.getData('application/model'));
      event.preventDefault();
      this.clearOver();
      if (task) {
        this.trigger('drop', task);
        task.moveTo(this.status, this.sprint, 0);
      }
    },
    render: function () {
      TemplateView.prototype.render.apply(this, arguments);
      this.list = this.$('.list')[0];
      this.count();
      return this;
    },
    // The number of cards beside the title, with the column's limit if it has one: above it
    // the column is marked and says so.
    count: function () {
      var size = this.cards.length, limit = this.limit,
        over = Boolean(limit) && size > limit;
      this.$('.count').text(limit ? size + ' / ' + limit : size).attr('aria-label',
        size + (size === 1 ? ' task' : ' tasks') + (limit ? ' of at most ' + limit : ''));
      this.$el.toggleClass('over', over);
      this.$('.over-limit').toggleClass('hide', !over);
      this.trigger('counted', this.key, size);
    },
    setLimit: function (limit) {
      this.limit = limit || null;
      this.count();
    },
    // Inserts cards at their places in board order (visual order also follows CSS order); a
    // batch that goes after every card already there (a list being loaded) is appended in
    // one go.
    addCards: function (views) {
      var fragment = document.createDocumentFragment();
      views = views.slice().sort(function (a, b) {
        return app.compareTasks(a.model, b.model);
      });
      _.each(views, function (view) {
        view.column = this;
      }, this);
      if (!views.length || !this.isLast(views[0])) {
        _.each(views, this.place, this);
        return;
      }
      _.each(views, function (view) {
        fragment.appendChild(view.topElement());
        if (view.detail) {
          fragment.appendChild(view.el);
        }
      });
      this.list.appendChild(fragment);
      this.cards = this.cards.concat(views);
      this.count();
    },
    // Moves a card (and its open details) to its place; the field being typed in keeps the
    // focus, which moving an element takes away.
    place: function (view) {
      var focused = document.activeElement, index;
      this.forget(view);
      index = _.findIndex(this.cards, function (other) {
        return app.compareTasks(view.model, other.model) < 0;
      });
      index = index < 0 ? this.cards.length : index;
      this.list.insertBefore(view.el, index < this.cards.length
        ? this.cards[index].topElement() : null);
      this.cards.splice(index, 0, view);
      this.count();
      if (view.detail) {
        this.list.insertBefore(view.detail.el, view.el);
        if (view.detail.el.contains(focused)) {
          focused.focus();
        }
      }
    },
    forget: function (view) {
      this.cards = _.without(this.cards, view);
      this.count();
    },
    // Whether the card goes after every other card (the usual case while loading a list).
    isLast: function (view) {
      var last = _.last(_.without(this.cards, view));
      return !last || app.compareTasks(view.model, last.model) >= 0;
    }
  }));

  // ---- undo ------------------------------------------------------------------------------

  // The notice after a move or a delete made on this page: "Undo" puts it back through the
  // API (so every board sees it), for UNDO_TIMEOUT; a newer action replaces it.
  var UndoView = TemplateView.extend({
    templateName: '#undo-template',
    events: {
      'click button.undo': 'undo',
      'click button.dismiss': 'clear'
    },
    initialize: function () {
      TemplateView.prototype.initialize.apply(this, arguments);
      this.what = null;
      this.action = null;
      this.timer = null;
    },
    getContext: function () {
      return {what: this.what};
    },
    offer: function (what, action) {
      this.clear();
      this.what = what;
      this.action = action;
      this.render();
      this.timer = setTimeout(_.bind(this.clear, this), UNDO_TIMEOUT);
    },
    undo: function () {
      var action = this.action;
      this.clear();
      if (action) {
        action();
      }
    },
    clear: function () {
      clearTimeout(this.timer);
      this.action = null;
      this.$el.empty();
    },
    remove: function () {
      this.clear();
      return TemplateView.prototype.remove.apply(this, arguments);
    }
  });

  function columnTitle(status, sprint) {
    return _.find(COLUMNS, function (column) {
      return sprint === null ? column.backlog : !column.backlog && column.status === status;
    }).title;
  }

  // ---- the filter ------------------------------------------------------------------------

  // The filter a URL's query keeps: {mine: bool, assigned: username or '', q: text}.
  function parseFilter(query) {
    var params = new URLSearchParams(query || '');
    return {
      mine: params.get('mine') === '1',
      assigned: params.get('assigned') || '',
      q: params.get('q') || ''
    };
  }

  function filterQuery(filter) {
    var params = new URLSearchParams();
    if (filter.mine) {
      params.set('mine', '1');
    }
    _.each(['assigned', 'q'], function (name) {
      if (filter[name]) {
        params.set(name, filter[name]);
      }
    });
    return params.toString();
  }

  // Whether a task passes the filter (the words in its name or description, any case).
  function passes(task, filter, me) {
    var words = filter.q.toLowerCase().trim(),
      text = (task.get('name') + ' ' + (task.get('description') || '')).toLowerCase();
    return (!filter.mine || task.get('assigned') === me) &&
      (!filter.assigned || task.get('assigned') === filter.assigned) &&
      (!words || text.indexOf(words) >= 0);
  }

  // ---- the page -------------------------------------------------------------------------

  var SprintView = TemplateView.extend({
    templateName: '#sprint-template',
    events: {
      'click button.edit-sprint': 'editSprint',
      'input .filter': 'filterChanged',
      'change .filter': 'filterChanged',
      'submit .filter': 'keepFilter',
      'click .column-tabs button': 'tabClicked',
      'keydown .column-tabs': 'tabKey'
    },
    initialize: function (options) {
      var self = this;
      TemplateView.prototype.initialize.apply(this, arguments);
      this.sprintId = options.sprintId;  // the route's string
      this.sprintNumber = /^\d+$/.test(this.sprintId) ? parseInt(this.sprintId, 10) : null;
      this.sprint = null;
      this.filter = parseFilter(options.query);
      this.cards = {};  // task id -> its TaskItemView
      this.columns = {};  // column key -> StatusView
      this.shownColumn = 'todo';  // the one column a phone shows (the tabs choose it)
      this.viewers = null;  // who is viewing the sprint, as the watercooler last said
      this.menu = new MoveMenuView();
      this.undo = new UndoView();
      this.socket = null;
      this.live = null;
      this.connection = 'connecting';
      this.carryOver = null;
      this.removed = false;
      this.refreshBurndown = _.debounce(this.refreshBurndown, 300);
      this.shortcut = _.bind(this.shortcut, this);
      document.addEventListener('keydown', this.shortcut);
      app.collections.ready.done(function () {
        self.load();
      });
    },
    load: function () {
      var self = this;
      if (this.removed) {
        return;
      }
      if (this.sprintNumber === null) {
        this.notFound(new app.models.Sprint());
        return;
      }
      this.listenTo(app.tasks, 'update', this.tasksAdded);
      this.listenTo(app.tasks, 'change:status change:sprint', this.changedColumn);
      this.listenTo(app.tasks, 'remove', this.removeCard);
      this.listenTo(app.tasks, 'add remove change', this.tasksChanged);
      this.listenTo(app.tasks, 'move:saved', this.moveSaved);
      this.listenTo(app.tasks, 'deleted', this.offerUndelete);
      this.listenTo(app.tasks, 'change', function (task) {
        this.filterCard(this.cards[task.id]);
      });
      this.live = new app.Live(this.sprintNumber);
      this.live.load();  // with the sprint, not once it is in
      this.makeColumns();
      app.sprints.getOrFetch(this.sprintNumber).done(function (sprint) {
        if (!self.removed) {
          self.sprint = sprint;
          self.listenTo(sprint,
            'change:name change:end change:start change:description change:wip_limits',
            self.showSprint);
          self.connectSocket();
          self.render();
        }
      }).fail(function (sprint) {
        self.live.stop();
        self.notFound(sprint);
      });
    },
    // The sprint's own fields, edited here (or announced): the heading shows them.
    showSprint: function () {
      if (this.sprint && !this.sprint.invalid) {
        this.$('.sprint-heading h2').text(this.sprint.get('name'));
        this.$('.sprint-heading .due-date').text('Due ' + this.sprint.get('end'));
        this.$('p.description').text(this.sprint.get('description'));
        document.title = this.sprint.get('name') + ' - ' + TITLE;
        this.showLimits();
        this.refreshBurndown();
      }
    },
    showLimits: function () {
      var limits = this.sprint.get('wip_limits') || {};
      _.each(this.columns, function (view) {
        view.setLimit(view.sprint === null ? null : limits[view.status]);
      });
    },
    editSprint: function (event) {
      var view = app.views.openForm(new SprintEditView({sprint: this.sprint}), event),
        button = $(event.currentTarget);
      view.on('done', function () {
        button.removeClass('hide').trigger('focus');
      });
    },
    makeColumns: function () {
      _.each(COLUMNS, function (column) {
        var view = new StatusView({
          sprint: column.backlog ? null : this.sprintNumber,
          key: column.key,
          status: column.status,
          title: column.title,
          className: 'status ' + column.key,
          id: 'column-' + column.key,
          attributes: {'aria-label': column.title}
        });
        this.columns[column.key] = view;
        view.on('drop', this.sender('drop'), this);
        view.on('counted', this.showCount, this);
      }, this);
    },
    notFound: function (sprint) {
      if (!this.removed) {
        this.sprint = sprint;
        this.sprint.invalid = true;
        this.render();
      }
    },
    getContext: function () {
      return {sprint: this.sprint, sprintId: this.sprintId, filter: this.filter, columns: COLUMNS};
    },
    render: function () {
      TemplateView.prototype.render.apply(this, arguments);
      if (!this.sprint || this.sprint.invalid) {
        return this;
      }
      _.each(this.columns, function (view) {
        this.$('.tasks').append(view.el);
        view.delegateEvents();
        view.cards = [];
        view.render();
      }, this);
      this.showLimits();
      this.showColumn(this.shownColumn);
      if (this.viewers) {
        this.showPresence(this.viewers);
      }
      _.invoke(this.cards, 'remove');
      this.cards = {};
      this.addCards(app.tasks.models);
      document.title = this.sprint.get('name') + ' - ' + TITLE;
      this.showConnection(this.connection);
      this.undo.setElement(this.$('.undo-notice'));
      this.fillAssignees();
      this.renderCarryOver();
      this.refreshBurndown();
      return this;
    },
    remove: function () {
      this.removed = true;
      document.title = TITLE;
      document.removeEventListener('keydown', this.shortcut);
      if (this.socket) {
        this.socket.close();
      }
      if (this.live) {
        this.live.stop();
      }
      _.invoke(this.cards, 'remove');
      _.invoke(this.columns, 'remove');
      this.menu.remove();
      this.undo.remove();
      if (this.carryOver) {
        this.carryOver.remove();
      }
      return TemplateView.prototype.remove.apply(this, arguments);
    },

    // Cards follow the collection: tasks added (a list, a live add) get cards in one batch
    // per column, a task that changes column gets a card there, one that leaves loses it.
    tasksAdded: function (tasks, options) {
      this.addCards(options.changes.added);
    },
    addCards: function (tasks) {
      var columns = _.groupBy(_.compact(_.map(tasks, this.makeCard, this)), function (view) {
        return view.model.statusClass();
      });
      _.each(columns, function (views, key) {
        this.columns[key].addCards(views);
      }, this);
    },
    // A rendered card for a task this page shows and has no card for yet, else null.
    makeCard: function (task) {
      var view;
      if (!this.sprint || this.sprint.invalid || this.cards[task.id] ||
          !(task.inBacklog() || task.inSprint(this.sprint))) {
        return null;
      }
      view = new TaskItemView({model: task, sprint: this.sprintNumber, menu: this.menu}).render();
      this.cards[task.id] = view;
      this.filterCard(view);
      view.on('dragstart', this.sender('dragstart'), this);
      view.on('dragend', this.sender('dragend'), this);
      view.on('drop', this.sender('drop'), this);
      return view;
    },
    // A card that had the focus keeps it in its new column (which a phone then shows).
    changedColumn: function (task) {
      var old = this.cards[task.id],
        focused = old && old.el.contains(document.activeElement);
      this.removeCard(task);
      this.addCards([task]);
      if (focused && this.cards[task.id]) {
        this.showColumn(this.cards[task.id].column.key);
        this.cards[task.id].el.focus();
      }
    },

    // ---- the column tabs: on a narrow screen one column at a time (CSS hides the others) --
    showColumn: function (key) {
      this.shownColumn = key;
      _.each(this.columns, function (view, each) {
        view.$el.toggleClass('shown', each === key);
      });
      this.$('.column-tabs button').each(function () {
        var selected = $(this).data('column') === key;
        $(this).attr({'aria-selected': String(selected), tabindex: selected ? 0 : -1});
      });
    },
    tabClicked: function (event) {
      this.showColumn($(event.currentTarget).data('column'));
    },
    // Left and right arrows go from tab to tab, as in every tab list.
    tabKey: function (event) {
      var step = {ArrowLeft: -1, ArrowRight: 1}[event.key],
        index = _.findIndex(COLUMNS, {key: this.shownColumn});
      if (step) {
        event.preventDefault();
        this.showColumn(COLUMNS[(index + step + COLUMNS.length) % COLUMNS.length].key);
        this.$('.column-tabs [aria-selected=true]').trigger('focus');
      }
    },
    showCount: function (key, size) {
      this.$('.column-tabs [data-column=' + key + '] .count').text(size);
    },
    removeCard: function (task) {
      if (this.cards[task.id]) {
        this.cards[task.id].remove();
        delete this.cards[task.id];
      }
    },
    tasksChanged: function (task) {
      var number = this.sprintNumber;
      if (task.get('sprint') === number || task.previous('sprint') === number) {
        this.refreshBurndown();
      }
    },
    // The API stored a move made here: applied as its announcement would be, and offered
    // for undoing.
    moveSaved: function (task, data, from) {
      this.live.receive({model: 'task', action: 'update', id: data.task.id,
        body: _.extend({}, data.task, {change: data.change})});
      if (from.status !== data.task.status || from.sprint !== data.task.sprint ||
          from.order !== data.task.order) {
        this.undo.offer('Moved "' + task.get('name') + '" to ' +
          columnTitle(data.task.status, data.task.sprint) + '.', function () {
          task.moveTo(from.status, from.sprint, from.order);
        });
      }
    },
    // A task deleted here can be made again, with its fields, where it was (its order is
    // its position in the column).
    offerUndelete: function (task) {
      var fields = _.pick(task.attributes, 'name', 'description', 'sprint', 'status', 'order',
        'assigned', 'due');
      this.undo.offer('Deleted "' + task.get('name') + '".', function () {
        app.tasks.create(fields, {wait: true});
      });
    },

    // The filter: cards that do not pass it are hidden, and the URL keeps it (a bookmark or a
    // shared link opens the same view); nothing is asked of the API as the user types.
    filterChanged: function () {
      var form = this.$('.filter');
      this.filter = {
        mine: form.find('[name=mine]').prop('checked'),
        assigned: form.find('[name=assigned]').val() || '',
        q: form.find('[name=q]').val() || ''
      };
      _.each(this.cards, this.filterCard, this);
      Backbone.history.navigate('sprint/' + this.sprintId +
        (filterQuery(this.filter) ? '?' + filterQuery(this.filter) : ''), {replace: true});
    },
    keepFilter: function (event) {
      event.preventDefault();  // Enter in the search box
    },
    filterCard: function (view) {
      if (view) {
        view.el.hidden = !passes(view.model, this.filter, app.session.get('username'));
      }
    },
    // The assignee menu: every user, once the list is in.
    fillAssignees: function () {
      var self = this;
      app.users.fetchAll().done(function () {
        var select = self.$('.filter [name=assigned]');
        _.each(app.users.pluck('username').sort(), function (username) {
          if (!select.find('option').filter(function () {
            return this.value === username;
          }).length) {
            select.append($('<option>').val(username).text(username));
          }
        });
        select.val(self.filter.assigned);
      });
    },

    // Keyboard shortcuts (listed by "?"), ignored while the user types in a field.
    shortcut: function (event) {
      var target = event.target,
        card = _.find(this.cards, function (view) {
          return view.el === target;
        }),
        action = {
          n: _.bind(function () {
            this.$('.status.unassigned button.add').trigger('click');
          }, this),
          '/': _.bind(function () {
            this.$('.filter [name=q]').trigger('focus');
          }, this),
          '?': _.bind(function () {
            this.$('.shortcuts').toggleClass('hide');
          }, this),
          '[': card && _.bind(card.moveBeside, card, -1),
          ']': card && _.bind(card.moveBeside, card, 1)
        }[event.key];
      if (!action || !this.sprint || event.ctrlKey || event.metaKey || event.altKey ||
          $(target).is('input, textarea, select, [contenteditable=true]')) {
        return;
      }
      event.preventDefault();
      action();
    },

    // The socket: drags of the others, announced changes (through live.js), reconnection.
    connectSocket: function () {
      var links = this.sprint.get('links');
      if (this.socket || !links || !links.channel) {
        return;
      }
      this.socket = new app.Socket(links.channel);
      this.listenTo(this.socket, 'status', this.showConnection);
      this.listenTo(this.socket, 'task:dragstart', function (id, message) {
        this.withCard(id, 'lock', message.by);
      });
      this.listenTo(this.socket, 'presence', this.showPresence);
      this.listenTo(this.socket, 'task:dragend task:drop', function (id) {
        this.withCard(id, 'unlock');
      });
      this.listenTo(this.socket, 'task:add task:update task:remove', function (id, message) {
        this.live.receive(message);
      });
      this.listenTo(this.socket, 'open', function () {
        this.live.check();  // what was announced while the socket was away
      });
      this.listenTo(this.socket, 'resync', function () {
        this.live.load();
      });
      this.listenTo(this.socket, 'expired', this.renewChannel);
      this.listenTo(this.socket, 'sprint:update sprint:remove', this.sprintAnnounced);
    },
    // Someone edited or deleted this sprint: the heading follows; a deleted one is gone.
    sprintAnnounced: function (id, message) {
      if (id !== this.sprintNumber) {
        return;
      }
      if (message.action === 'remove') {
        this.live.stop();
        this.notFound(this.sprint);
      } else if (message.body) {
        this.sprint.set(_.omit(message.body, 'links'));
      }
    },
    withCard: function (id, method, argument) {
      if (this.cards[id]) {
        this.cards[id][method](argument);
      }
    },
    // Who is viewing the sprint now (the watercooler says, as people come and go): initials,
    // the full name on hover, this user first.
    showPresence: function (viewers) {
      var me = app.session.get('username');
      this.viewers = viewers;  // shown again if the page is rendered again
      viewers = _.sortBy(_.map(viewers, function (viewer) {
        return _.extend({you: viewer.username === me, initials: initials(viewer.name)}, viewer);
      }), function (viewer) {
        return viewer.you ? 0 : 1;
      });
      this.$('.presence').html(app.views.compiled('#presence-template')({viewers: viewers}));
    },
    // A function that tells the other viewers about a drag of a task.
    sender: function (action) {
      return function (task) {
        if (this.socket) {
          this.socket.send({model: 'task', id: task.get('id'), action: action});
        }
      };
    },
    // The channel token expired: the sprint's links carry a fresh one.
    renewChannel: function () {
      var self = this;
      this.sprint.fetch().done(function () {
        if (!self.removed) {
          self.socket.reconnect(self.sprint.get('links').channel);
        }
      }).fail(function (xhr) {
        if (!self.removed && xhr.status !== 401) {
          self.socket.renew();  // try again later
        }
      });
    },
    showConnection: function (state) {
      this.connection = state;
      this.$('#live-status').attr('data-state', state).text(CONNECTION_LABELS[state]);
    },

    // The footer: carry-over for a sprint that has ended, and the burndown chart.
    renderCarryOver: function () {
      if (this.carryOver) {
        this.carryOver.remove();
        this.carryOver = null;
      }
      if (this.sprint.finished()) {
        this.carryOver = new CarryOverView({sprint: this.sprint});
        this.$('.carry-over').append(this.carryOver.el);
        this.carryOver.render();
      }
    },
    refreshBurndown: function () {
      var self = this;
      if (this.removed || !this.sprint || this.sprint.invalid) {
        return;
      }
      this.sprint.burndown().done(function (data) {
        if (!self.removed) {
          self.$('.burndown .chart').empty().append(app.burndownChart(data, app.today()));
        }
      });
    }
  });

  app.views.SprintView = SprintView;
})(jQuery, Backbone, _, app);
