/**
 * The scenario format as JSON Schema (draft 2020-12), for editors (yaml-language-server:
 * `# yaml-language-server: $schema=../schema/scenario.schema.json`). Generated from the zod schema, so
 * the two cannot drift; a test checks that the committed schema/scenario.schema.json is up to date.
 */
import { z } from 'zod';
import { Scenario } from './schema.js';


export function scenarioJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(Scenario, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...s, title: 'iommu-lab scenario' };
}

export function scenarioJsonSchemaText(): string {
  return JSON.stringify(scenarioJsonSchema(), null, 2) + '\n';
}
