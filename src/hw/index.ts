/**
 * Hardware models: IOMMUs at their register boundary, bus masters, interrupt lines, the MMIO map.
 * Nothing here knows Linux; the kernel model drives these only through MMIO and memory.
 */
export * from './port.js';
export * from './mmio.js';
export * from './mmio-bus.js';
export * from './irq.js';
export * from './iotlb.js';
export * from './master.js';
export * from './rockchip-iommu.js';
export * from './ipmmu.js';
export * from './apple-dart.js';
export * from './catalog.js';
