/**
 * The one place that wires every layer into the scenario runner: each layer's step handlers (and, once
 * the kernel layer exists, its world factory) are installed from here, one line per layer. The CLI and
 * the tests call `setupScenarioLayers()` before running anything.
 */
import { registerCoreSteps } from './steps/core.js';
import { registerDartExplainers } from './steps/apple-dart-explain.js';
import { createKernelWorld, registerKernelSteps } from './kernel-world.js';
import { setWorldFactory } from './world.js';

let done = false;

export function setupScenarioLayers(): void {
  if (done) return;
  done = true;
  registerCoreSteps();
  registerKernelSteps();
  registerDartExplainers();
  setWorldFactory(createKernelWorld);
  // Layers add their line here, e.g.: registerDmaSteps(); setWorldFactory(createKernelWorld);
}
