/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory table: region bookkeeping and address translation.
 *
 * Security model: region descriptions come from the frontend (SET_MEM_TABLE,
 * ADD_MEM_REG); addresses to translate come from the guest (descriptors)
 * or the frontend (vring addresses). Every range is checked for 64-bit
 * wrap-around and must lie entirely inside one mapped region, so no
 * translated pointer can reach outside what core/mem.c mapped.
 */
#include <errno.h>
#include <string.h>

#include "proto/memmap.h"

/* [a, a + alen) and [b, b + blen) intersect; lengths > 0, no wrap. */
static bool
ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static bool
wraps(uint64_t start, uint64_t len)
{
	return start + len < start;
}

int
memmap_check(const struct memmap *m, uint64_t gpa, uint64_t size,
	     uint64_t uva, uint64_t mmap_offset)
{
	if (size == 0 || wraps(gpa, size) || wraps(uva, size) ||
	    wraps(mmap_offset, size))
		return -EINVAL;
	for (unsigned i = 0; i < m->n; i++) {
		const struct memmap_region *r = &m->r[i];

		if (ranges_overlap(gpa, size, r->gpa, r->size) ||
		    ranges_overlap(uva, size, r->uva, r->size))
			return -EEXIST;
	}
	if (m->n >= MEMMAP_MAX_REGIONS)
		return -ENOSPC;
	return 0;
}

int
memmap_insert(struct memmap *m, const struct memmap_region *r)
{
	unsigned i;

	if (m->n >= MEMMAP_MAX_REGIONS)
		return -ENOSPC;
	for (i = m->n; i > 0 && m->r[i - 1].gpa > r->gpa; i--)
		m->r[i] = m->r[i - 1];
	m->r[i] = *r;
	m->n++;
	return 0;
}

int
memmap_find(const struct memmap *m, uint64_t gpa, uint64_t size, uint64_t uva)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct memmap_region *r = &m->r[i];

		if (r->gpa == gpa && r->size == size && r->uva == uva)
			return (int)i;
	}
	return -ENOENT;
}

void
memmap_remove(struct memmap *m, unsigned i)
{
	if (i >= m->n)
		return;
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(m->r[0]));
	m->n--;
}

/* The region holding gpa, by binary search over the sorted table. */
static const struct memmap_region *
find_gpa(const struct memmap *m, uint64_t gpa)
{
	unsigned lo = 0, hi = m->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct memmap_region *r = &m->r[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* Host pointer of [off, off + len) in region r, or NULL if it runs out. */
static void *
region_range(const struct memmap_region *r, uint64_t off, uint64_t len)
{
	if (!r || len > r->size - off)
		return NULL;
	return r->host + off;
}

void *
memmap_gpa(const struct memmap *m, uint64_t gpa, uint64_t len)
{
	const struct memmap_region *r = find_gpa(m, gpa);

	return r ? region_range(r, gpa - r->gpa, len) : NULL;
}

uint64_t
memmap_gpa_span(const struct memmap *m, uint64_t gpa, uint64_t len,
		void **host)
{
	const struct memmap_region *r = find_gpa(m, gpa);
	uint64_t off, avail;

	if (!r)
		return 0;
	off = gpa - r->gpa;
	avail = r->size - off;
	*host = r->host + off;
	return len < avail ? len : avail;
}

static const struct memmap_region *
find_uva(const struct memmap *m, uint64_t uva)
{
	/* Only used when rings are set up: a linear walk is fine. */
	for (unsigned i = 0; i < m->n; i++) {
		const struct memmap_region *r = &m->r[i];

		if (uva >= r->uva && uva - r->uva < r->size)
			return r;
	}
	return NULL;
}

void *
memmap_uva(const struct memmap *m, uint64_t uva, uint64_t len)
{
	const struct memmap_region *r = find_uva(m, uva);

	return r ? region_range(r, uva - r->uva, len) : NULL;
}

bool
memmap_uva_to_gpa(const struct memmap *m, uint64_t uva, uint64_t *gpa)
{
	const struct memmap_region *r = find_uva(m, uva);

	if (!r)
		return false;
	*gpa = r->gpa + (uva - r->uva);
	return true;
}
