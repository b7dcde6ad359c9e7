/**
 * The SDK's name and version, sent in `connect` for the hub's logs and metrics. The version is the package's
 * (a test checks that they agree): the SDK cannot read package.json in a browser.
 *
 * @module
 */

/** Sent as `connect.name` unless the `name` option says otherwise. */
export const SDK_NAME = 'volley-js';
/** Sent as `connect.version` unless the `version` option says otherwise. */
export const SDK_VERSION = '0.1.0';
