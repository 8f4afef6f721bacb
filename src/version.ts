/** The version of kuke and kukeond (the package's; stamped at build time into the bundles). */
export const VERSION: string = process.env.KUKEON_VERSION_OVERRIDE ?? (typeof __KUKEON_VERSION__ === 'string' ? __KUKEON_VERSION__ : '0.1.0-dev');

declare const __KUKEON_VERSION__: string | undefined;
