/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The frontend's memory regions and address translation.
 *
 * The table only records where each region lives in our address space;
 * mapping and unmapping are core/mem.c's job. Lookups are by guest-physical
 * address (descriptors) or by frontend virtual address (vring addresses).
 * Pure code: no syscalls, no allocation.
 */
#ifndef PROTO_MEMMAP_H
#define PROTO_MEMMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What GET_MAX_MEM_SLOTS answers: as many as libvhost-user allows. */
#define MEMMAP_MAX_REGIONS 509

struct memmap_region {
	uint64_t gpa;		/* guest-physical start */
	uint64_t size;		/* bytes, > 0 */
	uint64_t uva;		/* the frontend's virtual address of gpa */
	uint64_t mmap_offset;	/* offset of gpa in the region's fd */
	uint8_t *host;		/* where gpa is in our address space */
	void *map_base;		/* owned by core/mem.c: what munmap takes */
	size_t map_len;
};

struct memmap {
	unsigned n;	/* regions in use, sorted by gpa, never overlapping */
	struct memmap_region r[MEMMAP_MAX_REGIONS];
};

/*
 * Check a region the frontend describes before anything is mapped: size
 * non-zero, no 64-bit wrap of gpa, uva or mmap_offset + size, and no
 * overlap with a region already in m (in either address space).
 * Returns 0 or -EINVAL (bad region), -EEXIST (overlap), -ENOSPC (full).
 */
int memmap_check(const struct memmap *m, uint64_t gpa, uint64_t size,
		 uint64_t uva, uint64_t mmap_offset);

/* Insert a checked region, keeping the table sorted. 0 or -ENOSPC. */
int memmap_insert(struct memmap *m, const struct memmap_region *r);

/* Index of the region with exactly this gpa, size and uva, or -ENOENT. */
int memmap_find(const struct memmap *m, uint64_t gpa, uint64_t size,
		uint64_t uva);

/* Drop region i from the table (the caller unmaps it first). */
void memmap_remove(struct memmap *m, unsigned i);

/*
 * Host pointer for [gpa, gpa + len) when the whole range lies in one
 * region, else NULL. len may be 0 (then gpa itself must be mapped).
 */
void *memmap_gpa(const struct memmap *m, uint64_t gpa, uint64_t len);

/* The same for a frontend virtual address. */
void *memmap_uva(const struct memmap *m, uint64_t uva, uint64_t len);

/*
 * For ranges that may span regions: the host pointer of gpa in *host and
 * how many bytes from gpa (at most len) are contiguous there. Returns 0
 * when gpa is not mapped.
 */
uint64_t memmap_gpa_span(const struct memmap *m, uint64_t gpa, uint64_t len,
			 void **host);

/* Guest-physical address of a frontend virtual address; false if unmapped. */
bool memmap_uva_to_gpa(const struct memmap *m, uint64_t uva, uint64_t *gpa);

#endif /* PROTO_MEMMAP_H */
