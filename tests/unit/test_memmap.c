/* Unit tests for the guest memory table and address translation. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/memmap.h"

static struct memmap mm;
static uint8_t backing[3][4096];

static void
add(uint64_t gpa, uint64_t size, uint64_t uva, uint8_t *host)
{
	struct memmap_region r = {
		.gpa = gpa, .size = size, .uva = uva, .host = host,
	};

	cr_assert_eq(memmap_check(&mm, gpa, size, uva, 0), 0);
	cr_assert_eq(memmap_insert(&mm, &r), 0);
}

static void
setup(void)
{
	memset(&mm, 0, sizeof(mm));
	/* Inserted out of order: the table sorts itself. */
	add(0x10000, 4096, 0x7000000, backing[1]);
	add(0x0, 4096, 0x5000000, backing[0]);
	add(0x11000, 4096, 0x9000000, backing[2]);	/* adjacent to [1] */
}

TestSuite(memmap, .init = setup);

Test(memmap, sorted)
{
	cr_expect_eq(mm.n, 3);
	cr_expect_eq(mm.r[0].gpa, 0);
	cr_expect_eq(mm.r[1].gpa, 0x10000);
	cr_expect_eq(mm.r[2].gpa, 0x11000);
}

Test(memmap, gpa_translation)
{
	cr_expect_eq(memmap_gpa(&mm, 0, 4096), backing[0]);
	cr_expect_eq(memmap_gpa(&mm, 0x10010, 16), backing[1] + 0x10);
	cr_expect_eq(memmap_gpa(&mm, 0x10fff, 1), backing[1] + 0xfff);
	cr_expect_eq(memmap_gpa(&mm, 0x11000, 0), backing[2]);
}

struct bad_range {
	uint64_t gpa, len;
};

Test(memmap, gpa_out_of_range)
{
	static const struct bad_range bad[] = {
		{ 0x1000, 1 },			/* hole */
		{ 0xfff, 2 },			/* runs off region 0 */
		{ 0x10ff0, 0x20 },		/* spans two regions */
		{ 0x12000, 0 },			/* past the end */
		{ UINT64_MAX, 1 },
		{ 0x10000, UINT64_MAX },	/* length wraps */
		{ 0x10001, UINT64_MAX },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_null(memmap_gpa(&mm, bad[i].gpa, bad[i].len), "case %zu", i);
}

Test(memmap, span_across_regions)
{
	void *host;

	cr_expect_eq(memmap_gpa_span(&mm, 0x10ff0, 0x20, &host), 0x10);
	cr_expect_eq(host, backing[1] + 0xff0);
	cr_expect_eq(memmap_gpa_span(&mm, 0x11000, 0x10, &host), 0x10);
	cr_expect_eq(host, backing[2]);
	cr_expect_eq(memmap_gpa_span(&mm, 0x2000, 1, &host), 0, "unmapped");
	cr_expect_eq(memmap_gpa_span(&mm, 0x0, UINT64_MAX, &host), 4096);
}

Test(memmap, uva_translation)
{
	uint64_t gpa;

	cr_expect_eq(memmap_uva(&mm, 0x7000010, 16), backing[1] + 0x10);
	cr_expect_null(memmap_uva(&mm, 0x7000ff0, 32));
	cr_expect_null(memmap_uva(&mm, 0x6000000, 1));
	cr_expect_null(memmap_uva(&mm, 0x7000000, UINT64_MAX));
	cr_expect(memmap_uva_to_gpa(&mm, 0x9000004, &gpa));
	cr_expect_eq(gpa, 0x11004);
	cr_expect_not(memmap_uva_to_gpa(&mm, 0x1, &gpa));
}

struct check_case {
	uint64_t gpa, size, uva, off;
	int want;
};

Test(memmap, check_regions)
{
	static const struct check_case cases[] = {
		{ 0x20000, 4096, 0xa000000, 0, 0 },
		{ 0x20000, 0, 0xa000000, 0, -EINVAL },			/* empty */
		{ UINT64_MAX - 10, 4096, 0xa000000, 0, -EINVAL },	/* gpa wraps */
		{ 0x20000, 4096, UINT64_MAX - 10, 0, -EINVAL },	/* uva wraps */
		{ 0x20000, 4096, 0xa000000, UINT64_MAX - 10, -EINVAL },	/* offset wraps */
		{ 0x800, 4096, 0xa000000, 0, -EEXIST },		/* gpa overlaps [0] */
		{ 0x20000, 4096, 0x7000800, 0, -EEXIST },		/* uva overlaps [1] */
		{ 0x12000, 4096, 0xb000000, 0, 0 },			/* adjacent is fine */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(memmap_check(&mm, cases[i].gpa, cases[i].size,
					  cases[i].uva, cases[i].off),
			     cases[i].want, "case %zu", i);
}

Test(memmap, find_and_remove)
{
	int i = memmap_find(&mm, 0x10000, 4096, 0x7000000);

	cr_assert_eq(i, 1);
	cr_expect_eq(memmap_find(&mm, 0x10000, 4096, 0x7000001), -ENOENT);
	cr_expect_eq(memmap_find(&mm, 0x10000, 8192, 0x7000000), -ENOENT);
	memmap_remove(&mm, (unsigned)i);
	cr_expect_eq(mm.n, 2);
	cr_expect_null(memmap_gpa(&mm, 0x10000, 1));
	cr_expect_eq(memmap_gpa(&mm, 0x11000, 1), backing[2]);
	memmap_remove(&mm, 99);	/* out of range: ignored */
	cr_expect_eq(mm.n, 2);
}

Test(memmap, full_table)
{
	memset(&mm, 0, sizeof(mm));
	for (unsigned i = 0; i < MEMMAP_MAX_REGIONS; i++)
		add((uint64_t)i << 20, 4096, (uint64_t)(i + 1) << 32, backing[0]);
	cr_expect_eq(memmap_check(&mm, 0xffff0000000, 4096, 0x1, 0), -ENOSPC);
	cr_expect_eq(memmap_gpa(&mm, (uint64_t)300 << 20, 8), backing[0]);
	cr_expect_null(memmap_gpa(&mm, ((uint64_t)300 << 20) + 4096, 1));
}
