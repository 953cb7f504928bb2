import { mkdirSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium package (`apt-get install -y chromium`); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/**
 * Headless, as root in a container (no sandbox), without a GPU, and without anything that reaches
 * for the network on its own: the machines have no internet.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Where the browser tests and benches write their screenshots: the repository's dist/console-screens
 * (not committed), from the sources (libs/testing/src) as from the build (dist/libs/testing/src).
 */
export const SCREENSHOT_DIR = resolve(__dirname, __dirname.includes(`${sep}dist${sep}`) ? '../../..' : '../../../dist', 'console-screens');

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });

/**
 * Collects what a page throws and does not catch (`pageerror`): a test that saw one fails, as a
 * user would have seen the console break.
 */
export const watchPageErrors = (page: Page): Error[] => {
  const errors: Error[] = [];
  page.on('pageerror', (error) => errors.push(error));
  return errors;
};

/** A full-page PNG of what the page shows, as `<SCREENSHOT_DIR>/<name>.png`. */
export const screenshot = async (page: Page, name: string): Promise<string> => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
};
