/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Mapping the frontend's memory regions into our address space. */
#ifndef CORE_MEM_H
#define CORE_MEM_H

#include "proto/memmap.h"
#include "proto/vu_msg.h"

/*
 * Check d against m, map it from fd (MAP_SHARED, at its offset) and fill
 * *r. The fd stays the caller's. Returns 0 or -errno; nothing is mapped
 * on failure.
 */
int mem_map_region(const struct memmap *m, struct memmap_region *r,
		   const struct vu_mem_region *d, int fd);

void mem_unmap_region(struct memmap_region *r);

/* Unmap every region and empty the table. */
void mem_unmap_all(struct memmap *m);

#endif /* CORE_MEM_H */
