import { afterAll, describe, expect, it } from 'vitest';
import { YaraRunner } from '../../scanning/analysis/yara/yara-runner.js';

describe('the YARA runner', () => {
  const yara = new YaraRunner({ threads: 1, timeoutMs: 30_000 });
  afterAll(() => yara.close());

  it('scans bytes with a rule set and returns each matching rule with its meta', async () => {
    const rules = {
      key: 'k1',
      source: [
        'rule greeting { meta: finding = "content.custom.hello" strings: $a = "hello" nocase condition: $a }',
        'rule never { strings: $a = "absent-string" condition: $a }',
      ].join('\n'),
    };
    const matches = await yara.scan(rules, Buffer.from('say HELLO there'));
    expect(matches).toEqual([
      {
        rule: 'greeting',
        namespace: 'default',
        meta: { finding: 'content.custom.hello' },
        tags: [],
      },
    ]);
    expect(await yara.scan(rules, Buffer.from('nothing here'))).toEqual([]);
  });

  it('reports each compiler error with its line and column', async () => {
    const check = await yara.check(
      'rule fine { condition: filesize > 0 }\nrule broken { condition: foo }',
    );
    expect(check.errors).toEqual([
      expect.objectContaining({
        code: 'E009',
        line: 2,
        column: 26,
        message: 'unknown identifier `foo`',
      }),
    ]);
  });

  it('never reads an included file from the host', async () => {
    const check = await yara.check('include "/etc/passwd"\nrule y { condition: filesize > 0 }');
    expect(check.errors).toHaveLength(1);
    expect(JSON.stringify(check)).not.toContain('root:');
  });

  it('refuses modules that reach beyond the scanned bytes', async () => {
    const check = await yara.check('import "console"\nrule y { condition: console.log("x") }');
    expect(check.errors[0]?.message).toBe('module "console" is not allowed');
    expect(check.errors[0]?.line).toBe(1);
  });

  it('refuses a pattern slow enough to stall every scan', async () => {
    const check = await yara.check('rule slow { strings: $a = /a.*/ condition: $a }');
    expect(check.errors.length).toBeGreaterThan(0);
  });
});
