// Requires the built package under plain Node as CommonJS.
const lib = require('vlm-compat');
const testing = require('vlm-compat/testing');

import('./shared.mjs')
  .then(({ runSmoke }) => runSmoke(lib, testing, 'cjs'))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
