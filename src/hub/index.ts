/**
 * `volley/hub`: the realtime domain — sessions, channels, history and recovery, presence, auth, limits — over
 * small engine and transport interfaces.
 *
 * @module
 */

export { Hub, DEFAULT_HUB_LIMITS } from './hub.js';
export type { HubHooks, HubLimits, HubLogger, HubOptions, Identity } from './hub.js';
export { Session, SessionState } from './session.js';
export { HubError, DisconnectError } from './errors.js';
export { Namespaces, DEFAULT_NAMESPACE } from './namespaces.js';
export type { NamespaceOptions, NamespacesConfig, Permission } from './namespaces.js';
export { noopMetrics } from './metrics.js';
export type { HubMetrics } from './metrics.js';
export type { ConnectionRequest, Transport } from './transport.js';
export type * from './engine.js';
export * from './wire.js';
export { createTokenVerifier } from './auth.js';
export type { TokenVerifier, TokenVerifierOptions } from './auth.js';
export { createHttpHooks } from './hooks.js';
export { RateLimiter, TokenBucket } from './rate-limit.js';
export type { RateLimitOptions } from './rate-limit.js';
export type * from './shared-limits.js';
export { LocalIdempotency } from './idempotency.js';
export { EngineOutageCode } from './engine-errors.js';
export { codecFor, selectSubprotocol } from './codec.js';
