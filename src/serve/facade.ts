/**
 * The API side of `meshshift serve` (roles api, all, controller): the tokens that say who may do what, the service
 * facade every front end commands through, and the MigrationPlan controller, which drives the same facade.
 */
import type { Redis } from 'ioredis';
import { FileTokenStore, type TokenStore } from '../auth/tokens.js';
import type { Logger } from '../log/logger.js';
import { loadKubeConfig } from '../mesh/kube/config.js';
import { MigrationService } from '../service/service.js';
import { MigrationPlanController, defaultControllerOptions } from '../controller/controller.js';
import { kubeConfigOptions, type Roles, type ServeDeps, type ServeOptions } from './options.js';
import type { Backends } from './redis.js';

/** The tokens file (or the injected store); without one, the API side warns that every mutation is refused. */
export function tokensFor(
  o: ServeOptions,
  deps: ServeDeps,
  roles: Roles,
  logger: Logger,
): TokenStore | undefined {
  const tokens = deps.tokens ?? (o.tokensFile ? new FileTokenStore(o.tokensFile) : undefined);
  if (roles.api && !tokens)
    logger.warn(
      'no --tokens-file: every mutation (submit, promote, pause, resume, abort) will be refused with 401',
    );
  return tokens;
}

/** The service facade on the API's store and queue. */
export function serviceFor(
  o: ServeOptions,
  deps: ServeDeps,
  backends: Backends,
  logger: Logger,
): MigrationService {
  return new MigrationService({
    store: backends.apiStore!,
    queue: backends.apiQueue!,
    logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
    timeScale: o.timeScale,
    ...(o.policies ? { policiesDir: o.policies } : {}),
  });
}

/** The MigrationPlan controller, started (list+watch, leader by Lease). */
export function startController(
  o: ServeOptions,
  p: { service: MigrationService; backends: Backends; prefix: string; logger: Logger },
): MigrationPlanController {
  const controller = new MigrationPlanController(o.controller ?? defaultControllerOptions(), {
    kc: loadKubeConfig(kubeConfigOptions(o)),
    service: p.service,
    store: p.backends.apiStore!,
    redis: p.backends.apiClient as Redis,
    logger: p.logger,
    prefix: p.prefix,
  });
  controller.start();
  return controller;
}
