/* Helpers shared by the libFuzzer targets: reading fields off the input, invariant checks, a fake guest memory map. */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "proto/memmap.h"

/*
 * An invariant of the code under test does not hold: say which, then
 * trap, so that libFuzzer saves the input as a crash.
 */
#define FUZZ_CHECK(cond)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", \
				__FILE__, __LINE__, #cond);               \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

#define FUZZ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The input, consumed front to back; reads past its end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline bool
fuzz_empty(const struct fuzz_in *in)
{
	return in->n == 0;
}

static inline void
fuzz_bytes(struct fuzz_in *in, void *dst, size_t len)
{
	size_t take = len < in->n ? len : in->n;

	memcpy(dst, in->p, take);
	memset((uint8_t *)dst + take, 0, len - take);
	in->p += take;
	in->n -= take;
}

static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	fuzz_bytes(in, &v, sizeof(v));
	return v;
}

/* Little-endian, whatever the host. */
static inline uint16_t
fuzz_u16(struct fuzz_in *in)
{
	uint8_t b[2];

	fuzz_bytes(in, b, sizeof(b));
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t
fuzz_u32(struct fuzz_in *in)
{
	uint8_t b[4];

	fuzz_bytes(in, b, sizeof(b));
	return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t
fuzz_u64(struct fuzz_in *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/*
 * Fake guest memory: 1 to FUZZ_MEM_MAX_REGIONS regions, all carved out of
 * one malloc'd buffer, in the order the input describes them. Either the
 * slices touch (a buffer spanning two regions that are adjacent in both
 * address spaces becomes one host run), or they are 16-aligned and
 * separated by poisoned red zones, so that ASan catches any access that
 * strays from one region into the next.
 */
#define FUZZ_MEM_MAX_REGIONS 4
#define FUZZ_MEM_REDZONE 32

struct fuzz_mem_region {
	uint64_t gpa, size;
	uint8_t *host;
};

struct fuzz_mem {
	struct memmap map;	/* what the code under test translates through */
	uint8_t *buf;		/* the one allocation behind every region */
	size_t len;
	bool redzones;
	unsigned nreg;		/* regions the table accepted, host order */
	struct fuzz_mem_region reg[FUZZ_MEM_MAX_REGIONS];
};

static inline uint64_t
fuzz_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Read a memory layout off the input and build it: region sizes are
 * 1..max_size bytes, guest addresses mostly small and often adjacent,
 * sometimes anywhere in 64 bits (memmap_check turns away those that wrap
 * or overlap). The buffer is zeroed. Returns false when no region was
 * accepted or the allocation failed.
 */
static inline bool
fuzz_mem_build(struct fuzz_mem *m, struct fuzz_in *in, uint32_t max_size)
{
	uint8_t head = fuzz_u8(in);
	unsigned want = 1 + head % FUZZ_MEM_MAX_REGIONS;
	uint64_t next_gpa = 0x10000, off = 0;

	m->map.n = 0;
	m->nreg = 0;
	m->buf = NULL;
	m->redzones = head & 0x04;
	for (unsigned i = 0; i < want; i++) {
		uint8_t mode = fuzz_u8(in);
		uint64_t size = 1 + fuzz_u16(in) % max_size, gpa;
		struct memmap_region r = { 0 };

		switch (mode & 3) {
		case 0:		/* right after the previous one */
			gpa = next_gpa;
			break;
		case 1:		/* a little further on */
			gpa = next_gpa + fuzz_u16(in);
			break;
		case 2:
			gpa = fuzz_u32(in);
			break;
		default:
			gpa = fuzz_u64(in);
			break;
		}
		r.gpa = gpa;
		r.size = size;
		r.uva = 0x7f0000000000ull + (uint64_t)i * 0x100000000ull;
		if (memmap_check(&m->map, r.gpa, r.size, r.uva, 0) ||
		    memmap_insert(&m->map, &r))
			continue;
		if (m->redzones)
			off = fuzz_align_up(off, 16) + (m->nreg ? FUZZ_MEM_REDZONE : 0);
		m->reg[m->nreg] = (struct fuzz_mem_region){
			.gpa = gpa, .size = size, .host = (uint8_t *)(uintptr_t)off,
		};
		m->nreg++;
		off += size;
		next_gpa = gpa + size;
	}
	if (!m->nreg)
		return false;
	m->len = off;
	m->buf = calloc(1, m->len);
	if (!m->buf) {
		m->map.n = 0;
		m->nreg = 0;
		return false;
	}
	for (unsigned i = 0; i < m->nreg; i++) {
		struct fuzz_mem_region *fr = &m->reg[i];

		fr->host = m->buf + (uintptr_t)fr->host;
		for (unsigned j = 0; j < m->map.n; j++)
			if (m->map.r[j].gpa == fr->gpa)
				m->map.r[j].host = fr->host;
		/* The red zone before this region. */
		if (i > 0 && m->redzones) {
			uint8_t *end = m->reg[i - 1].host + m->reg[i - 1].size;

			ASAN_POISON_MEMORY_REGION(end, (size_t)(fr->host - end));
		}
	}
	return true;
}

static inline void
fuzz_mem_free(struct fuzz_mem *m)
{
	if (m->buf) {
		ASAN_UNPOISON_MEMORY_REGION(m->buf, m->len);
		free(m->buf);
	}
	m->buf = NULL;
	m->map.n = 0;
	m->nreg = 0;
}

/* Fill every region with a position-dependent pattern. */
static inline void
fuzz_mem_pattern(struct fuzz_mem *m, uint8_t seed)
{
	for (unsigned i = 0; i < m->nreg; i++)
		for (uint64_t k = 0; k < m->reg[i].size; k++)
			m->reg[i].host[k] = (uint8_t)(seed + i * 61 + k * 7 + (k >> 8));
}

/*
 * [p, p + len) lies in guest memory: in one region, or across regions
 * whose slices touch. len 0 is never "inside".
 */
static inline bool
fuzz_mem_covers(const struct fuzz_mem *m, const void *p, size_t len)
{
	uintptr_t q = (uintptr_t)p;

	if (len == 0)
		return false;
	while (len) {
		size_t n = 0;

		for (unsigned i = 0; i < m->nreg; i++) {
			uintptr_t start = (uintptr_t)m->reg[i].host;
			uintptr_t end = start + m->reg[i].size;

			if (q >= start && q < end) {
				n = end - q;
				break;
			}
		}
		if (n == 0)
			return false;
		if (n > len)
			n = len;
		q += n;
		len -= n;
	}
	return true;
}

/* [p, p + len) lies wholly in one region. */
static inline bool
fuzz_mem_in_one(const struct fuzz_mem *m, const void *p, size_t len)
{
	uintptr_t q = (uintptr_t)p;

	for (unsigned i = 0; i < m->nreg; i++) {
		uintptr_t start = (uintptr_t)m->reg[i].host;

		if (q >= start && len <= m->reg[i].size &&
		    q - start <= m->reg[i].size - len)
			return true;
	}
	return false;
}

/*
 * A guest address: usually in (or just past) one of the regions, so that
 * the fuzzer hits mapped memory without having to guess it; with the top
 * bit of the selector set, any 64-bit value.
 */
static inline uint64_t
fuzz_mem_addr(const struct fuzz_mem *m, struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);
	const struct fuzz_mem_region *r;

	if ((sel & 0x80) || !m->nreg)
		return fuzz_u64(in);
	r = &m->reg[sel % m->nreg];
	if (sel & 0x40)		/* near the end, to straddle it */
		return r->gpa + r->size - (fuzz_u8(in) % 64);
	return r->gpa + fuzz_u16(in) % (r->size + 16);
}

#endif /* TESTS_FUZZ_FUZZ_H */
