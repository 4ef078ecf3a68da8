/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory mapping.
 *
 * Security model: the frontend names an fd, an offset into it and a size.
 * The range is checked for wrap-around and overlap (proto/memmap.c) and,
 * for regular files and memfds, against the file's size, so that touching
 * guest memory can never fault past the end of the file. A frontend that
 * shrinks the file after we mapped it can still make us fault; QEMU never
 * does, and the threat model in docs/robustness.md says so.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

/* Mapping granularity: huge pages for hugetlbfs (st_blksize says). */
static uint64_t
map_align(const struct stat *st)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t blk = (uint64_t)st->st_blksize;

	if (blk > page && (blk & (blk - 1)) == 0)
		return blk;
	return page;
}

int
mem_map_region(const struct memmap *m, struct memmap_region *r,
	       const struct vu_mem_region *d, int fd)
{
	uint64_t align, start, lead, len;
	struct stat st;
	void *base;
	int ret;

	ret = memmap_check(m, d->guest_phys_addr, d->memory_size,
			   d->userspace_addr, d->mmap_offset);
	if (ret)
		return ret;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -EBADF;
	if (S_ISREG(st.st_mode) &&
	    d->mmap_offset + d->memory_size > (uint64_t)st.st_size)
		return -ERANGE;
	align = map_align(&st);
	start = d->mmap_offset & ~(align - 1);
	lead = d->mmap_offset - start;
	len = lead + d->memory_size;
	if (len < lead || len > SIZE_MAX || start > INT64_MAX)
		return -EINVAL;
	base = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, fd, (off_t)start);
	if (base == MAP_FAILED)
		return -errno;
	memset(r, 0, sizeof(*r));
	r->gpa = d->guest_phys_addr;
	r->size = d->memory_size;
	r->uva = d->userspace_addr;
	r->mmap_offset = d->mmap_offset;
	r->host = (uint8_t *)base + lead;
	r->map_base = base;
	r->map_len = (size_t)len;
	return 0;
}

void
mem_unmap_region(struct memmap_region *r)
{
	if (r->map_base)
		munmap(r->map_base, r->map_len);
	r->map_base = NULL;
	r->host = NULL;
}

void
mem_unmap_all(struct memmap *m)
{
	for (unsigned i = 0; i < m->n; i++)
		mem_unmap_region(&m->r[i]);
	m->n = 0;
}
