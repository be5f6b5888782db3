import type { paths } from '../../api/schema';

/** The JSON body an operation answers with `status` (typed from the OpenAPI document). */
export type Answer<
  Path extends keyof paths,
  Method extends 'get' | 'put' | 'post',
  Status extends number = 200,
> = paths[Path][Method] extends {
  responses: { [S in Status]: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

export type TenantList = Answer<'/admin/tenants', 'get'>;
export type TenantEntry = TenantList[number];
export type TenantCreated = Answer<'/admin/tenants', 'post', 201>;
export type KeyCreated = Answer<'/admin/tenants/{id}/keys', 'post', 201>;
export type TenantLimits = Answer<'/admin/tenants/{id}/limits', 'get'>;
export type TenantSettings = Answer<'/admin/tenants/{id}/settings', 'get'>;
export type QueueDepth = Answer<'/admin/queues', 'get'>['queues'][number];
export type Worker = Answer<'/admin/workers', 'get'>['workers'][number];
export type EngineReport = Answer<'/admin/signatures', 'get'>['engines'][number];
export type ErrorEntry = Answer<'/admin/errors', 'get'>['errors'][number];
