// react-router ships only ES modules, one of which reads `import.meta.hot` (Vite's HMR, absent here): SWC compiles them
// to CommonJS for jest once that expression is gone.
const { createTransformer } = require('@swc/jest');

const swc = createTransformer({
  jsc: { parser: { syntax: 'ecmascript' }, target: 'es2023' },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
});

module.exports = {
  ...swc,
  process: (source, path, options) => swc.process(source.replaceAll('import.meta.hot', 'undefined'), path, options),
  getCacheKey: undefined,
};
