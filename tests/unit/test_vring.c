/* Split virtqueue walker: chains, indirect tables, malformed input, publish and notification suppression. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/memmap.h"
#include "proto/vring.h"

/*
 * Fake guest memory: two adjacent regions A and B (separate host
 * allocations, so a buffer across the boundary takes two iovecs), then an
 * unmapped hole. The ring and the indirect tables live in A.
 */
#define NUM		16u
#define A_GPA		0x100000ull
#define A_SIZE		0x10000ull
#define B_GPA		(A_GPA + A_SIZE)
#define B_SIZE		0x10000ull
#define HOLE		(B_GPA + B_SIZE)
#define DESC_GPA	A_GPA
#define AVAIL_GPA	(A_GPA + 0x1000)
#define USED_GPA	(A_GPA + 0x2000)
#define IND_GPA		(A_GPA + 0x4000)
#define BUF		(A_GPA + 0x8000)

#define F_N	VRING_DESC_F_NEXT
#define F_W	VRING_DESC_F_WRITE
#define F_I	VRING_DESC_F_INDIRECT

static uint8_t *host_a, *host_b;
static struct memmap mem;
static struct vring_queue vq;
static struct vring_chain c;
static struct vring_avail *avail;
static struct vring_used *used;
static uint16_t drv_idx;	/* the driver's copy of avail->idx */

static void
mem_setup(void)
{
	struct memmap_region a = {
		.gpa = A_GPA, .size = A_SIZE, .uva = 0x7f0000000000ull,
	};
	struct memmap_region b = {
		.gpa = B_GPA, .size = B_SIZE, .uva = 0x7f1000000000ull,
	};

	host_a = calloc(1, A_SIZE);
	host_b = calloc(1, B_SIZE);
	cr_assert(host_a && host_b);
	a.host = host_a;
	b.host = host_b;
	memset(&mem, 0, sizeof(mem));
	cr_assert_eq(memmap_check(&mem, b.gpa, b.size, b.uva, 0), 0);
	cr_assert_eq(memmap_insert(&mem, &b), 0);
	cr_assert_eq(memmap_check(&mem, a.gpa, a.size, a.uva, 0), 0);
	cr_assert_eq(memmap_insert(&mem, &a), 0);
}

static void
mem_teardown(void)
{
	free(host_a);
	free(host_b);
}

TestSuite(vring, .init = mem_setup, .fini = mem_teardown);

/* Host address of gpa, computed independently of memmap. */
static void *
hva(uint64_t gpa)
{
	if (gpa >= A_GPA && gpa < A_GPA + A_SIZE)
		return host_a + (gpa - A_GPA);
	if (gpa >= B_GPA && gpa < B_GPA + B_SIZE)
		return host_b + (gpa - B_GPA);
	cr_assert_fail("gpa %#llx not in fake memory", (unsigned long long)gpa);
	return NULL;
}

/* Byte by byte, so a write may cross from A into B. */
static void
guest_write(uint64_t gpa, const void *src, size_t len)
{
	const uint8_t *s = src;

	for (size_t i = 0; i < len; i++)
		*(uint8_t *)hva(gpa + i) = s[i];
}

static void
desc_put(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
	 uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = htole64(addr),
		.len = htole32(len),
		.flags = htole16(flags),
		.next = htole16(next),
	};

	guest_write(table + (uint64_t)i * sizeof(d), &d, sizeof(d));
}

/* The driver makes a chain available: ring entry, then idx (release). */
static void
drv_add(uint16_t head)
{
	avail->ring[drv_idx & (vq.num - 1)] = htole16(head);
	drv_idx++;
	__atomic_store_n(&avail->idx, htole16(drv_idx), __ATOMIC_RELEASE);
}

static uint16_t
used_event_get(void)
{
	return le16toh(avail->ring[vq.num]);
}

static void
used_event_set(uint16_t v)
{
	avail->ring[vq.num] = htole16(v);
}

static uint16_t
avail_event_get(void)
{
	uint16_t v;

	/* avail_event sits right after the used ring's last element. */
	memcpy(&v, &used->ring[vq.num], sizeof(v));
	return le16toh(v);
}

static void
ring_setup(unsigned num, uint16_t base, bool event_idx)
{
	memset(host_a, 0, A_SIZE);
	memset(host_b, 0, B_SIZE);
	avail = hva(AVAIL_GPA);
	used = hva(USED_GPA);
	avail->idx = htole16(base);
	used->idx = htole16(base);
	drv_idx = base;
	vring_queue_init(&vq, num, hva(DESC_GPA), avail, used, base, event_idx);
	cr_assert_not(vq.broken);
}

static void
expect_iov(unsigned i, uint64_t gpa, size_t len)
{
	cr_expect_eq(c.iov[i].iov_base, hva(gpa), "iov[%u] base", i);
	cr_expect_eq(c.iov[i].iov_len, len, "iov[%u] len %zu, want %zu", i,
		     c.iov[i].iov_len, len);
}

Test(vring, empty_ring)
{
	ring_setup(NUM, 0, false);
	c.head = 0xabcd;
	cr_assert_eq(vring_pop(&vq, &mem, &c), -EAGAIN);
	cr_expect_eq(c.head, 0xabcd, "c untouched on -EAGAIN");
	cr_expect_eq(vq.last_avail, 0);
	cr_expect_eq(vring_avail_pending(&vq), 0);
	cr_expect_not(vq.broken);
}

Test(vring, direct_out_in)
{
	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 3, BUF, 24, F_N, 9);
	desc_put(DESC_GPA, 9, BUF + 0x100, 40, F_W, 0);
	drv_add(3);
	cr_assert_eq(vring_avail_pending(&vq), 1);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.head, 3);
	cr_expect_eq(c.nout, 1);
	cr_expect_eq(c.nin, 1);
	cr_expect_eq(c.out_len, 24);
	cr_expect_eq(c.in_len, 40);
	expect_iov(0, BUF, 24);
	expect_iov(1, BUF + 0x100, 40);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EAGAIN);
}

Test(vring, zero_length_descriptor_takes_no_iovec)
{
	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 0, BUF, 0, F_N, 1);
	desc_put(DESC_GPA, 1, BUF + 0x100, 16, F_W, 0);
	drv_add(0);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.nout, 0);
	cr_expect_eq(c.nin, 1);
	expect_iov(0, BUF + 0x100, 16);
}

Test(vring, buffer_across_regions_takes_two_iovecs)
{
	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 0, B_GPA - 100, 200, F_N, 1);
	desc_put(DESC_GPA, 1, B_GPA - 8, 24, F_W, 0);
	drv_add(0);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.nout, 2);
	cr_expect_eq(c.nin, 2);
	cr_expect_eq(c.out_len, 200);
	cr_expect_eq(c.in_len, 24);
	expect_iov(0, B_GPA - 100, 100);
	expect_iov(1, B_GPA, 100);
	expect_iov(2, B_GPA - 8, 8);
	expect_iov(3, B_GPA, 16);
}

Test(vring, indirect_chain)
{
	ring_setup(NUM, 0, false);
	/* WRITE on the indirect descriptor itself must be ignored. */
	desc_put(DESC_GPA, 5, IND_GPA, 4 * 16, F_I | F_W, 0);
	desc_put(IND_GPA, 0, BUF, 24, F_N, 2);
	desc_put(IND_GPA, 2, BUF + 0x40, 8, F_W | F_N, 1);
	desc_put(IND_GPA, 1, BUF + 0x80, 100, F_W, 0);
	desc_put(IND_GPA, 3, 0, 0, F_I, 0);	/* not on the chain: ignored */
	drv_add(5);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.head, 5);
	cr_expect_eq(c.nout, 1);
	cr_expect_eq(c.nin, 2);
	cr_expect_eq(c.out_len, 24);
	cr_expect_eq(c.in_len, 108);
	expect_iov(0, BUF, 24);
	expect_iov(1, BUF + 0x40, 8);
	expect_iov(2, BUF + 0x80, 100);
}

Test(vring, direct_then_indirect)
{
	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 0, BUF, 24, F_N, 7);
	desc_put(DESC_GPA, 7, IND_GPA, 32, F_I, 0);
	desc_put(IND_GPA, 0, BUF + 0x40, 8, F_N, 1);
	desc_put(IND_GPA, 1, BUF + 0x80, 64, F_W, 0);
	drv_add(0);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.head, 0);
	cr_expect_eq(c.nout, 2);
	cr_expect_eq(c.nin, 1);
	expect_iov(0, BUF, 24);
	expect_iov(1, BUF + 0x40, 8);
	expect_iov(2, BUF + 0x80, 64);
}

Test(vring, indirect_table_across_regions)
{
	/* Entry 1 straddles A|B; entry 2's buffer straddles it too. */
	uint64_t t = B_GPA - 24;

	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 0, t, 3 * 16, F_I, 0);
	desc_put(t, 0, BUF, 16, F_N, 1);
	desc_put(t, 1, B_GPA + 0x100, 32, F_W | F_N, 2);
	desc_put(t, 2, B_GPA - 50, 100, F_W, 0);
	drv_add(0);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.nout, 1);
	cr_expect_eq(c.nin, 3);
	cr_expect_eq(c.in_len, 132);
	expect_iov(0, BUF, 16);
	expect_iov(1, B_GPA + 0x100, 32);
	expect_iov(2, B_GPA - 50, 50);
	expect_iov(3, B_GPA, 50);
}

Test(vring, indirect_table_of_num_entries)
{
	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 0, IND_GPA, NUM * 16, F_I, 0);
	for (unsigned i = 0; i < NUM; i++)
		desc_put(IND_GPA, i, BUF + 16 * i, 16,
			 i + 1 < NUM ? F_N : 0, i + 1);
	drv_add(0);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.nout, NUM);
	cr_expect_eq(c.out_len, NUM * 16);
}

Test(vring, indices_wrap_at_65536)
{
	const uint16_t base = 65530;

	ring_setup(NUM, base, false);
	for (unsigned i = 0; i < 4; i++) {
		desc_put(DESC_GPA, 2 * i, BUF + 0x100 * i, 8, F_N, 2 * i + 1);
		desc_put(DESC_GPA, 2 * i + 1, BUF + 0x100 * i + 8, 8, F_W, 0);
	}
	for (unsigned k = 0; k < 10; k++) {
		uint16_t head = 2 * (k % 4);

		drv_add(head);
		cr_assert_eq(vring_pop(&vq, &mem, &c), 0, "chain %u", k);
		cr_assert_eq(c.head, head);
		cr_assert_eq(c.nout + c.nin, 2);
		vring_push(&vq, c.head, k);
	}
	cr_expect_eq(vq.last_avail, 4);
	cr_expect_eq(le16toh(used->idx), base, "nothing visible before publish");
	cr_expect(vring_publish(&vq));
	cr_expect_eq(le16toh(used->idx), 4);
	for (unsigned k = 0; k < 10; k++) {
		struct vring_used_elem *e = &used->ring[(uint16_t)(base + k) % NUM];

		cr_expect_eq(le32toh(e->id), 2 * (k % 4));
		cr_expect_eq(le32toh(e->len), k);
	}
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EAGAIN);
}

Test(vring, avail_exactly_num_ahead_is_fine)
{
	ring_setup(NUM, 65535, false);
	desc_put(DESC_GPA, 0, BUF, 8, 0, 0);
	for (unsigned k = 0; k < NUM; k++)
		drv_add(0);
	for (unsigned k = 0; k < NUM; k++)
		cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EAGAIN);
	cr_expect_not(vq.broken);
}

/*
 * Malformed chains. Each row's descriptors go into the ring (or into the
 * indirect table at `table`, IND_GPA unless given); the chain at `head` must
 * give -EBADMSG with that head and exactly the iovecs of the whole
 * descriptors before the bad one, and the ring must go on working.
 */
enum { UNUSED, MAIN, TAB };

struct tdesc {
	int where;
	unsigned i;
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define D(...)	{ MAIN, __VA_ARGS__ }
#define T(...)	{ TAB, __VA_ARGS__ }

struct bad_case {
	const char *name;
	uint16_t head;
	uint64_t table;
	struct tdesc d[4];
	unsigned nout, nin;
	uint64_t out_len, in_len;
};

static const struct bad_case bad_cases[] = {
	{ "head out of range", .head = NUM + 3 },
	{ "head 0xffff", .head = 0xffff },
	{ "next out of range", .d = { D(0, BUF, 16, F_N, NUM) },
	  .nout = 1, .out_len = 16 },
	{ "next loops to itself", .d = { D(0, BUF, 16, F_N, 0) },
	  .nout = NUM, .out_len = NUM * 16 },
	{ "next loops over two, writable",
	  .d = { D(0, BUF, 16, F_W | F_N, 1), D(1, BUF, 16, F_W | F_N, 0) },
	  .nin = NUM, .in_len = NUM * 16 },
	{ "buffer in the hole", .d = { D(0, HOLE, 16, 0, 0) } },
	{ "buffer below memory", .d = { D(0, 0x1000, 16, 0, 0) } },
	{ "buffer wraps 64 bits", .d = { D(0, UINT64_MAX - 7, 16, 0, 0) } },
	{ "buffer runs into the hole (dropped whole)",
	  .d = { D(0, BUF, 16, F_W | F_N, 1), D(1, HOLE - 8, 16, F_W, 0) },
	  .nin = 1, .in_len = 16 },
	{ "readable after writable",
	  .d = { D(0, BUF, 16, F_W | F_N, 1), D(1, BUF + 16, 16, 0, 0) },
	  .nin = 1, .in_len = 16 },
	{ "readable after empty writable",
	  .d = { D(0, BUF, 0, F_W | F_N, 1), D(1, BUF + 16, 16, 0, 0) } },
	{ "readable after writable, in the indirect table",
	  .d = { D(0, BUF, 16, F_W | F_N, 1), D(1, IND_GPA, 16, F_I, 0),
		 T(0, BUF + 16, 16, 0, 0) },
	  .nin = 1, .in_len = 16 },
	{ "indirect with NEXT",
	  .d = { D(0, IND_GPA, 16, F_I | F_N, 1), D(1, BUF, 16, 0, 0),
		 T(0, BUF, 16, 0, 0) } },
	{ "nested indirect",
	  .d = { D(0, IND_GPA, 32, F_I, 0), T(0, BUF, 16, F_N, 1),
		 T(1, IND_GPA + 0x100, 16, F_I, 0) },
	  .nout = 1, .out_len = 16 },
	{ "indirect length 0", .d = { D(0, IND_GPA, 0, F_I, 0) } },
	{ "indirect length not a multiple of 16",
	  .d = { D(0, IND_GPA, 24, F_I, 0), T(0, BUF, 16, 0, 0) } },
	{ "indirect table longer than num",
	  .d = { D(0, IND_GPA, (NUM + 1) * 16, F_I, 0), T(0, BUF, 16, 0, 0) } },
	{ "indirect table in the hole", .d = { D(0, HOLE, 32, F_I, 0) } },
	{ "indirect table wraps 64 bits",
	  .d = { D(0, UINT64_MAX - 15, 32, F_I, 0) } },
	{ "indirect table runs into the hole", .table = HOLE - 16,
	  .d = { D(0, HOLE - 16, 32, F_I, 0), T(0, BUF, 16, F_N, 1) },
	  .nout = 1, .out_len = 16 },
	{ "indirect next out of range",
	  .d = { D(0, IND_GPA, 32, F_I, 0), T(0, BUF, 16, F_N, 2) },
	  .nout = 1, .out_len = 16 },
	{ "indirect next loops",
	  .d = { D(0, IND_GPA, 32, F_I, 0), T(0, BUF, 16, F_W | F_N, 1),
		 T(1, BUF + 16, 16, F_W | F_N, 0) },
	  .nin = NUM, .in_len = NUM * 16 },
};

/* After a bad chain: is the ring still usable? */
static void
expect_ring_works(const char *name)
{
	desc_put(DESC_GPA, 12, BUF + 0x800, 8, F_N, 13);
	desc_put(DESC_GPA, 13, BUF + 0x900, 8, F_W, 0);
	drv_add(12);
	cr_expect_eq(vring_pop(&vq, &mem, &c), 0, "%s: next chain", name);
	cr_expect_eq(c.head, 12, "%s", name);
	cr_expect_eq(c.nout, 1, "%s", name);
	cr_expect_eq(c.nin, 1, "%s", name);
	cr_expect_not(vq.broken, "%s", name);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EAGAIN, "%s", name);
}

static void
expect_bad(const char *name, uint16_t head, unsigned nout, unsigned nin,
	   uint64_t out_len, uint64_t in_len)
{
	uint16_t before = vq.last_avail;

	drv_add(head);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EBADMSG, "%s", name);
	cr_expect_eq(vq.last_avail, (uint16_t)(before + 1),
		     "%s: entry consumed", name);
	cr_expect_eq(c.head, head, "%s: head %u", name, c.head);
	cr_expect_eq(c.nout, nout, "%s: nout %u", name, c.nout);
	cr_expect_eq(c.nin, nin, "%s: nin %u", name, c.nin);
	cr_expect_eq(c.out_len, out_len, "%s: out_len", name);
	cr_expect_eq(c.in_len, in_len, "%s: in_len", name);
	for (unsigned i = 0; i < c.nout + c.nin; i++)
		cr_expect(c.iov[i].iov_len > 0, "%s: iov[%u] empty", name, i);
	cr_expect_not(vq.broken, "%s", name);
}

Test(vring, malformed_chains)
{
	for (size_t k = 0; k < sizeof(bad_cases) / sizeof(bad_cases[0]); k++) {
		const struct bad_case *bc = &bad_cases[k];
		uint64_t table = bc->table ? bc->table : IND_GPA;

		ring_setup(NUM, 0, false);
		for (unsigned j = 0; j < 4; j++) {
			const struct tdesc *d = &bc->d[j];

			if (d->where == UNUSED)
				continue;
			desc_put(d->where == MAIN ? DESC_GPA : table, d->i,
				 d->addr, d->len, d->flags, d->next);
		}
		expect_bad(bc->name, bc->head, bc->nout, bc->nin, bc->out_len,
			   bc->in_len);
		expect_ring_works(bc->name);
	}
}

Test(vring, more_than_num_through_indirect)
{
	/* One direct descriptor plus a full table: num + 1 buffers. */
	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 0, BUF, 16, F_N, 1);
	desc_put(DESC_GPA, 1, IND_GPA, NUM * 16, F_I, 0);
	for (unsigned i = 0; i < NUM; i++)
		desc_put(IND_GPA, i, BUF + 16 * i, 16,
			 i + 1 < NUM ? F_N : 0, i + 1);
	expect_bad("num + 1 buffers", 0, NUM, 0, NUM * 16, 0);
	expect_ring_works("num + 1 buffers");
}

Test(vring, too_many_iovecs)
{
	/*
	 * num 256; each descriptor straddles A|B and takes two iovecs.
	 * Chain 0 -> ... -> 127 needs exactly VRING_MAX_IOV; chain 128 -> 0
	 * -> ... -> 127 needs two more.
	 */
	const unsigned num = 256;

	cr_assert_eq(VRING_MAX_IOV, 256);
	ring_setup(num, 0, false);
	for (unsigned i = 0; i < 128; i++)
		desc_put(DESC_GPA, i, B_GPA - 8, 16, F_W | (i < 127 ? F_N : 0),
			 i + 1);
	desc_put(DESC_GPA, 128, B_GPA - 8, 16, F_W | F_N, 0);
	drv_add(0);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_eq(c.nin, VRING_MAX_IOV);
	cr_expect_eq(c.in_len, 128 * 16);
	expect_bad("iovecs over VRING_MAX_IOV", 128, 0, VRING_MAX_IOV, 0,
		   128 * 16);
}

Test(vring, avail_idx_too_far_ahead_breaks_the_ring)
{
	ring_setup(NUM, 100, false);
	desc_put(DESC_GPA, 0, BUF, 8, 0, 0);
	avail->idx = htole16(100 + NUM + 1);
	c.head = 0xabcd;
	cr_assert_eq(vring_pop(&vq, &mem, &c), -EIO);
	cr_expect(vq.broken);
	cr_expect_eq(c.head, 0xabcd, "c untouched on -EIO");
	cr_expect_eq(vq.last_avail, 100);
	/* Even once the driver's idx looks sane again, it stays broken. */
	avail->idx = htole16(101);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EIO);
	cr_expect_eq(vring_avail_pending(&vq), 0);
	cr_expect_not(vring_kicks_enable(&vq));
}

Test(vring, avail_idx_behind_breaks_the_ring)
{
	ring_setup(NUM, 100, false);
	avail->idx = htole16(99);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EIO);
	cr_expect(vq.broken);
}

Test(vring, null_area_breaks_the_ring)
{
	ring_setup(NUM, 0, false);
	vring_queue_init(&vq, NUM, hva(DESC_GPA), NULL, used, 0, false);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EIO);
	cr_expect(vq.broken);
	cr_expect_eq(vring_pop(&vq, &mem, &c), -EIO);
}

Test(vring, bad_num_breaks_the_ring)
{
	static const unsigned nums[] = { 0, 3, 12, 2048, 1u << 31 };

	for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		ring_setup(NUM, 0, false);
		drv_add(0);
		vring_queue_init(&vq, nums[k], hva(DESC_GPA), avail, used, 0,
				 false);
		cr_expect(vq.broken, "num %u", nums[k]);
		cr_expect_eq(vring_pop(&vq, &mem, &c), -EIO, "num %u", nums[k]);
		vring_push(&vq, 0, 0);	/* must not write anywhere */
		cr_expect_not(vring_publish(&vq), "num %u", nums[k]);
	}
}

Test(vring, init_takes_used_idx_from_memory)
{
	ring_setup(NUM, 0, false);
	used->idx = htole16(7);
	vring_queue_init(&vq, NUM, hva(DESC_GPA), avail, used, 9, false);
	cr_expect_eq(vq.used_idx, 7);
	cr_expect_eq(vq.published_used, 7);
	cr_expect_eq(vq.last_avail, 9);
	vring_push(&vq, 1, 2);
	cr_expect(vring_publish(&vq));
	cr_expect_eq(le16toh(used->idx), 8);
	cr_expect_eq(le32toh(used->ring[7].id), 1);
}

Test(vring, publish_batches)
{
	ring_setup(NUM, 0, false);
	vring_push(&vq, 4, 10);
	vring_push(&vq, 2, 20);
	vring_push(&vq, 9, 30);
	cr_expect_eq(le16toh(used->idx), 0, "not visible before publish");
	cr_expect(vring_publish(&vq));
	cr_expect_eq(le16toh(used->idx), 3);
	cr_expect_eq(le32toh(used->ring[0].id), 4);
	cr_expect_eq(le32toh(used->ring[1].id), 2);
	cr_expect_eq(le32toh(used->ring[2].id), 9);
	cr_expect_eq(le32toh(used->ring[0].len), 10);
	cr_expect_eq(le32toh(used->ring[2].len), 30);
	cr_expect_not(vring_publish(&vq), "nothing new");
	cr_expect_eq(le16toh(used->idx), 3);
}

Test(vring, no_interrupt_without_event_idx)
{
	ring_setup(NUM, 0, false);
	avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	used_event_set(0);	/* ignored without EVENT_IDX */
	vring_push(&vq, 0, 0);
	cr_expect_not(vring_publish(&vq));
	cr_expect_eq(le16toh(used->idx), 1, "published all the same");
	avail->flags = 0;
	used_event_set(100);
	vring_push(&vq, 0, 0);
	cr_expect(vring_publish(&vq));
}

/* EVENT_IDX: notify iff used_event is in [old, new) of this publish. */
struct event_case {
	uint16_t base;		/* used->idx before */
	unsigned pushes;
	uint16_t used_event;
	bool notify;
};

static const struct event_case event_cases[] = {
	{ 0, 3, 0, true },
	{ 0, 3, 2, true },
	{ 0, 3, 3, false },	/* driver waits for the 4th */
	{ 0, 3, 5, false },
	{ 0, 3, 0xffff, false },	/* already passed: it had its interrupt */
	{ 65534, 3, 65535, true },	/* across the wrap */
	{ 65534, 3, 0, true },
	{ 65534, 3, 1, false },
	{ 10, 1, 10, true },
	{ 10, 1, 9, false },
};

Test(vring, event_idx_notify_decision)
{
	for (size_t k = 0; k < sizeof(event_cases) / sizeof(event_cases[0]); k++) {
		const struct event_case *ec = &event_cases[k];

		ring_setup(NUM, ec->base, true);
		/* NO_INTERRUPT must be ignored with EVENT_IDX. */
		avail->flags = htole16(ec->notify ? VRING_AVAIL_F_NO_INTERRUPT : 0);
		used_event_set(ec->used_event);
		for (unsigned i = 0; i < ec->pushes; i++)
			vring_push(&vq, i, 0);
		cr_expect_eq(vring_publish(&vq), ec->notify,
			     "base %u + %u, used_event %u", ec->base,
			     ec->pushes, ec->used_event);
		cr_expect_eq(le16toh(used->idx),
			     (uint16_t)(ec->base + ec->pushes));
		cr_expect_eq(used_event_get(), ec->used_event);
	}
}

Test(vring, kicks_without_event_idx)
{
	ring_setup(NUM, 0, false);
	desc_put(DESC_GPA, 0, BUF, 8, 0, 0);
	vring_kicks_disable(&vq);
	cr_expect_eq(le16toh(used->flags), VRING_USED_F_NO_NOTIFY);
	cr_expect_not(vring_kicks_enable(&vq), "idle, nothing pending");
	cr_expect_eq(le16toh(used->flags), 0);

	vring_kicks_disable(&vq);
	drv_add(0);	/* the driver adds while kicks are off */
	cr_expect(vring_kicks_enable(&vq), "work raced in");
	cr_expect_eq(le16toh(used->flags), 0);
	cr_expect_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_not(vring_kicks_enable(&vq));
}

Test(vring, kicks_with_event_idx)
{
	ring_setup(NUM, 0, true);
	desc_put(DESC_GPA, 0, BUF, 8, 0, 0);
	drv_add(0);
	cr_assert_eq(vring_pop(&vq, &mem, &c), 0);
	vring_kicks_disable(&vq);
	cr_expect_eq(le16toh(used->flags), 0, "flags untouched with EVENT_IDX");
	cr_expect_not(vring_kicks_enable(&vq));
	cr_expect_eq(avail_event_get(), 1);

	drv_add(0);
	cr_expect(vring_kicks_enable(&vq), "work raced in");
	cr_expect_eq(avail_event_get(), 1);
	cr_expect_eq(vring_pop(&vq, &mem, &c), 0);
	cr_expect_not(vring_kicks_enable(&vq));
	cr_expect_eq(avail_event_get(), 2);
}
