// ESLint for the scrum board's own scripts (make lint): plain browser scripts sharing the
// globals the page's script tags give them, no modules, no build step.
const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  {
    files: ['scrum/board/static/board/js/**/*.js'],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: 'script',
      globals: {...globals.browser, jQuery: 'readonly', Backbone: 'readonly', _: 'readonly',
        app: 'writable'},
    },
    rules: {
      ...js.configs.recommended.rules,
      'no-unused-vars': ['error', {args: 'none', caughtErrors: 'none'}],
      eqeqeq: ['error', 'always', {null: 'ignore'}],
      'no-implicit-globals': 'error',
      strict: ['error', 'function'],
      'max-len': ['error', {code: 100}],
    },
  },
];
