module.exports = { ...require('../../jest.preset.js'), displayName: 'execution', rootDir: __dirname };
