import { createTheme, type CSSVariablesResolver } from '@mantine/core';

// Shades chosen for a contrast of at least 4.5:1 on white (WCAG AA, checked by axe in the browser tests).
export const theme = createTheme({ primaryColor: 'indigo', primaryShade: { light: 7, dark: 5 }, defaultRadius: 'sm' });

/** Mantine's dimmed text (gray 6) is 3.3:1 on white: gray 7 instead. */
export const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  light: { '--mantine-color-dimmed': 'var(--mantine-color-gray-7)' },
  dark: {},
});
