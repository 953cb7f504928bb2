// One test drives some 25 CLI processes, each transpiling the sources at start: about 60 s on an idle machine.
module.exports = { ...require('../../jest.preset.js'), displayName: 'cli', rootDir: __dirname, testTimeout: 360_000 };
