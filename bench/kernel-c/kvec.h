/*
 * iommu-lab kernel vectors: what vectors.c and rockchip-vectors.c share (our code). A seeded
 * pseudo-random source, the JSON array of events a call raised (WARN_ON hits, table syncs and frees
 * reported by kshim.c's observers), and the FNV-1a hash the tests take of a table region.
 * Included once by each program: its definitions are static.
 */
#ifndef KVEC_H
#define KVEC_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>
#include <linux/mm.h>
#include "kshim.h"

/* ---- xorshift64*, seeded by splitmix64 of SEED: distinct seeds give unrelated, non-zero states ---- */

static u64 rng_state;

static void rng_seed(u64 seed)
{
	u64 z = seed + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	rng_state = (z ^ (z >> 31)) | 1;
}

static u64 rnd(void)
{
	u64 x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static u64 below(u64 n)
{
	return n ? rnd() % n : 0;
}

/* ---- the events of the current call, as the body of a JSON array ---- */

static char events[1 << 20];
static size_t events_len;

static void event(const char *fmt, ...)
{
	va_list ap;

	if (events_len + 512 > sizeof(events)) {
		fprintf(stderr, "kernel vectors: too many events in one call\n");
		exit(1);
	}
	if (events_len)
		events[events_len++] = ',';
	va_start(ap, fmt);
	events_len += vsnprintf(events + events_len, sizeof(events) - events_len, fmt, ap);
	va_end(ap);
}

static void events_reset(void)
{
	events_len = 0;
	events[0] = 0;
}

static const char *basename_of(const char *file)
{
	const char *base = strrchr(file, '/');

	return base ? base + 1 : file;
}

static void on_warn(const char *file, int line)
{
	event("[\"warn\",\"%s\",%d]", basename_of(file), line);
}

static void on_sync(phys_addr_t pa, size_t size)
{
	event("[\"sync\",\"0x%llx\",\"0x%zx\"]", (unsigned long long)pa, size);
}

static void on_free(phys_addr_t pa, size_t size)
{
	event("[\"free\",\"0x%llx\",\"0x%zx\"]", (unsigned long long)pa, size);
}

/* ---- what was mapped, to aim unmaps and probes at it ---- */

#define MAX_RANGES 4096
static struct range {
	u64 iova, size, pgsize;
} ranges[MAX_RANGES];
static int nranges;

static void remember(u64 iova, u64 size, u64 pgsize)
{
	if (size == 0)
		return;
	if (nranges == MAX_RANGES)
		ranges[below(MAX_RANGES)] = (struct range){ iova, size, pgsize };
	else
		ranges[nranges++] = (struct range){ iova, size, pgsize };
}

/* Two times in three, when anything was mapped: an IOVA inside a remembered range (returns 1). */
static int pick_mapped(u64 *iova)
{
	struct range *g;

	if (!nranges || !below(3))
		return 0;
	g = &ranges[below(nranges)];
	*iova = g->iova + below(g->size);
	return 1;
}

/* 32-bit FNV-1a, the hash the tests (and the bench's JS side) take of a table region. */
static u32 fnv1a(const u8 *p, size_t len)
{
	u32 h = 0x811c9dc5u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x01000193u;
	return h;
}

/* The table region as it is now: the allocator's end and the hash of [tbase, end), as a JSON member. */
static void print_tables(phys_addr_t tbase)
{
	phys_addr_t end = kshim_next_free();

	printf("\"tables\":{\"end\":\"0x%llx\",\"fnv1a\":\"0x%08x\"},", (unsigned long long)end, fnv1a(__va(tbase), end - tbase));
}

#endif
