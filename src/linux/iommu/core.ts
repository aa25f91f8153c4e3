/**
 * The IOMMU core (drivers/iommu/iommu.c, 6.12): groups, domains, default-domain selection from the
 * command line and the driver's wishes, probe through of_xlate, attach, and iommu_map/iommu_unmap
 * splitting requests by the domain's pgsize_bitmap exactly as iommu_pgsize() does.
 *
 * Drivers plug in as tables of operations (IommuOps / DomainOps), as in the kernel: the core never
 * knows which driver it is calling.
 */
import { hex } from '../../addr.js';
import type { Tracer } from '../../trace/events.js';
import { kPad } from '../../trace/printf.js';
import * as GFP from '../mm/gfp.js';

export const EINVAL = 22;
export const ENODEV = 19;
export const ENOMEM = 12;
export const EBUSY = 16;
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;

/**
 * kstrtobool (lib/kstrtox.c): the first character decides — y/Y/t/T/1 true, n/N/f/F/0 false, "on"/"off"
 * (any case); anything else is not a boolean (undefined), and the early_param handler then fails.
 */
export function kstrtobool(s: string): boolean | undefined {
  switch (s[0]) {
    case 'y': case 'Y': case 't': case 'T': case '1':
      return true;
    case 'n': case 'N': case 'f': case 'F': case '0':
      return false;
    case 'o': case 'O':
      if (s[1] === 'n' || s[1] === 'N') return true;
      if (s[1] === 'f' || s[1] === 'F') return false;
      return undefined;
    default:
      return undefined;
  }
}

/**
 * The two early_params of drivers/iommu/iommu.c:681-707 from a kernel command line. A value kstrtobool
 * rejects leaves the build default in place (and does not count as "set via kernel command line").
 */
export function iommuCmdlineFrom(cmdline: ReadonlyMap<string, string>, tracer?: Tracer): IommuCmdline {
  const out: IommuCmdline = {};
  for (const [param, field] of [['iommu.passthrough', 'passthrough'], ['iommu.strict', 'strict']] as const) {
    const raw = cmdline.get(param);
    if (raw === undefined) continue;
    const v = kstrtobool(raw);
    if (v === undefined) tracer?.printk('warn', `Malformed early option '${param}'`); // do_early_param, init/main.c:733-734
    else out[field] = v;
  }
  return out;
}

export type DomainType = 'blocked' | 'identity' | 'unmanaged' | 'dma' | 'dma-fq';

/** The kernel's numeric IOMMU_DOMAIN_* values (include/linux/iommu.h:196-203), printed in some messages. */
export const DOMAIN_TYPE_VALUE: Record<DomainType, number> = {
  blocked: 0,
  identity: 1 << 2,
  unmanaged: 1 << 0,
  dma: (1 << 0) | (1 << 1),
  'dma-fq': (1 << 0) | (1 << 1) | (1 << 3),
};

export function isPaging(t: DomainType): boolean {
  return t === 'unmanaged' || t === 'dma' || t === 'dma-fq';
}

/** iommu_domain_type_str(). */
export function domainTypeStr(t: DomainType): string {
  switch (t) {
    case 'blocked':
      return 'Blocked';
    case 'identity':
      return 'Passthrough';
    case 'unmanaged':
      return 'Unmanaged';
    default:
      return 'Translated';
  }
}

/** A device as the IOMMU core sees it (the DMA layer's Device satisfies this). */
export interface IommuClientDevice {
  name: string;
  driverName: string;
  /** Filled by of_xlate: which IOMMU instance and the specifier ids (stream / uTLB). */
  iommuFwspec?: { iommu: IommuDevice; ids: number[] };
  /** Driver-private per-device data (dev_iommu_priv). */
  iommuPriv?: unknown;
  iommuGroup?: IommuGroup;
  isPci?: boolean;
}

/** struct iommu_iotlb_gather */
export interface IotlbGather {
  start: number;
  end: number;
  pgsize: number;
  queued: boolean;
}

export function newGather(): IotlbGather {
  return { start: Number.MAX_SAFE_INTEGER, end: 0, pgsize: 0, queued: false };
}

export interface MapPagesResult {
  ret: number;
  mapped: number;
}

export interface DomainOps {
  attachDev(domain: IommuDomain, dev: IommuClientDevice): number;
  mapPages?(domain: IommuDomain, iova: number, paddr: number, pgsize: number, pgcount: number, prot: number, gfp: number): MapPagesResult;
  unmapPages?(domain: IommuDomain, iova: number, pgsize: number, pgcount: number, gather: IotlbGather): number;
  iovaToPhys?(domain: IommuDomain, iova: number): number;
  flushIotlbAll?(domain: IommuDomain): void;
  iotlbSync?(domain: IommuDomain, gather: IotlbGather): void;
  iotlbSyncMap?(domain: IommuDomain, iova: number, size: number): number;
  free?(domain: IommuDomain): void;
}

export class IommuDomain {
  pgsizeBitmap = 0;
  geometry = { start: 0, end: 0, forceAperture: false };
  /** dma-iommu's cookie (IOVA domain etc.), set by the DMA layer for DMA domains. */
  dmaCookie: unknown;
  /** Driver-private state. */
  priv: unknown;
  constructor(
    public type: DomainType,
    readonly ops: DomainOps,
    readonly owner: IommuOps,
  ) {}
}

export class IommuGroup {
  readonly devices: IommuClientDevice[] = [];
  defaultDomain: IommuDomain | undefined;
  domain: IommuDomain | undefined;
  /** group->name: only iommu_group_set_name() fills it, so messages print "%s" of NULL = "(null)". */
  name: string | null = null;
  constructor(readonly id: number) {}
}

/** A registered IOMMU instance (struct iommu_device): the hardware unit with its ops. */
export interface IommuDevice {
  /** Linux device name, e.g. "fdea0800.iommu". */
  name: string;
  ops: IommuOps;
  /** Driver-private (struct rk_iommu, ipmmu_vmsa_device ...). */
  priv: unknown;
}

export interface IommuOps {
  name: string;
  pgsizeBitmap: number;
  /** A static identity domain the driver provides (rk_identity_domain), if any. */
  identityDomain?: IommuDomain;
  blockedDomain?: IommuDomain;
  domainAllocPaging(dev: IommuClientDevice): IommuDomain | null;
  /** domain_alloc for IDENTITY when the driver has no static one (apple-dart). */
  domainAllocIdentity?(dev: IommuClientDevice): IommuDomain | null;
  probeDevice(dev: IommuClientDevice): number;
  releaseDevice?(dev: IommuClientDevice): void;
  /** Returns the group for dev; generic_single_device_group or a shared one. */
  deviceGroup?(dev: IommuClientDevice, core: IommuCore): IommuGroup;
  defDomainType?(dev: IommuClientDevice): DomainType | 0;
  ofXlate(dev: IommuClientDevice, iommu: IommuDevice, ids: number[]): number;
  /**
   * ops->capable (include/linux/iommu.h:247-256). Absent means false for every capability
   * (device_iommu_capable, iommu.c:1879-1891). In 6.12 none of rockchip-iommu, ipmmu-vmsa and apple-dart
   * has a `capable` op, so none advertises IOMMU_CAP_DEFERRED_FLUSH (only arm-smmu(-v3), AMD, Intel,
   * virtio-iommu and s390 do).
   */
  capable?(dev: IommuClientDevice, cap: IommuCap): boolean;
}

/** The enum iommu_cap values the model consults. */
export type IommuCap = 'cache-coherency' | 'noexec' | 'pre-boot-protection' | 'enforce-cache-coherency' | 'deferred-flush' | 'dirty-tracking';

/** device_iommu_capable (iommu.c:1879-1891). */
export function deviceIommuCapable(dev: IommuClientDevice, cap: IommuCap): boolean {
  const ops = dev.iommuFwspec?.iommu.ops;
  return !!ops?.capable && ops.capable(dev, cap);
}

export interface IommuCmdline {
  /** iommu.passthrough=1/0; undefined = build default (translated on arm64). */
  passthrough?: boolean;
  /** iommu.strict=1/0; undefined = build default (strict on arm64). */
  strict?: boolean;
}

export class IommuCore {
  readonly groups: IommuGroup[] = [];
  private nextGroupId = 0;
  readonly defDomainType: DomainType;
  readonly strict: boolean;
  private warnedStrangeGfp = false;

  constructor(
    readonly tracer: Tracer,
    readonly cmdline: IommuCmdline,
    /** How this kernel reports a failed first attach: 6.12 WARNs in iommu_setup_default_domain; 4.x
     *  iommu_group_get_for_dev printed "Failed to add device ... to group" and released the group. */
    readonly attachFailure: 'warn-default-domain' | 'group-add-failed' = 'warn-default-domain',
  ) {
    // iommu_subsys_init: arm64 builds with IOMMU_DEFAULT_DMA_STRICT (Kconfig: lazy only on x86/s390).
    const passthrough = cmdline.passthrough ?? false;
    this.strict = cmdline.strict ?? true;
    this.defDomainType = passthrough ? 'identity' : this.strict ? 'dma' : 'dma-fq';
    const viaCmdline = cmdline.passthrough !== undefined ? ' (set via kernel command line)' : '';
    tracer.printk('info', `iommu: Default domain type: ${domainTypeStr(this.defDomainType)}${viaCmdline}`);
    if (!passthrough) {
      const viaStrict = cmdline.strict !== undefined ? ' (set via kernel command line)' : '';
      tracer.printk('info', `iommu: DMA domain TLB invalidation policy: ${this.strict ? 'strict' : 'lazy'} mode${viaStrict}`);
    }
  }

  /** iommu_group_alloc: the id comes from an IDA, i.e. the lowest id no live group holds (iommu.c:978). */
  allocGroup(): IommuGroup {
    let id = 0;
    while (this.groups.some((g) => g.id === id)) id++;
    const g = new IommuGroup(id);
    this.groups.push(g);
    this.groups.sort((a, b) => a.id - b.id);
    return g;
  }

  /** iommu_group_release once the last reference goes: the id returns to the IDA (iommu.c:937). */
  private releaseGroup(group: IommuGroup): void {
    const i = this.groups.indexOf(group);
    if (i >= 0) this.groups.splice(i, 1);
  }

  /**
   * of_iommu_configure + iommu_probe_device: xlate the specifier, let the driver probe, put the device
   * in a group and give the group its default domain. Returns 0 or -errno. On failure the device keeps
   * no IOMMU (the kernel then leaves it on dma-direct).
   */
  probeDevice(dev: IommuClientDevice, iommu: IommuDevice, ids: number[]): number {
    const ops = iommu.ops;
    // "Device is probed already if in a group" (iommu.c:540-542).
    if (dev.iommuGroup) return 0;
    let ret = ops.ofXlate(dev, iommu, ids);
    if (ret) return ret;
    ret = ops.probeDevice(dev);
    if (ret) {
      dev.iommuFwspec = undefined;
      return ret;
    }
    const group = ops.deviceGroup ? ops.deviceGroup(dev, this) : this.allocGroup();
    group.devices.push(dev);
    dev.iommuGroup = group;
    this.tracer.emit('iommu', 'group_add', { dev: dev.name, group: group.id });
    // 6.12 announces the group in iommu_group_alloc_device (iommu.c:1199), before any domain is set up,
    // so this line precedes the driver's attach messages even when that attach then fails.
    if (this.attachFailure === 'warn-default-domain') this.tracer.printk('info', `${dev.driverName} ${dev.name}: Adding to iommu group ${group.id}`);
    if (group.domain) {
      ret = this.attachToDomain(group.domain, dev);
      if (ret) return this.probeFailed(dev, group, ret);
    } else {
      ret = this.setupDefaultDomain(group, dev);
      if (ret) return this.probeFailed(dev, group, ret);
    }
    if (this.attachFailure === 'group-add-failed') this.tracer.printk('info', `iommu: Adding device ${dev.name} to group ${group.id}`);
    return 0;
  }

  private probeFailed(dev: IommuClientDevice, group: IommuGroup, ret: number): number {
    // __iommu_probe_device's error path: the device leaves the group, iommu_deinit_device frees the
    // default domain once the group is empty, ops->release_device runs.
    // iommu_deinit_device (iommu.c:454-500): release_device first, then, if the group is now empty, the
    // default domain is freed; the group's last reference goes and its id is released.
    group.devices.splice(group.devices.indexOf(dev), 1);
    const ops = dev.iommuFwspec?.iommu.ops;
    ops?.releaseDevice?.(dev);
    if (group.devices.length === 0) {
      const dom = group.defaultDomain;
      group.defaultDomain = undefined;
      group.domain = undefined;
      if (dom) this.domainFree(dom);
      this.releaseGroup(group);
    }
    dev.iommuGroup = undefined;
    dev.iommuFwspec = undefined;
    this.tracer.emit('iommu', 'probe_failed', { dev: dev.name, ret });
    return ret;
  }

  /** iommu_get_default_domain_type + iommu_group_alloc_default_domain + the must-succeed attach. */
  private setupDefaultDomain(group: IommuGroup, dev: IommuClientDevice): number {
    const ops = dev.iommuFwspec!.iommu.ops;
    const driverType = ops.defDomainType?.(dev) ?? 0;
    // iommu_group_alloc_default_domain (iommu.c:1604-1640): a driver's wish is final; otherwise the
    // global default, then DMA for IDENTITY/DMA_FQ defaults. A failed DMA default is -EINVAL.
    let dom: IommuDomain | null;
    let err = 0;
    if (driverType) {
      dom = this.domainAlloc(dev, driverType);
      if (!dom) err = this.lastAllocError;
    } else {
      dom = this.domainAlloc(dev, this.defDomainType);
      if (!dom && this.defDomainType === 'dma') err = -EINVAL;
      else if (!dom) {
        dom = this.domainAlloc(dev, 'dma');
        if (!dom) err = this.lastAllocError;
        else
          this.tracer.printk(
            'warn',
            `iommu: Failed to allocate default IOMMU domain of type ${DOMAIN_TYPE_VALUE[this.defDomainType]} for group ${group.name ?? '(null)'} - Falling back to IOMMU_DOMAIN_DMA`,
          );
      }
    }
    if (!dom) return err;
    group.defaultDomain = dom;
    const ret = this.attachToDomain(dom, dev);
    // __iommu_group_set_domain_internal with MUST_SUCCEED records the domain even when attach failed
    // (iommu.c:2346), so the later free finds group->domain == default_domain and does not WARN.
    if (this.attachFailure === 'warn-default-domain') group.domain = dom;
    if (ret) {
      if (this.attachFailure === 'group-add-failed') {
        this.tracer.printk('err', `iommu: Failed to add device ${dev.name} to group ${group.id}: ${ret}`);
        this.tracer.emit('iommu', 'group_add_failed', { dev: dev.name, group: group.id, ret, failure: 'attach-failed', message: `Failed to add device ${dev.name} to group ${group.id}: ${ret}` });
      } else {
        // Drivers may not fail the first attach: WARN_ON(ret) in iommu_setup_default_domain (iommu.c:2999).
        this.warnOn('drivers/iommu/iommu.c', 2999, 'iommu_setup_default_domain', `ret = ${ret}`);
      }
      return ret;
    }
    group.domain = dom;
    return 0;
  }

  /** The errno of the last failed domainAlloc (ERR_PTR value of __iommu_domain_alloc). */
  lastAllocError = 0;

  /** __iommu_group_domain_alloc for one type (iommu.c:1940-1990). */
  domainAlloc(dev: IommuClientDevice, type: DomainType): IommuDomain | null {
    const ops = dev.iommuFwspec!.iommu.ops;
    this.lastAllocError = 0;
    if (type === 'identity' && ops.identityDomain) return ops.identityDomain;
    if (type === 'blocked' && ops.blockedDomain) return ops.blockedDomain;
    if (!isPaging(type)) {
      // No static domain of that type: only a legacy domain_alloc could make one (apple-dart's hook).
      const d = type === 'identity' ? ops.domainAllocIdentity?.(dev) ?? null : null;
      if (!d) this.lastAllocError = type === 'identity' && ops.domainAllocIdentity ? -ENOMEM : -EOPNOTSUPP;
      return d;
    }
    const dom = ops.domainAllocPaging(dev);
    if (!dom) {
      this.lastAllocError = -ENOMEM;
      return null;
    }
    dom.type = type;
    if (!dom.pgsizeBitmap) dom.pgsizeBitmap = ops.pgsizeBitmap;
    this.tracer.emit('iommu', 'domain_alloc', { dev: dev.name, type });
    return dom;
  }

  domainFree(dom: IommuDomain): void {
    if (dom === dom.owner.identityDomain || dom === dom.owner.blockedDomain) return;
    dom.ops.free?.(dom);
    this.tracer.emit('iommu', 'domain_free', { type: dom.type });
  }

  attachToDomain(dom: IommuDomain, dev: IommuClientDevice): number {
    const ret = dom.ops.attachDev(dom, dev);
    this.tracer.emit('iommu', 'attach', { dev: dev.name, type: dom.type, ret });
    return ret;
  }

  /**
   * iommu_attach_device for an UNMANAGED domain a driver allocated itself (the Rockchip guide's flow),
   * iommu.c:2106-2125 and __iommu_attach_group: one device per group, no other non-default domain
   * attached (-EBUSY), the domain's driver must be the device's; a failed attach re-attaches the
   * group's current domain.
   */
  attachDevice(dom: IommuDomain, dev: IommuClientDevice): number {
    const group = dev.iommuGroup;
    if (!group) return -ENODEV;
    if (group.devices.length !== 1) return -EINVAL;
    if (group.domain && group.domain !== group.defaultDomain) return -EBUSY;
    if (dev.iommuFwspec?.iommu.ops !== dom.owner) return -EINVAL;
    if (group.domain === dom) return 0;
    const ret = this.attachToDomain(dom, dev);
    if (!ret) {
      group.domain = dom;
      return 0;
    }
    if (group.domain && this.attachToDomain(group.domain, dev)) this.warnOn('drivers/iommu/iommu.c', 2362, '__iommu_group_set_domain_internal', '__iommu_device_set_domain(...)');
    return ret;
  }

  /**
   * iommu_detach_device (iommu.c:2140-2155): back to the default domain; WARN when `dom` is not the
   * group's current domain (then nothing changes). Without `dom` the current domain is assumed.
   */
  detachDevice(dev: IommuClientDevice, dom?: IommuDomain): number {
    const group = dev.iommuGroup;
    if (!group || !group.defaultDomain) return -ENODEV;
    if (dom && dom !== group.domain) {
      this.warnOn('drivers/iommu/iommu.c', 2149, 'iommu_detach_device', 'domain != group->domain');
      return -EINVAL;
    }
    if (group.domain === group.defaultDomain) return 0;
    const ret = this.attachToDomain(group.defaultDomain, dev);
    if (ret) this.warnOn('drivers/iommu/iommu.c', 122, '__iommu_group_set_domain_nofail', 'ret');
    group.domain = group.defaultDomain;
    return ret;
  }

  warnOn(file: string, line: number, fn: string, cond: string): void {
    this.tracer.printk('warn', `WARNING: CPU: 0 PID: 1 at ${file}:${line} ${fn}+0x0/0x0`);
    this.tracer.emit('kernel', 'warn', { file, line, fn, cond, failure: 'warn', message: `WARN_ON(${cond}) in ${fn} (${file}:${line})` });
  }

  /**
   * iommu_map: split by pgsize, call map_pages, unroll on error, then iotlb_sync_map. With
   * `syncMap` false it is __iommu_map (iommu.c:2447-2506): no iotlb_sync_map (iommu_map_sg does one at the end).
   */
  map(dom: IommuDomain, iova: number, paddr: number, size: number, prot: number, gfp: number, syncMap = true): number {
    const ops = dom.ops;
    // "Discourage passing strange GFP flags": WARN_ON_ONCE, -EINVAL (iommu.c:2518-2520).
    if (gfp & (GFP.__GFP_COMP | GFP.__GFP_DMA | GFP.__GFP_DMA32 | GFP.__GFP_HIGHMEM)) {
      if (!this.warnedStrangeGfp) this.warnOn('drivers/iommu/iommu.c', 2519, 'iommu_map', 'gfp & (__GFP_COMP | __GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)');
      this.warnedStrangeGfp = true;
      return -EINVAL;
    }
    if (!isPaging(dom.type)) return -EINVAL;
    if (!ops.mapPages || dom.pgsizeBitmap === 0) {
      this.warnOn('drivers/iommu/iommu.c', 2460, '__iommu_map', '!ops->map_pages || domain->pgsize_bitmap == 0UL');
      return -ENODEV;
    }
    const minPagesz = lowestBit(dom.pgsizeBitmap);
    if (iova % minPagesz || paddr % minPagesz || size % minPagesz) {
      this.tracer.printk('err', `iommu: unaligned: iova ${hex(iova)} pa ${kPad(paddr)} size ${hex(size)} min_pagesz ${hex(minPagesz)}`);
      return -EINVAL;
    }
    const origIova = iova;
    const origSize = size;
    let ret = 0;
    let remaining = size;
    while (remaining) {
      const { pgsize, count } = iommuPgsize(dom.pgsizeBitmap, iova, paddr, remaining);
      const r = ops.mapPages(dom, iova, paddr, pgsize, count, prot, gfp);
      remaining -= r.mapped;
      ret = r.ret;
      if (ret) break;
      iova += r.mapped;
      paddr += r.mapped;
    }
    if (ret) {
      this.unmap(dom, origIova, origSize - remaining);
      return ret;
    }
    this.tracer.emit('iommu', 'map', { iova: origIova, paddr: paddr - origSize, size: origSize, prot });
    if (syncMap && ops.iotlbSyncMap) {
      ret = ops.iotlbSyncMap(dom, origIova, origSize);
      if (ret) {
        this.unmap(dom, origIova, origSize);
        return ret;
      }
    }
    return 0;
  }

  /**
   * iommu_map_sg (iommu.c:2616-2674) for runs already merged where physically contiguous: one
   * __iommu_map per run at consecutive IOVAs, one iotlb_sync_map for the lot; on error everything
   * mapped so far is unmapped. Returns bytes mapped or -errno.
   */
  mapSg(dom: IommuDomain, iova: number, runs: readonly { phys: number; length: number }[], prot: number, gfp: number): number {
    if (gfp & (GFP.__GFP_COMP | GFP.__GFP_DMA | GFP.__GFP_DMA32 | GFP.__GFP_HIGHMEM)) {
      if (!this.warnedStrangeGfp) this.warnOn('drivers/iommu/iommu.c', 2629, 'iommu_map_sg', 'gfp & (__GFP_COMP | __GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)');
      this.warnedStrangeGfp = true;
      return -EINVAL;
    }
    let mapped = 0;
    let ret = 0;
    for (const r of runs) {
      ret = this.map(dom, iova + mapped, r.phys, r.length, prot, gfp, false);
      if (ret) break;
      mapped += r.length;
    }
    if (!ret && dom.ops.iotlbSyncMap) ret = dom.ops.iotlbSyncMap(dom, iova, mapped);
    if (ret) {
      this.unmap(dom, iova, mapped);
      return ret;
    }
    return mapped;
  }

  /** __iommu_unmap: returns bytes unmapped; stops at the first hole. Gather synced by the caller or here. */
  unmapFast(dom: IommuDomain, iova: number, size: number, gather: IotlbGather): number {
    const ops = dom.ops;
    if (!isPaging(dom.type)) return 0;
    if (!ops.unmapPages || dom.pgsizeBitmap === 0) {
      this.warnOn('drivers/iommu/iommu.c', 2552, '__iommu_unmap', '!ops->unmap_pages || domain->pgsize_bitmap == 0UL');
      return 0;
    }
    const minPagesz = lowestBit(dom.pgsizeBitmap);
    if (iova % minPagesz || size % minPagesz) {
      this.tracer.printk('err', `iommu: unaligned: iova ${hex(iova)} size ${hex(size)} min_pagesz ${hex(minPagesz)}`);
      return 0;
    }
    let unmapped = 0;
    const orig = iova;
    while (unmapped < size) {
      const { pgsize, count } = iommuPgsize(dom.pgsizeBitmap, iova, iova, size - unmapped);
      const n = ops.unmapPages(dom, iova, pgsize, count, gather);
      if (!n) break;
      iova += n;
      unmapped += n;
    }
    this.tracer.emit('iommu', 'unmap', { iova: orig, size, unmapped });
    return unmapped;
  }

  unmap(dom: IommuDomain, iova: number, size: number): number {
    const gather = newGather();
    const n = this.unmapFast(dom, iova, size, gather);
    dom.ops.iotlbSync?.(dom, gather);
    return n;
  }

  iovaToPhys(dom: IommuDomain, iova: number): number {
    if (dom.type === 'identity') return iova;
    if (dom.type === 'blocked') return 0;
    return dom.ops.iovaToPhys?.(dom, iova) ?? 0;
  }
}

export function lowestBit(n: number): number {
  // n < 2^53; find the lowest set bit without 32-bit truncation.
  let b = 1;
  while (b <= n && Math.floor(n / b) % 2 === 0) b *= 2;
  return b;
}

function highestBitAtMost(n: number): number {
  if (n <= 0) return 0;
  return 2 ** Math.floor(Math.log2(n));
}

/**
 * iommu_pgsize(): the largest page size allowed by the bitmap, the size and the alignment of
 * iova|paddr; and how many of them before a larger page size could take over.
 */
export function iommuPgsize(bitmap: number, iova: number, paddr: number, size: number): { pgsize: number; count: number } {
  // Sizes are powers of two up to 2^52: iterate over the bitmap's set bits.
  const maxBySize = highestBitAtMost(size);
  const addrMerge = iova + paddr === 0 ? 0 : lowestBit(orBits(iova, paddr));
  let pgsize = 0;
  for (let b = 1; b <= maxBySize; b *= 2) {
    if (!bitSet(bitmap, b)) continue;
    if (addrMerge && b > addrMerge) break;
    pgsize = b;
  }
  if (!pgsize) throw new Error(`BUG: iommu_pgsize found no page size (bitmap ${hex(bitmap)}, iova ${hex(iova)}, pa ${hex(paddr)}, size ${hex(size)})`);
  let next = 0;
  for (let b = pgsize * 2; b <= 2 ** 52; b *= 2) {
    if (bitSet(bitmap, b)) {
      next = b;
      break;
    }
  }
  let run = size;
  // Only worth stopping early when iova and paddr sit at the same offset within the larger page; then
  // (iova | paddr) & (next - 1) is just iova's offset.
  if (next && iova % next === paddr % next) {
    const offset = next - (iova % next);
    if (offset + next <= size) run = offset;
  }
  return { pgsize, count: Math.floor(run / pgsize) };
}

function bitSet(bitmap: number, b: number): boolean {
  return Math.floor(bitmap / b) % 2 === 1;
}

function orBits(a: number, b: number): number {
  const hi = ((Math.floor(a / 2 ** 32) | Math.floor(b / 2 ** 32)) >>> 0) * 2 ** 32;
  return hi + ((a | b) >>> 0);
}
