import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zip } from '../support/archives.js';
import { triggerPng } from '../support/images.js';
import {
  scanUpload,
  startTestService,
  traceMessages,
  type TestService,
  type TestTenant,
} from '../support/service.js';

interface Result {
  id: string;
  findings: string[];
}

/**
 * The image classifier through the whole service: a tenant whose scans ask for `unsafe_image`
 * gets the documented test image reported, with the model in the trace; a tenant without the
 * category gets nothing for it. The category is turned on as an operator does, with the
 * tenant's settings.
 */
describe('unsafe images through the service', () => {
  let service: TestService;
  let withImages: TestTenant;
  let malwareOnly: TestTenant;

  beforeAll(async () => {
    service = await startTestService();
    withImages = await service.createTenant('images');
    malwareOnly = await service.createTenant('malware-only');
    const settings = await service.admin(`/tenants/${withImages.id}/settings`, {
      method: 'PUT',
      body: '{"detection_categories":["malware","unsafe_image"]}',
    });
    expect(settings.status).toBe(200);
  });
  afterAll(async () => {
    await service?.stop();
  });

  const scanSync = (who: TestTenant, content: Buffer, name: string) =>
    scanUpload<Result>(service, who, content, name);
  const traceOf = (who: TestTenant, id: string) => traceMessages(service, who, id);

  it('reports the test image inside an archive when the category is on, naming the model', async () => {
    const archive = await zip([{ name: 'holiday/beach.png', data: await triggerPng() }]);
    const result = await scanSync(withImages, archive, 'holiday.zip');
    expect(result.findings).toEqual(['content.image.nsfw.nudity']);
    const trace = await traceOf(withImages, result.id);
    expect(trace).toContain('detection categories: malware, unsafe_image');
    expect(trace).toContainEqual(
      expect.stringMatching(
        /^scanned by nsfwjs \(nsfwjs \d+\.\d+\.\d+ MobileNetV2\): content\.image\.nsfw\.nudity in holiday\.zip\/holiday\/beach\.png$/,
      ),
    );
  });

  it('reports nothing for it when the category is off', async () => {
    const result = await scanSync(malwareOnly, await triggerPng(), 'beach.png');
    expect(result.findings).toEqual([]);
    const trace = await traceOf(malwareOnly, result.id);
    expect(trace.some((line) => line.includes('nsfwjs'))).toBe(false);
  });
});
