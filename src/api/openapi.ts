/** The OpenAPI 3.1 document served at /openapi.json. Kept next to the routes it describes (src/api/server.ts). */
import { HISTORY_TYPES } from '../engine/history.js';
import { COMMANDS, PHASES } from '../engine/vocabulary.js';
import { ROUTE_KINDS } from '../plan/route-schema.js';
import { HISTORY_CURSOR_PATTERN, MIGRATION_ID_PATTERN } from '../store/keys.js';

const error = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
};
const fieldError = {
  type: 'object',
  required: ['path', 'message'],
  properties: {
    path: { type: 'string', example: 'spec.policy.steps[2]' },
    message: { type: 'string' },
    line: { type: 'integer' },
    column: { type: 'integer' },
    document: { type: 'integer', description: '1-based document index, when the text holds several' },
  },
};
const migration = {
  type: 'object',
  required: [
    'id',
    'name',
    'namespace',
    'route',
    'phase',
    'weight',
    'steps',
    'possible',
    'createdAt',
    'createdBy',
    'seq',
  ],
  properties: {
    id: { type: 'string', example: 'productcatalogservice-to-k8s-3fa9c2' },
    name: { type: 'string' },
    namespace: { type: 'string' },
    route: {
      type: 'object',
      description: 'the route the migration shifts',
      required: ['kind', 'namespace', 'name'],
      properties: {
        kind: { type: 'string', enum: [...ROUTE_KINDS] },
        namespace: { type: 'string' },
        name: { type: 'string', example: 'productcatalogservice' },
      },
    },
    phase: { type: 'string', enum: [...PHASES] },
    possible: {
      type: 'array',
      items: { type: 'string', enum: [...COMMANDS] },
      description: 'commands the migration accepts right now',
    },
    weight: { type: 'integer', description: 'percent of traffic on the target (Kubernetes)' },
    steps: { type: 'array', items: { type: 'integer' } },
    policy: { type: 'string' },
    reason: { type: 'string', description: 'why it is paused, waiting, rolled back or failed' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    updatedAt: { type: 'string', format: 'date-time' },
    nextWakeAt: { type: 'string', format: 'date-time' },
    heldByWindow: { type: 'boolean' },
    seq: { type: 'integer', description: 'state version; drive job ids are <id>-s<seq>' },
    schedule: { type: 'object' },
    lastVerdict: { type: 'object' },
    stepsReached: {
      type: 'integer',
      description: 'the 1-based step being applied or held (0 before the first), kept through a rollback',
    },
  },
};
const historyEntry = {
  type: 'object',
  required: ['id', 'type', 'at', 'seq'],
  additionalProperties: true,
  properties: {
    id: { type: 'string', description: 'Redis stream id' },
    type: { type: 'string', enum: [...HISTORY_TYPES] },
    at: { type: 'integer', description: 'epoch ms' },
    seq: { type: 'integer' },
    by: { type: 'string' },
    run: {
      type: 'object',
      description:
        "on the latest of a run of identical passing verdicts (same weight, same checks): the run's length and " +
        "start (epoch ms); the run's first entry is kept too, the ones between are compacted away",
      properties: { length: { type: 'integer' }, since: { type: 'integer' } },
    },
  },
};
const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'migration id: the plan name and 6 hex digits; anything else is 404',
  schema: { type: 'string', pattern: MIGRATION_ID_PATTERN.source },
};
const historyParams = [
  {
    name: 'after',
    in: 'query',
    description:
      'cursor: the id of the last entry already seen (or `next` / `historyNext` of the previous page)',
    schema: { type: 'string', pattern: HISTORY_CURSOR_PATTERN.source },
  },
  {
    name: 'limit',
    in: 'query',
    description: 'entries per page',
    schema: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
  },
];
/** A 200 answer with a JSON object. */
const ok = (description: string, properties: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema: { type: 'object', properties } } },
});
const notFound = { description: 'no such migration', content: { 'application/json': { schema: error } } };
const badRequest = {
  description: 'malformed cursor or limit',
  content: { 'application/json': { schema: error } },
};
const bearer = [{ bearer: [] }];
const command = (verb: string, what: string) => ({
  post: {
    summary: what,
    operationId: `${verb}Migration`,
    security: bearer,
    parameters: [
      idParam,
      {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'makes retries safe: a retry with the same key returns the first answer and queues nothing twice (24 h)',
        schema: { type: 'string', minLength: 1, maxLength: 255 },
      },
    ],
    requestBody: {
      required: false,
      content: {
        'application/json': { schema: { type: 'object', properties: { reason: { type: 'string' } } } },
      },
    },
    responses: {
      '202': {
        description: 'queued for the worker driving the migration; its outcome appears in the history',
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: { queued: { type: 'boolean' }, phase: { type: 'string' } },
            },
          },
        },
      },
      '401': {
        description: 'missing or invalid bearer token',
        content: { 'application/json': { schema: error } },
      },
      '404': { description: 'no such migration', content: { 'application/json': { schema: error } } },
      '409': {
        description: 'not possible in the current state',
        content: { 'application/json': { schema: error } },
      },
      '422': {
        description: 'the Idempotency-Key was used for a different command',
        content: { 'application/json': { schema: error } },
      },
      '503': {
        description:
          'Redis unavailable or too slow (Retry-After: 1); the command was not queued and never will be',
        content: { 'application/json': { schema: error } },
      },
    },
  },
});

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'meshshift',
    version: '1',
    description:
      'Durable VM → Kubernetes migrations by Istio weight shifting, gated on Prometheus. Mutations need `Authorization: Bearer <token>`.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: { Migration: migration, HistoryEntry: historyEntry, FieldError: fieldError, Error: error },
  },
  paths: {
    '/v1/migrations': {
      post: {
        summary: 'Submit a MigrationPlan (YAML or JSON); it starts now or at its schedule',
        operationId: 'submitMigration',
        security: bearer,
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description:
              'makes retries safe: a retry with the same key and plan returns the migration the first request created (24 h); 409 while the first is still in progress, 422 for another plan',
            schema: { type: 'string', minLength: 1, maxLength: 255 },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/yaml': { schema: { type: 'string' } },
            'application/json': { schema: { type: 'object' } },
          },
        },
        responses: {
          '201': { description: 'created', content: { 'application/json': { schema: migration } } },
          '401': {
            description: 'missing or invalid bearer token',
            content: { 'application/json': { schema: error } },
          },
          '409': {
            description:
              'another migration is shifting the same route (HTTPRoute rule or VirtualService route; `running` names it); or a request with this Idempotency-Key is still in progress',
            content: { 'application/json': { schema: error } },
          },
          '503': {
            description:
              'Redis did not answer in time: nothing was stored, and nothing will be (the create is checked against a deadline on Redis’ clock); retry',
            content: { 'application/json': { schema: error } },
          },
          '422': {
            description: 'invalid plan: every bad field is named; nothing was stored or enqueued',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { error: { type: 'string' }, errors: { type: 'array', items: fieldError } },
                },
              },
            },
          },
        },
      },
      get: {
        summary: 'List migrations, newest first',
        operationId: 'listMigrations',
        parameters: [
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
          { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          {
            name: 'live',
            in: 'query',
            description: 'true: only migrations that have not finished',
            schema: { type: 'boolean', default: false },
          },
        ],
        responses: {
          '200': {
            description: 'migrations',
            content: {
              'application/json': {
                schema: { type: 'object', properties: { items: { type: 'array', items: migration } } },
              },
            },
          },
        },
      },
    },
    '/v1/migrations/{id}': {
      get: {
        summary: 'State, current weight, last verdicts and the first page of the history of one migration',
        operationId: 'getMigration',
        parameters: [idParam, ...historyParams],
        responses: {
          '200': ok('the migration', {
            migration,
            lastVerdicts: { type: 'array', items: historyEntry },
            history: { type: 'array', items: historyEntry },
            historyNext: {
              type: 'string',
              description: 'present when there is more: GET …/history?after=<historyNext>',
            },
          }),
          '400': badRequest,
          '404': notFound,
        },
      },
    },
    '/v1/migrations/{id}/history': {
      get: {
        summary: 'One page of history entries after a cursor (for paging, or following a migration live)',
        operationId: 'getMigrationHistory',
        parameters: [idParam, ...historyParams],
        responses: {
          '200': ok('entries, oldest first', {
            items: { type: 'array', items: historyEntry },
            next: { type: 'string', description: "present when the page is full: the next page's `after`" },
          }),
          '400': badRequest,
          '404': notFound,
        },
      },
    },
    '/v1/migrations/{id}/promote': command(
      'promote',
      'Approve the next step (or skip the rest of this bake)',
    ),
    '/v1/migrations/{id}/pause': command(
      'pause',
      'Hold the current weight (analyses continue; a failure still rolls back)',
    ),
    '/v1/migrations/{id}/resume': command('resume', 'Continue a paused migration'),
    '/v1/migrations/{id}/abort': command(
      'abort',
      'Roll back to 100 % VM; wins over any command queued with it',
    ),
    '/healthz': { get: { summary: 'Process is alive', responses: { '200': { description: 'ok' } } } },
    '/readyz': {
      get: {
        summary: 'Redis is reachable',
        responses: { '200': { description: 'ready' }, '503': { description: 'Redis unreachable' } },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics of meshshift itself',
        responses: { '200': { description: 'text format' } },
      },
    },
    '/openapi.json': {
      get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
    },
  },
} as const;
