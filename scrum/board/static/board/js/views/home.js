// The login form, the header and the home page with its sprints (book ch. 5-6).
(function ($, Backbone, _, app) {
  'use strict';

  var TemplateView = app.views.TemplateView, FormView = app.views.FormView;

  // ---- login and header (ch. 5) ---------------------------------------------------------

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
      app.session.logout().always(function () {
        window.location = '/';
      });
    }
  });

  // ---- home page (ch. 6) ----------------------------------------------------------------

  // The "Add Sprint" form: a created sprint opens at once.
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

  var HomepageView = TemplateView.extend({
    templateName: '#home-template',
    events: {
      'click button.add': 'renderAddForm',
      'click button.ended': 'toggleEnded'
    },
    initialize: function (options) {
      var self = this;
      TemplateView.prototype.initialize.apply(this, arguments);
      this.loaded = false;
      this.error = null;
      this.addForm = null;
      this.ended = {shown: false, loaded: false};
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
    // Sprints that ended a week ago or later and are not archived, by end date; on demand,
    // the others, the latest first.
    getContext: function () {
      var endMin = app.today(-7), sprints = null, ended = null;
      if (this.loaded) {
        sprints = _.sortBy(app.sprints.filter(function (sprint) {
          return sprint.get('end') >= endMin && !sprint.get('archived');
        }), function (sprint) {
          return sprint.get('end');
        });
      }
      if (this.ended.shown && this.ended.loaded) {
        ended = _.sortBy(app.sprints.filter(function (sprint) {
          return sprint.get('end') < endMin || sprint.get('archived');
        }), function (sprint) {
          return sprint.get('end');
        }).reverse();
      }
      return {sprints: sprints, error: this.error, showEnded: this.ended.shown, ended: ended,
        today: app.today()};
    },
    // The sprints that ended more than a week ago, and the archived ones, are loaded the
    // first time they are asked for.
    toggleEnded: function () {
      var self = this;
      this.ended.shown = !this.ended.shown;
      this.render();
      if (this.ended.shown && !this.ended.loaded) {
        $.when(app.sprints.fetchAll({data: {end_max: app.today(-8)}}),
          app.sprints.fetchAll({data: {archived: 'true'}})).done(function () {
          self.ended.loaded = true;
          self.render();
        }).fail(function (xhr) {
          if (xhr.status !== 401) {
            self.ended.shown = false;
            self.error = 'The ended sprints could not be loaded. ' +
              app.errorMessages(xhr).join(' ');
            self.render();
          }
        });
      }
    },
    // Re-rendering keeps an open "Add Sprint" form.
    render: function () {
      var form = this.addForm;
      if (form) {
        form.$el.detach();
      }
      TemplateView.prototype.render.apply(this, arguments);
      this.$('button.ended').attr('aria-expanded', String(this.ended.shown));
      if (form) {
        this.$('button.add').before(form.el).addClass('hide');
      }
    },
    renderAddForm: function (event) {
      var view = app.views.openForm(new NewSprintView(), event);
      this.addForm = view;
      view.on('done', function () {
        this.addForm = null;
        this.$('button.add').removeClass('hide');
      }, this);
    }
  });

  _.extend(app.views, {
    LoginView: LoginView,
    HeaderView: HeaderView,
    HomepageView: HomepageView
  });
})(jQuery, Backbone, _, app);
