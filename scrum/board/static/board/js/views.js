// The board's views (book ch. 5-7): login, header, home page with its sprints, and the
// sprint page with its five columns, task cards, details, drag and drop, the live socket,
// the burndown chart and the carry-over of a finished sprint.
(function ($, Backbone, _, app) {
  'use strict';

  var EMPTY = '-----',  // what an empty due date or assignee shows
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
    },
    templates = {},  // compiled once per name: a big sprint renders hundreds of cards
    cardViews = new WeakMap(),  // card element -> its TaskItemView
    cardMarkup = null,  // task-item-template without a name, parsed once
    moveOptions = null,  // the "Move to..." menu's column options, parsed once
    unfilledMenus = [];  // "Move to..." menus still without them

  function compiled(name) {
    if (!templates[name]) {
      templates[name] = _.template($(name).html());
    }
    return templates[name];
  }

  function dataTransfer(event) {
    return event.originalEvent && event.originalEvent.dataTransfer;
  }

  // An "Add ..." form in place of the button that asked for it (hidden until it is done).
  function openForm(view, event) {
    var button = $(event.currentTarget);
    event.preventDefault();
    button.before(view.el).addClass('hide');
    view.render();
    view.$('input').first().trigger('focus');
    return view;
  }

  // Drop-target highlighting shared by columns and cards. dragenter/dragleave fire for
  // children too, so they are counted; dragover must preventDefault or there is no drop.
  var dropTarget = {
    enter: function (event) {
      event.preventDefault();
      this.entered = (this.entered || 0) + 1;
      this.$el.addClass('over');
    },
    over: function (event) {
      var transfer = dataTransfer(event);
      if (transfer) {
        transfer.dropEffect = 'move';
      }
      event.preventDefault();
    },
    leave: function () {
      this.entered = Math.max(0, (this.entered || 0) - 1);
      if (this.entered === 0) {
        this.$el.removeClass('over');
      }
    },
    clearOver: function () {
      this.entered = 0;
      this.$el.removeClass('over');
    }
  };

  var TemplateView = Backbone.View.extend({
    templateName: '',
    initialize: function () {
      this.template = compiled(this.templateName);
    },
    render: function () {
      var context = this.getContext(),
        html = this.template(context);
      this.$el.html(html);
    },
    getContext: function () {
      return {};
    }
  });

  var FormView = TemplateView.extend({
    events: {
      'submit form': 'submit',
      'click button.cancel': 'done'
    },
    errorTemplate: _.template('<span class="error"><%- msg %></span>'),
    clearErrors: function () {
      this.$('.error').remove();
    },
    // Each message goes just before the label of its field, or before the first label.
    showErrors: function (errors) {
      _.each(errors, function (fieldErrors, name) {
        var field = $('input, select, textarea', this.form).filter(function () {
            return this.name === name;
          }),
          label = $('label', this.form).filter(function () {
            return field.length && this.htmlFor === field.attr('id');
          });
        if (label.length === 0) {
          label = $('label', this.form).first();
        }
        _.each(_.flatten([fieldErrors]), function (msg) {
          label.before(this.errorTemplate({msg: msg}));
        }, this);
      }, this);
    },
    serializeForm: function (form) {
      return _.object(_.map(form.serializeArray(), function (item) {
        return [item.name, item.value];
      }));
    },
    submit: function (event) {
      event.preventDefault();
      this.form = $(event.currentTarget);
      this.clearErrors();
    },
    failure: function (xhr) {
      var errors = xhr.responseJSON;
      if (!_.isObject(errors)) {
        errors = {non_field_errors: app.errorMessages(xhr)};
      }
      this.showErrors(errors);
    },
    modelFailure: function (model, xhr, options) {
      this.failure(xhr);
    },
    done: function (event) {
      if (event && event.preventDefault) {
        event.preventDefault();
      }
      this.trigger('done');
      this.remove();
    }
  });

  // Login (ch. 5) ---------------------------------------------------------------------

  var LoginView = FormView.extend({
    id: 'login',
    templateName: '#login-template',
    initialize: function (options) {
      FormView.prototype.initialize.apply(this, arguments);
      this.message = (options && options.message) || null;
    },
    getContext: function () {
      return {message: this.message};
    },
    submit: function (event) {
      var data = {};
      FormView.prototype.submit.apply(this, arguments);
      data = this.serializeForm(this.form);
      $.post(app.apiLogin, data)
        .done(_.bind(function (response) {
          app.session.save(response.token, data.username);
          this.done();
        }, this))
        .fail(_.bind(this.failure, this));
    },
    render: function () {
      FormView.prototype.render.apply(this, arguments);
      this.$('input').first().trigger('focus');
    }
  });

  var HeaderView = TemplateView.extend({
    tagName: 'header',
    templateName: '#header-template',
    events: {
      'click a.logout': 'logout'
    },
    getContext: function () {
      return {
        authenticated: app.session.authenticated(),
        username: app.session.get('username') || ''
      };
    },
    logout: function (event) {
      event.preventDefault();
      app.session.delete();
      window.location = '/';
    }
  });

  // Home page (ch. 6) -----------------------------------------------------------------

  var HomepageView = TemplateView.extend({
    templateName: '#home-template',
    events: {
      'click button.add': 'renderAddForm'
    },
    initialize: function (options) {
      var self = this;
      TemplateView.prototype.initialize.apply(this, arguments);
      this.loaded = false;
      this.error = null;
      this.addForm = null;
      app.collections.ready.then(function () {
        return app.sprints.fetchAll({data: {end_min: app.today(-7)}});
      }).done(function () {
        self.loaded = true;
        self.render();
      }).fail(function (xhr) {
        if (xhr.status !== 401) {  // a 401 ends the session (router)
          self.error = 'The sprints could not be loaded. ' + app.errorMessages(xhr).join(' ');
          self.render();
        }
      });
    },
    // Sprints that ended a week ago or later, by end date (as the API orders them).
    getContext: function () {
      var endMin = app.today(-7), sprints = null;
      if (this.loaded) {
        sprints = _.sortBy(app.sprints.filter(function (sprint) {
          return sprint.get('end') >= endMin;
        }), function (sprint) {
          return sprint.get('end');
        });
      }
      return {sprints: sprints, error: this.error};
    },
    // Re-rendering keeps an open "Add Sprint" form.
    render: function () {
      var form = this.addForm;
      if (form) {
        form.$el.detach();
      }
      TemplateView.prototype.render.apply(this, arguments);
      if (form) {
        this.$('button.add').before(form.el).addClass('hide');
      }
    },
    renderAddForm: function (event) {
      var view = openForm(new NewSprintView(), event);
      this.addForm = view;
      view.on('done', function () {
        this.addForm = null;
        this.$('button.add').removeClass('hide');
      }, this);
    }
  });

  var NewSprintView = FormView.extend({
    templateName: '#new-sprint-template',
    className: 'new-sprint',
    submit: function (event) {
      var self = this, attributes = {};
      FormView.prototype.submit.apply(this, arguments);
      attributes = this.serializeForm(this.form);
      app.collections.ready.done(function () {
        app.sprints.create(attributes, {
          wait: true,
          success: _.bind(self.success, self),
          error: _.bind(self.modelFailure, self)
        });
      });
    },
    success: function (model) {
      this.done();
      window.location.hash = '#sprint/' + model.get('id');
    }
  });

  // Sprint page (ch. 6-7) -------------------------------------------------------------

  // A "Move to..." menu gets its column options when it is first used, or when the page is
  // idle: a sprint of hundreds of cards shows first, and the options are not seen until a
  // menu opens (parsing them on every card was a third of the cards' cost).
  function fillMenu(select) {
    if (!moveOptions) {
      moveOptions = document.createElement('template');
      moveOptions.innerHTML = compiled('#move-options-template')({columns: COLUMNS});
    }
    if (select.options.length < 2) {
      select.appendChild(moveOptions.content.cloneNode(true));
    }
  }

  // A card's content: task-item-template's markup parsed once (with an empty name) and
  // cloned, the name set as text; parsing the template's HTML on each of hundreds of cards
  // was most of their cost.
  function cardContent(name) {
    var content;
    if (!cardMarkup) {
      cardMarkup = document.createElement('template');
      cardMarkup.innerHTML = compiled('#task-item-template')({task: new Backbone.Model()});
    }
    content = cardMarkup.content.cloneNode(true);
    content.querySelector('.name').textContent = name;
    return content;
  }

  function fillMenuWhenIdle(select) {
    if (!unfilledMenus.length) {
      requestIdleCallback(fillMenus, {timeout: 500});
    }
    unfilledMenus.push(select);
  }

  function fillMenus(deadline) {
    while (unfilledMenus.length && (deadline.didTimeout || deadline.timeRemaining() > 1)) {
      fillMenu(unfilledMenus.shift());
    }
    if (unfilledMenus.length) {
      requestIdleCallback(fillMenus, {timeout: 500});
    }
  }

  // The cards' events ("click", "change select.move", ...), delegated by their column to the
  // card's view: one listener per event for the whole column instead of ten on every card.
  function cardEvents(events) {
    return _.object(_.map(events, function (method, spec) {
      var parts = spec.split(' ');
      return [[parts[0], '.task-item'].concat(parts.slice(1)).join(' '), function (event) {
        var view = cardViews.get(event.currentTarget.closest('.task-item'));
        if (view) {
          view[method](event);
        }
      }];
    }));
  }

  var StatusView = TemplateView.extend(_.extend({}, dropTarget, {
    tagName: 'section',
    className: 'status',
    templateName: '#status-template',
    events: function () {
      return _.extend({
        'click button.add': 'renderAddForm',
        'dragenter': 'enter',
        'dragover': 'over',
        'dragleave': 'leave',
        'drop': 'drop'
      }, cardEvents(TaskItemView.prototype.cardEvents));
    },
    initialize: function (options) {
      TemplateView.prototype.initialize.apply(this, arguments);
      this.sprint = options.sprint;  // an id, or null for the backlog
      this.status = options.status;
      this.title = options.title;
    },
    getContext: function () {
      return {sprint: this.sprint, title: this.title};
    },
    renderAddForm: function (event) {
      var link = $(event.currentTarget),
        view = openForm(new AddTaskView(), event);
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
    },
    // Inserts cards at their places in board order (visual order also follows CSS order);
    // a batch that goes after every card already there (a list being loaded) is appended
    // in one go.
    addTasks: function (views) {
      var fragment;
      views = views.slice().sort(function (a, b) {
        return app.compareTasks(a.model, b.model);
      });
      _.each(views, function (view) {
        view.column = this;
      }, this);
      if (!this.list || !views.length) {
        return;
      }
      if (!this.isLast(views[0])) {
        _.each(views, this.place, this);
        return;
      }
      fragment = document.createDocumentFragment();
      _.each(views, function (view) {
        fragment.appendChild(view.topElement());
        if (view.detail) {
          fragment.appendChild(view.el);
        }
      });
      this.list.appendChild(fragment);
    },
    // Moves a card (and its open details) to its place; the field being typed in keeps the
    // focus, which moving an element takes away.
    place: function (view) {
      var next = null, focused = document.activeElement;
      if (!this.list) {
        return;
      }
      if (!this.isLast(view)) {
        next = _.find(this.list.children, function (element) {
          var other = cardViews.get(element);
          return other && other !== view && app.compareTasks(view.model, other.model) < 0;
        });
      }
      if (next) {
        this.list.insertBefore(view.el, cardViews.get(next).topElement());
      } else {
        this.list.appendChild(view.el);
      }
      if (view.detail) {
        this.list.insertBefore(view.detail.el, view.el);
        if (view.detail.el.contains(focused)) {
          focused.focus();
        }
      }
    },
    // Whether the card goes after every other card (the usual case while loading a list).
    isLast: function (view) {
      var element = this.list.lastElementChild, other;
      for (; element; element = element.previousElementSibling) {
        other = cardViews.get(element);
        if (other && other !== view) {
          return app.compareTasks(view.model, other.model) >= 0;
        }
      }
      return true;
    }
  }));

  var TaskItemView = TemplateView.extend(_.extend({}, dropTarget, {
    tagName: 'div',
    className: 'task-item',
    templateName: '#task-item-template',
    cardEvents: {  // delegated by the column (cardEvents above)
      'click': 'details',
      'keydown': 'key',
      'change select.move': 'menuMove',
      'focusin select.move': 'openMenu',  // before a keyboard user picks
      'pointerdown select.move': 'openMenu',  // before the menu pops up (mouse, touch, pen)
      'dragstart': 'start',
      'dragenter': 'enter',
      'dragover': 'over',
      'dragleave': 'leave',
      'dragend': 'end',
      'drop': 'drop'
    },
    attributes: {
      draggable: 'true',
      tabindex: '0',
      role: 'listitem'
    },
    _setAttributes: function (attributes) {  // Backbone's, without jQuery
      _.each(attributes, function (value, name) {
        this.el.setAttribute(name, value);
      }, this);
    },
    // The page's SprintView passes on its task's change, remove, move:failed and
    // move:saving (one listener on the collection instead of four on every card).
    initialize: function (options) {
      this.sprint = options.sprint;  // the page's sprint id, for "Move to..."
      this.detail = null;
      this.column = null;
      cardViews.set(this.el, this);
    },
    // Written without jQuery: a big sprint renders hundreds of cards, and a card holds no
    // jQuery data or handlers (its column delegates its events).
    render: function () {
      this.el.replaceChildren(cardContent(this.model.get('name')));
      fillMenuWhenIdle(this.el.querySelector('select.move'));
      this.el.style.order = Math.floor(this.model.get('order'));
      this.el.setAttribute('aria-label', this.model.get('name'));
      if (this.detail) {
        this.detail.el.style.order = this.el.style.order;
      }
      if (this.column && this.el.parentNode && this.model.hasChanged('order')) {
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
      clearTimeout(this.lockTimer);
      return TemplateView.prototype.remove.apply(this, arguments);
    },
    details: function (event) {
      var view;
      if ($(event.target).closest('select').length || this.detail) {
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
    openMenu: function (event) {
      fillMenu(event.currentTarget);
    },
    menuMove: function (event) {
      var key = $(event.currentTarget).val(),
        column = _.findWhere(COLUMNS, {key: key});
      if (column) {
        this.model.moveTo(column.status, column.backlog ? null : this.sprint, 0);
      }
    },
    start: function (event) {
      var transfer = dataTransfer(event);
      transfer.effectAllowed = 'move';
      transfer.setData('application/model', String(this.model.get('id')));
      this.trigger('dragstart', this.model);
    },
    end: function (event) {
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
    // Another viewer is dragging this task.
    lock: function () {
      var self = this;
      this.$el.addClass('locked');
      clearTimeout(this.lockTimer);
      this.lockTimer = setTimeout(function () {
        self.unlock();
      }, LOCK_TIMEOUT);
    },
    unlock: function () {
      clearTimeout(this.lockTimer);
      this.$el.removeClass('locked');
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

  // A task's field as its details show it (task-detail-template).
  function shown(field, value) {
    return value ? String(value) : (field === 'due' || field === 'assigned' ? EMPTY : '');
  }

  // A task's details, editable in place. Saves send If-Match with the version the panel
  // read: when someone else saved the task meanwhile (412), a save that touches none of the
  // fields they changed is made again on their version without a word; otherwise their
  // values are shown beside the unsaved ones and the user keeps one or the other. The panel
  // follows live changes to the fields the user is not editing.
  var TaskDetailView = FormView.extend({
    tagName: 'div',
    className: 'task-detail',
    templateName: '#task-detail-template',
    conflictTemplate: '#conflict-template',
    attributes: {role: 'listitem'},
    events: _.extend({
      'focus [data-field][contenteditable=true]': 'beginEdit',
      'blur [data-field][contenteditable=true]': 'editField',
      'keydown [data-field][contenteditable=true]': 'fieldKey',
      'click button.delete': 'destroy',
      'click button.keep-mine': 'keepMine',
      'click button.take-theirs': 'takeTheirs'
    }, FormView.prototype.events),
    initialize: function (options) {
      FormView.prototype.initialize.apply(this, arguments);
      this.task = options.task;
      this.changes = {};  // field -> the user's unsaved value
      this.base = {};  // field -> its value when the user began editing it
      this.etag = null;  // the version of the task the next save expects
      this.conflict = null;  // {theirs: the server's task, etag, fields: [names]}
      this.listenTo(this.task, 'change', this.render);
      this.listenTo(this.task, 'remove', this.done);
      this.readVersion();
    },
    readVersion: function () {
      var self = this;
      return $.ajax({url: this.task.url(), dataType: 'json'}).done(function (data, s, xhr) {
        self.etag = xhr.getResponseHeader('ETag');
      });
    },
    getContext: function () {
      return {task: this.task, empty: EMPTY};
    },
    // Re-rendered when the task changes (here or elsewhere); unsaved edits stay, and so does
    // what is being typed in a field.
    render: function () {
      var typing = this.el.querySelector('[data-field]:focus'),
        typed = typing && {name: $(typing).data('field'), text: typing.innerText};
      if (typed && shown(typed.name, this.base[typed.name]) === typed.text.trim()) {
        typed.text = shown(typed.name, this.task.get(typed.name));  // nothing typed: follow
      }
      FormView.prototype.render.apply(this, arguments);
      _.each(this.changes, function (value, field) {
        this.field(field).text(value === null ? EMPTY : value);
      }, this);
      if (typed) {
        this.field(typed.name).text(typed.text)[0].focus();
      }
      if (this.conflict) {
        this.$('form').before(compiled(this.conflictTemplate)({
          fields: _.map(this.conflict.fields, function (field) {
            return {name: field, theirs: this.conflict.theirs[field], mine: this.changes[field]};
          }, this),
          empty: EMPTY
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
    save: function () {
      var self = this, headers = this.etag ? {'If-Match': this.etag} : {};
      this.task.save(this.changes, {
        wait: true,
        patch: true,  // only what was edited: a concurrent move is not overwritten
        headers: headers,
        success: function (model, response, options) {
          self.etag = options.xhr.getResponseHeader('ETag');
          self.changes = {};
          self.base = {};
          self.render();
        },
        error: function (model, xhr) {
          if (xhr.status === 412) {
            self.compare();
          } else {
            self.modelFailure(model, xhr);
          }
        }
      });
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
    },
    // Deletes the task once the API agrees: its card and these details leave the page
    // (the task's 'remove'), and every other board hears it from the watercooler.
    destroy: function (event) {
      event.preventDefault();
      this.clearErrors();
      this.task.destroy({wait: true, error: _.bind(this.modelFailure, this)});
    },
    // The value a field had when the user began to edit it: what a save would overwrite.
    beginEdit: function (event) {
      var field = $(event.currentTarget).data('field'), stored = this.task.get(field);
      if (!_.has(this.base, field)) {
        this.base[field] = stored === undefined ? null : stored;
      }
    },
    // The trimmed text of an edited field; an empty due date or assignee is null.
    editField: function (event) {
      var $this = $(event.currentTarget),
        field = $this.data('field'),
        value = $this[0].innerText.trim(),
        stored = this.task.get(field);
      if (value === EMPTY || (value === '' && (field === 'due' || field === 'assigned'))) {
        value = null;
      }
      if ((stored === undefined ? null : stored) === value) {
        delete this.changes[field];
        delete this.base[field];
      } else {
        this.changes[field] = value;
      }
      this.$('button.save').toggleClass('hide', _.isEmpty(this.changes) || !!this.conflict);
    },
    // Enter ends a one-line field, Escape closes the details.
    fieldKey: function (event) {
      var field = $(event.currentTarget).data('field');
      if (event.key === 'Enter' && field !== 'description') {
        event.preventDefault();
        event.currentTarget.blur();
      } else if (event.key === 'Escape') {
        event.currentTarget.blur();
        this.done();
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

  var AddTaskView = FormView.extend({
    templateName: '#new-task-template',
    submit: function (event) {
      var self = this, attributes = {};
      FormView.prototype.submit.apply(this, arguments);
      attributes = this.serializeForm(this.form);
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

  // The burndown chart: open tasks per day, as inline SVG built with DOM calls.
  var SVG = 'http://www.w3.org/2000/svg',
    CHART = {width: 600, height: 220, left: 40, right: 16, top: 14, bottom: 34};

  function svg(name, attributes, parent, text) {
    var element = document.createElementNS(SVG, name);
    _.each(attributes, function (value, key) {
      element.setAttribute(key, value);
    });
    if (text !== undefined) {
      element.textContent = text;
    }
    if (parent) {
      parent.appendChild(element);
    }
    return element;
  }

  function drawBurndown(container, data) {
    var days = data.days,
      shown = _.filter(days, function (day) {
        return day.date <= app.today();
      }),
      top = Math.max(1, data.total, _.max(_.pluck(days, 'open'))),
      bottom = CHART.height - CHART.bottom,
      right = CHART.width - CHART.right,
      last = shown[shown.length - 1],
      summary = last ? last.open + ' of ' + data.total + ' tasks open on ' + last.date
        : data.total + ' tasks; the chart starts on ' + data.start,
      chart = svg('svg', {
        'class': 'burndown-chart',
        viewBox: '0 0 ' + CHART.width + ' ' + CHART.height,
        role: 'img',
        'aria-label': 'Burndown: ' + summary
      });
    function x(index) {
      return CHART.left + (days.length < 2 ? 0 : index * (right - CHART.left) / (days.length - 1));
    }
    function y(open) {
      return CHART.top + (1 - open / top) * (bottom - CHART.top);
    }
    svg('title', {}, chart, 'Burndown: ' + summary);
    svg('line', {'class': 'axis', x1: CHART.left, y1: bottom, x2: right, y2: bottom}, chart);
    svg('line', {'class': 'axis', x1: CHART.left, y1: CHART.top, x2: CHART.left, y2: bottom},
      chart);
    svg('text', {'class': 'label', x: CHART.left - 6, y: y(top) + 4, 'text-anchor': 'end'},
      chart, top);
    svg('text', {'class': 'label', x: CHART.left - 6, y: bottom + 4, 'text-anchor': 'end'},
      chart, 0);
    svg('text', {'class': 'label', x: CHART.left, y: CHART.height - 10}, chart, data.start);
    svg('text', {'class': 'label', x: right, y: CHART.height - 10, 'text-anchor': 'end'},
      chart, data.end);
    svg('line', {'class': 'ideal', x1: x(0), y1: y(data.total), x2: x(days.length - 1), y2: y(0)},
      chart);
    svg('polyline', {
      'class': 'actual',
      points: _.map(shown, function (day, index) {
        return x(index) + ',' + y(day.open);
      }).join(' ')
    }, chart);
    _.each(shown, function (day, index) {
      var dot = svg('circle', {'class': 'point', cx: x(index), cy: y(day.open), r: 3}, chart);
      svg('title', {}, dot, day.date + ': ' + day.open + ' open');
    });
    container.empty().append(chart);
  }

  var SprintView = TemplateView.extend({
    templateName: '#sprint-template',
    initialize: function (options) {
      var self = this;
      TemplateView.prototype.initialize.apply(this, arguments);
      this.sprintId = options.sprintId;  // the route's string
      this.sprintNumber = /^\d+$/.test(this.sprintId) ? parseInt(this.sprintId, 10) : null;
      this.sprint = null;
      this.tasks = {};  // task id -> TaskItemView
      this.statuses = {};
      this.socket = null;
      this.live = null;
      this.connection = 'connecting';
      this.carryOver = null;
      this.removed = false;
      this.refreshBurndown = _.debounce(this.refreshBurndown, 300);
      app.collections.ready.done(function () {
        self.load();
      });
    },
    // The five columns' views, made once the page's lists are asked for (their events
    // take a while to set up).
    makeColumns: function () {
      _.each(COLUMNS, function (column) {
        var view = new StatusView({
          sprint: column.backlog ? null : this.sprintNumber,
          status: column.status,
          title: column.title,
          className: 'status ' + column.key,
          attributes: {'aria-label': column.title}
        });
        this.statuses[column.key] = view;
        view.on('drop', this.sender('drop'), this);
      }, this);
    },
    load: function () {
      var self = this;
      if (this.removed) {
        return;
      }
      this.listenTo(app.tasks, 'update', this.tasksAdded);
      this.listenTo(app.tasks, 'change', this.changeTask);
      this.listenTo(app.tasks, 'remove', this.removeTask);
      this.listenTo(app.tasks, 'add remove change', this.tasksChanged);
      this.listenTo(app.tasks, 'move:failed', function (task, messages) {
        this.withTaskView(task.get('id'), 'showFailure', task, messages);
      });
      this.listenTo(app.tasks, 'move:saving', function (task, pending) {
        this.withTaskView(task.get('id'), 'saving', task, pending);
      });
      if (this.sprintNumber === null) {
        this.notFound(new app.models.Sprint());
        return;
      }
      this.live = new app.Live(this.sprintNumber);
      this.live.load();  // with the sprint, not once it is in
      this.listenTo(app.tasks, 'move:saved', function (task, data) {
        this.live.receive({model: 'task', action: 'update', id: data.task.id,
          body: _.extend({}, data.task, {change: data.change})});
      });
      this.makeColumns();
      app.sprints.getOrFetch(this.sprintNumber).done(function (sprint) {
        if (self.removed) {
          return;
        }
        self.sprint = sprint;
        self.connectSocket();
        self.render();
      }).fail(function (sprint) {
        self.live.stop();
        self.notFound(sprint);
      });
    },
    notFound: function (sprint) {
      if (!this.removed) {
        this.sprint = sprint;
        this.sprint.invalid = true;
        this.render();
      }
    },
    getContext: function () {
      return {sprint: this.sprint, sprintId: this.sprintId};
    },
    render: function () {
      TemplateView.prototype.render.apply(this, arguments);
      if (!this.sprint || this.sprint.invalid) {
        return;
      }
      _.each(this.statuses, function (view) {
        this.$('.tasks').append(view.el);
        view.delegateEvents();
        view.render();
      }, this);
      _.invoke(this.tasks, 'remove');
      this.tasks = {};
      this.addTasks(app.tasks.models);
      this.showConnection(this.connection);
      this.renderCarryOver();
      this.refreshBurndown();
    },
    remove: function () {
      this.removed = true;
      if (this.socket) {
        this.socket.close();
      }
      if (this.live) {
        this.live.stop();
      }
      _.invoke(this.tasks, 'remove');
      _.invoke(this.statuses, 'remove');
      if (this.carryOver) {
        this.carryOver.remove();
      }
      return TemplateView.prototype.remove.apply(this, arguments);
    },
    // Tasks added to the collection (a fetched list, a live add): shown in one batch.
    tasksAdded: function (tasks, options) {
      this.addTasks(options.changes.added);
    },
    // Cards for the tasks of this page (the backlog and this sprint) not shown yet, each
    // column's new cards inserted at once.
    addTasks: function (tasks) {
      var columns = {};
      _.each(tasks, function (task) {
        var view = this.taskView(task), key = task.statusClass();
        if (view) {
          columns[key] = (columns[key] || []).concat([view]);
        }
      }, this);
      _.each(columns, function (views, key) {
        this.statuses[key].addTasks(views);
      }, this);
    },
    // A rendered card for a task this page shows and has no card for yet, else null.
    taskView: function (task) {
      var view;
      if (!this.sprint || this.sprint.invalid || this.tasks[task.get('id')] ||
          !(task.inBacklog() || task.inSprint(this.sprint))) {
        return null;
      }
      view = new TaskItemView({model: task, sprint: this.sprintNumber});
      this.tasks[task.get('id')] = view;
      view.render();
      view.on('dragstart', this.sender('dragstart'), this);
      view.on('dragend', this.sender('dragend'), this);
      view.on('drop', this.sender('drop'), this);
      return view;
    },
    // A changed task's card is drawn again; one that changed column is shown again in
    // its new one (or leaves the page).
    changeTask: function (task) {
      var changed = task.changedAttributes() || {},
        view = this.tasks[task.get('id')];
      if (view && (_.has(changed, 'status') || _.has(changed, 'sprint'))) {
        view.remove();
        delete this.tasks[task.get('id')];
      } else if (view) {
        view.render();
      }
      this.addTasks([task]);
    },
    removeTask: function (task) {
      this.withTaskView(task.get('id'), 'remove');
      delete this.tasks[task.get('id')];
    },
    tasksChanged: function (task) {
      var number = this.sprintNumber;
      if (task.get('sprint') === number || task.previous('sprint') === number) {
        this.refreshBurndown();
      }
    },
    // A function that tells the other viewers about a drag of a task.
    sender: function (action) {
      return function (task) {
        if (this.socket) {
          this.socket.send({model: 'task', id: task.get('id'), action: action});
        }
      };
    },
    connectSocket: function () {
      var links = this.sprint.get('links');
      if (this.socket || !links || !links.channel) {
        return;
      }
      this.socket = new app.Socket(links.channel);
      this.listenTo(this.socket, 'status', this.showConnection);
      this.listenTo(this.socket, 'task:dragstart', function (id) {
        this.withTaskView(id, 'lock');
      });
      this.listenTo(this.socket, 'task:dragend task:drop', function (id) {
        this.withTaskView(id, 'unlock');
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
    },
    withTaskView: function (id, method) {
      var view = this.tasks[id];
      if (view) {
        view[method].apply(view, _.rest(arguments, 2));
      }
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
          drawBurndown(self.$('.burndown .chart'), data);
        }
      });
    }
  });

  app.views.HomepageView = HomepageView;
  app.views.LoginView = LoginView;
  app.views.HeaderView = HeaderView;
  app.views.SprintView = SprintView;
})(jQuery, Backbone, _, app);
