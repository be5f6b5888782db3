import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type { ScanResultSchema } from '../../api/response-schemas.js';
import type { ScanResult } from '../../scans/results.js';
import type { ArbiterResult } from '../../webhooks/index.js';

/**
 * The result's wire shape is written three times: the type the code builds (scans/results.ts),
 * the zod schema the OpenAPI document is generated from (api/response-schemas.ts), and the type
 * the receiver kit gives receiving apps (webhooks/receiver.ts, which must import nothing of the
 * server's). These checks are compile-time: `tsc` (run by `npm run lint`) fails when they drift.
 */
describe('the scan result shape', () => {
  it('is what the OpenAPI schema documents, field for field', () => {
    expectTypeOf<z.output<typeof ScanResultSchema>>().toEqualTypeOf<ScanResult>();
  });

  it('is what the receiver kit types, for every field the kit declares', () => {
    // Every result delivered fits the kit's type...
    expectTypeOf<ScanResult>().toExtend<ArbiterResult>();
    // ...the kit declares no field the server does not send...
    expectTypeOf<Exclude<keyof ArbiterResult, keyof ScanResult>>().toBeNever();
    // ...and leaves out only these, so a new result field is a decision for the kit too.
    expectTypeOf<Exclude<keyof ScanResult, keyof ArbiterResult>>().toEqualTypeOf<
      'suppressed_findings' | 'outcome' | 'action_error' | 'rescan'
    >();
  });
});
