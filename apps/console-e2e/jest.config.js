// The console in a real headless Chromium (Debian's package, driven by playwright-core) against
// the real product process on loopback. Each spec builds the console from its sources first.
module.exports = { ...require('../../jest.preset.js'), displayName: 'console-e2e', rootDir: __dirname, testTimeout: 120_000 };
