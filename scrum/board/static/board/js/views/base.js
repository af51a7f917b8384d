// The views every page builds on (book ch. 5-6): templates compiled once, TemplateView and
// FormView, "Add ..." forms opened in place of their button, and drop-target highlighting.
(function ($, Backbone, _, app) {
  'use strict';

  // ---- templates ------------------------------------------------------------------------

  var templates = {};  // compiled once per name: a big sprint renders hundreds of cards

  function compiled(name) {
    if (!templates[name]) {
      templates[name] = _.template($(name).html());
    }
    return templates[name];
  }

  // ---- base views -----------------------------------------------------------------------

  var TemplateView = Backbone.View.extend({
    templateName: '',
    initialize: function () {
      this.template = compiled(this.templateName);
    },
    render: function () {
      this.$el.html(this.template(this.getContext()));
      return this;
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
    // The submit button stays disabled until the request is answered (a failure enables it
    // again; a success closes or draws the form anew): a double click or Enter pressed twice
    // sends the form once, where the book's forms created a sprint or a task twice.
    submit: function (event) {
      event.preventDefault();
      this.form = $(event.currentTarget);
      this.form.find('button[type=submit]').prop('disabled', true);
      this.clearErrors();
    },
    failure: function (xhr) {
      var errors = xhr.responseJSON;
      if (this.form) {
        this.form.find('button[type=submit]').prop('disabled', false);
      }
      if (!_.isObject(errors)) {
        errors = {non_field_errors: app.errorMessages(xhr)};
      }
      this.showErrors(errors);
    },
    modelFailure: function (model, xhr) {
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

  // ---- shared pieces --------------------------------------------------------------------

  // An "Add ..." form in place of the button that asked for it (hidden until it is done).
  function openForm(view, event) {
    var button = $(event.currentTarget);
    event.preventDefault();
    button.before(view.el).addClass('hide');
    view.render();
    view.$('input').first().trigger('focus');
    return view;
  }

  function dataTransfer(event) {
    return event.originalEvent && event.originalEvent.dataTransfer;
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

  _.extend(app.views, {
    compiled: compiled,
    TemplateView: TemplateView,
    FormView: FormView,
    openForm: openForm,
    dataTransfer: dataTransfer,
    dropTarget: dropTarget
  });
})(jQuery, Backbone, _, app);
