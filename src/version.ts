/** The version of kuke and kukeond: the package's, stamped into the bundles at build time (tools/build.mjs). */
export const VERSION: string = typeof __KUKEON_VERSION__ === 'string' ? __KUKEON_VERSION__ : '0.1.0-dev';

declare const __KUKEON_VERSION__: string | undefined;
