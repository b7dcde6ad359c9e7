/**
 * Connects the HTTP hooks of `hub/hooks.ts` (the application's backend decides connect, subscribe and publish)
 * to the hub's in-process hook interface.
 *
 * @module
 */

import type { Capabilities } from '../hub/capabilities.js';
import { DisconnectError, HubError } from '../hub/errors.js';
import type { HookDecision, HttpHooks } from '../hub/hooks.js';
import type { Hub, HubHooks } from '../hub/hub.js';
import { HubErrorCode } from '../hub/wire.js';

/** Turns a backend decision into what the hub expects: the overrides, or a thrown refusal. */
function settle(decision: HookDecision) {
  switch (decision.type) {
    case 'allow':
      return decision.overrides;
    case 'reject':
      throw new HubError(HubErrorCode.PERMISSION_DENIED, decision.message || 'refused by the application');
    case 'disconnect':
      throw new DisconnectError(decision.code, decision.reason);
    case 'unavailable':
      throw new HubError(HubErrorCode.UNAVAILABLE, 'the application backend did not answer, retry later');
  }
}

/**
 * Hub hooks that ask the application's backend over HTTP. `hub` is read lazily (the hooks are built before the
 * hub that uses them) to learn each client's transport and address.
 */
export function hubHooksFromHttp(http: HttpHooks, hub: () => Hub): HubHooks {
  const where = (clientId: string) => {
    const session = hub().session(clientId);
    return { transport: session?.transport.kind ?? 'unknown', remoteAddress: session?.request.remoteAddress ?? '' };
  };
  const hooks: HubHooks = {};
  if (http.onConnect !== undefined) {
    const onConnect = http.onConnect;
    hooks.onConnect = async (ctx) => {
      const overrides = settle(
        await onConnect({ clientId: ctx.clientId, userId: ctx.userId, transport: ctx.transport, remoteAddress: ctx.request.remoteAddress }),
      );
      const result: { userId?: string; info?: unknown; expiresAt?: number; capabilities?: Capabilities } = {};
      if (overrides.userId !== undefined) result.userId = overrides.userId;
      if ('info' in overrides) result.info = overrides.info;
      if (overrides.expiresAt !== undefined) result.expiresAt = overrides.expiresAt;
      if (overrides.capabilities !== undefined) result.capabilities = overrides.capabilities;
      return result;
    };
  }
  if (http.onSubscribe !== undefined) {
    const onSubscribe = http.onSubscribe;
    hooks.onSubscribe = async (ctx) => {
      settle(await onSubscribe({ clientId: ctx.clientId, userId: ctx.userId, channel: ctx.channel, ...where(ctx.clientId) }));
    };
  }
  if (http.onPublish !== undefined) {
    const onPublish = http.onPublish;
    hooks.onPublish = async (ctx) => {
      const overrides = settle(
        await onPublish({ clientId: ctx.clientId, userId: ctx.userId, channel: ctx.channel, data: ctx.data, ...where(ctx.clientId) }),
      );
      return 'data' in overrides ? { data: overrides.data } : undefined;
    };
  }
  return hooks;
}
