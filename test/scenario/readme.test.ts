import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadScenarioText } from '../../src/scenario/loader.js';
import { STEP_KINDS } from '../../src/scenario/schema.js';

const README = readFileSync(new URL('../../scenarios/README.md', import.meta.url), 'utf8');

describe('scenarios/README.md', () => {
  it('its annotated example is a valid scenario', () => {
    const m = /```yaml\n([\s\S]*?)```/.exec(README);
    expect(m).not.toBeNull();
    const l = loadScenarioText(m![1], 'README-example.yaml');
    expect(l.scenario.board.profile).toBe('rk3568');
    expect(l.scenario.expect?.outcome).toBe('bus-error');
  });

  it('documents every step kind', () => {
    for (const k of STEP_KINDS) expect(README).toContain(`\`${k}\``);
  });
});
