// The router (book ch. 5-6): the header, the two pages, and login in front of every route
// (there is no login route; an ended session brings the login form back with a message).
(function ($, Backbone, _, app) {
  'use strict';

  var SESSION_ENDED = 'Your session has ended. Please log in again.';

  var AppRouter = Backbone.Router.extend({
    routes: {
      '': 'home',
      'sprint/:id': 'sprint',
      '*other': 'home'
    },
    initialize: function (options) {
      this.contentElement = '#content';
      this.current = null;
      this.login = null;
      this.header = new app.views.HeaderView();
      $('body').prepend(this.header.el);
      this.header.render();
      this.listenTo(app.session, 'expired', this.sessionEnded);
      Backbone.history.start();
    },
    home: function () {
      var view = new app.views.HomepageView({el: this.contentElement});
      this.render(view);
    },
    sprint: function (id, query) {  // query: the filter the URL keeps, e.g. "mine=1&q=login"
      var view = new app.views.SprintView({el: this.contentElement, sprintId: id, query: query});
      this.render(view);
    },
    // Every route runs only when logged in; otherwise the login form comes first.
    route: function (route, name, callback) {
      var router = this;
      callback = callback || this[name];
      callback = _.wrap(callback, function (original) {
        var args = _.without(arguments, original);
        if (app.session.authenticated()) {
          original.apply(router, args);
        } else {
          router.showLogin(function () {
            original.apply(router, args);
          });
        }
      });
      return Backbone.Router.prototype.route.apply(this, [route, name, callback]);
    },
    // Hides the page behind the login form; `then` runs once logged in.
    showLogin: function (then, message) {
      var content = $(this.contentElement);
      if (this.login) {
        this.login.remove();
      }
      content.addClass('hide');
      this.login = new app.views.LoginView({message: message});
      content.after(this.login.el);
      this.login.on('done', function () {
        this.login = null;
        this.header.render();
        content.removeClass('hide');
        then();
      }, this);
      this.login.render();
    },
    // A request answered 401: the token was revoked or expired.
    sessionEnded: function () {
      this.close();
      this.header.render();
      this.showLogin(function () {
        Backbone.history.loadUrl();
      }, SESSION_ENDED);
    },
    render: function (view) {
      this.close();
      this.current = view;
      this.current.render();
    },
    // Leaves the current page's view (its element, #content, stays).
    close: function () {
      if (this.current) {
        this.current.undelegateEvents();
        this.current.$el = $();
        this.current.remove();
        this.current = null;
      }
    }
  });

  app.router = AppRouter;
})(jQuery, Backbone, _, app);
