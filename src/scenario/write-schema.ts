/** `npm run schema`: write schema/scenario.schema.json from the zod schema. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { builtinScenarioDir } from './library.js';
import { scenarioJsonSchemaText } from './json-schema.js';

const out = join(dirname(builtinScenarioDir()), 'schema', 'scenario.schema.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, scenarioJsonSchemaText());
process.stdout.write(`wrote ${out}\n`);
