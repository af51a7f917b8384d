// The burndown chart (book ch. 6, drawn here rather than with a chart library): a pure
// function of the API's burndown data and today's date, returning an SVG element built with
// DOM calls (no markup parsed, nothing inline for the page's CSP to refuse).
(function (_, app) {
  'use strict';

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

  // What the two lines are, in the chart's top right corner.
  function legend(chart, right) {
    var group = svg('g', {'class': 'legend'}, chart);
    _.each([['ideal', 'Ideal'], ['actual', 'Open tasks']], function (entry, row) {
      var atY = CHART.top + 4 + row * 14;
      svg('line', {'class': entry[0], x1: right - 110, y1: atY, x2: right - 86, y2: atY}, group);
      svg('text', {'class': 'label', x: right - 80, y: atY + 4}, group, entry[1]);
    });
  }

  // data: {start, end, total, days: [{date, open}]}; the days after today are not drawn.
  app.burndownChart = function (data, today) {
    var days = data.days,
      shown = _.filter(days, function (day) {
        return day.date <= today;
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
    function label(atX, atY, text, anchor) {
      svg('text', {'class': 'label', x: atX, y: atY, 'text-anchor': anchor || 'start'}, chart,
        text);
    }
    svg('title', {}, chart, 'Burndown: ' + summary);
    svg('line', {'class': 'axis', x1: CHART.left, y1: bottom, x2: right, y2: bottom}, chart);
    svg('line', {'class': 'axis', x1: CHART.left, y1: CHART.top, x2: CHART.left, y2: bottom},
      chart);
    label(CHART.left - 6, y(top) + 4, top, 'end');
    label(CHART.left - 6, bottom + 4, 0, 'end');
    label(CHART.left, CHART.height - 10, data.start);
    label(right, CHART.height - 10, data.end, 'end');
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
    legend(chart, right);
    return chart;
  };
})(_, app);
