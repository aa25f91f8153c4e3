/*
 * iommu-lab bench shim: WARN_ON and friends. Like the kernel's, WARN_ON(cond) evaluates to the
 * condition so `if (WARN_ON(x)) return ...` works; a true condition prints file:line to stderr (the
 * harness counts warnings and reports them: the bench never expects one). VM_BUG_ON compiles to
 * nothing, as in a kernel without CONFIG_DEBUG_VM.
 */
#ifndef KSHIM_LINUX_BUG_H
#define KSHIM_LINUX_BUG_H

void kshim_warn(const char *file, int line, const char *cond);

#define WARN_ON(cond) ({ \
	int __kshim_c = !!(cond); \
	if (__builtin_expect(__kshim_c, 0)) \
		kshim_warn(__FILE__, __LINE__, #cond); \
	__kshim_c; \
})
#define WARN(cond, ...) WARN_ON(cond)
/* Each fired WARN_ON_ONCE is reported like a WARN_ON (a vector records every one: none is expected twice). */
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define BUG_ON(cond) do { if (cond) __builtin_trap(); } while (0)
#define VM_BUG_ON(cond) do { (void)sizeof(cond); } while (0)

#endif
