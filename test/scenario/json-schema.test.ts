import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scenarioJsonSchema, scenarioJsonSchemaText } from '../../src/scenario/json-schema.js';
import { STEP_KINDS } from '../../src/scenario/schema.js';

describe('published JSON Schema', () => {
  it('schema/scenario.schema.json is up to date (run `npm run schema` after changing the zod schema)', () => {
    const committed = readFileSync(new URL('../../schema/scenario.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(scenarioJsonSchemaText());
  });

  it('describes every step kind, with unknown keys forbidden', () => {
    const s = scenarioJsonSchema() as {
      additionalProperties: boolean;
      properties: { steps: { items: { oneOf: { properties: { op: { const: string } }; additionalProperties: boolean }[] } } };
    };
    expect(s.additionalProperties).toBe(false);
    const opts = s.properties.steps.items.oneOf;
    expect(opts.map((o) => o.properties.op.const)).toEqual([...STEP_KINDS]);
    expect(opts.every((o) => o.additionalProperties === false)).toBe(true);
  });
});
