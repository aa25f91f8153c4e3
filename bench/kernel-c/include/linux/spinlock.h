/*
 * iommu-lab shim (our code): spinlocks for the Rockchip kernel vectors, which run the driver on one
 * thread - taking a lock is a counter, so a path that forgets to unlock would still show up in a debugger.
 */
#ifndef KSHIM_LINUX_SPINLOCK_H
#define KSHIM_LINUX_SPINLOCK_H

typedef struct {
	int held;
} spinlock_t;

#define spin_lock_init(l) ((l)->held = 0)
#define spin_lock_irqsave(l, flags) do { (flags) = 0; (l)->held++; } while (0)
#define spin_unlock_irqrestore(l, flags) do { (void)(flags); (l)->held--; } while (0)
#define assert_spin_locked(l) BUG_ON(!(l)->held)

#endif
