// Component tests of the console: jsdom, TSX through SWC (the workspace preset only handles .ts).
const path = require('node:path');

const swc = (syntax) => [
  '@swc/jest',
  {
    jsc: {
      parser: syntax === 'typescript' ? { syntax, tsx: true } : { syntax },
      transform: { react: { runtime: 'automatic' } },
      target: 'es2023',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

module.exports = {
  displayName: 'console',
  rootDir: __dirname,
  testEnvironment: path.join(__dirname, 'test/jsdom-env.js'),
  transform: {
    '^.+\\.tsx?$': swc('typescript'),
    // react-router and its dependencies ship only ES modules.
    '^.+\\.m?js$': path.join(__dirname, 'test/esm-transform.js'),
  },
  transformIgnorePatterns: ['/node_modules/(?!(react-router|@remix-run|cookie-es)/)'],
  moduleFileExtensions: ['tsx', 'ts', 'js', 'mjs', 'json'],
  moduleNameMapper: {
    '^@flotilla/domain$': path.join(__dirname, '../../libs/domain/src/index.ts'),
    '\\.css$': path.join(__dirname, 'test/style-stub.js'),
  },
  setupFilesAfterEnv: [path.join(__dirname, 'test/setup.ts')],
  testMatch: ['<rootDir>/src/**/*.spec.ts?(x)'],
};
