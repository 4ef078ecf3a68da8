/* libFuzzer target: the split-ring walker (proto/vring.c) over a fuzzed ring in a fuzzed guest memory map. */
#include <endian.h>
#include <errno.h>

#include "proto/memmap.h"
#include "proto/vring.h"
#include "tests/fuzz/fuzz.h"

/*
 * Input: a memory layout (tests/fuzz/fuzz.h), the queue size and where
 * the three ring areas go, descriptors, indirect tables, the avail and
 * used rings, then a bounded sequence of operations: pops (each chain
 * checked: every iovec inside guest memory, totals right, at most
 * VRING_MAX_IOV), pushes, publishes, notification changes, and writes by
 * the "driver" between them.
 */

#define MAX_OPS 64

static struct fuzz_mem mem;
static struct vring_chain chain;

/* Sizes of the three areas for a queue of num entries (core/vu.c's). */
static uint64_t
desc_bytes(unsigned num)
{
	return 16ull * num;
}

static uint64_t
avail_bytes(unsigned num)
{
	return 6 + 2ull * num;
}

static uint64_t
used_bytes(unsigned num)
{
	return 6 + 8ull * num;
}

/* Where the input wants an area: a region and an offset in it. */
struct spot {
	uint8_t region;
	uint16_t off;
};

/* Host address for `len` bytes aligned to `align` in the spot's region,
 * or NULL when the region cannot hold it. */
static uint8_t *
place(const struct spot *s, uint64_t len, unsigned align)
{
	const struct fuzz_mem_region *r = &mem.reg[s->region % mem.nreg];
	uintptr_t start = (uintptr_t)r->host, end = start + r->size;
	uintptr_t p = fuzz_align_up(start + s->off % r->size, align);

	if (p + len > end)
		p = fuzz_align_up(start, align);
	if (p + len > end)
		return NULL;
	return (uint8_t *)p;
}

static uint64_t
gpa_of(const void *p)
{
	for (unsigned i = 0; i < mem.nreg; i++) {
		uintptr_t start = (uintptr_t)mem.reg[i].host;

		if ((uintptr_t)p >= start && (uintptr_t)p < start + mem.reg[i].size)
			return mem.reg[i].gpa + ((uintptr_t)p - start);
	}
	return 0;
}

static void
write_desc(struct fuzz_in *in, void *at)
{
	uint8_t kind = fuzz_u8(in);
	struct vring_desc d;

	d.addr = htole64(fuzz_mem_addr(&mem, in));
	d.len = htole32((kind & 1) ? fuzz_u32(in) : fuzz_u16(in) % 2048);
	d.flags = htole16((kind & 2) ? fuzz_u16(in) : fuzz_u8(in) & 7);
	d.next = htole16((kind & 4) ? fuzz_u16(in) : fuzz_u8(in));
	memcpy(at, &d, sizeof(d));	/* indirect tables need not be aligned */
}

static uint16_t
rd16(const __virtio16 *p)
{
	return le16toh(*p);
}

/* Check a chain vring_pop returned (0 or -EBADMSG). */
static void
check_chain(const struct vring_queue *vq, const struct vring_chain *c, int ret)
{
	uint64_t out = 0, in = 0;

	FUZZ_CHECK(c->nout <= VRING_MAX_IOV && c->nin <= VRING_MAX_IOV);
	FUZZ_CHECK(c->nout + c->nin <= VRING_MAX_IOV);
	if (ret == 0)
		FUZZ_CHECK(c->head < vq->num);
	for (unsigned i = 0; i < c->nout + c->nin; i++) {
		const struct iovec *v = &c->iov[i];

		/* One descriptor's piece of one region, never outside it. */
		FUZZ_CHECK(v->iov_len > 0);
		FUZZ_CHECK((uintptr_t)v->iov_base >= (uintptr_t)mem.buf &&
			   (uintptr_t)v->iov_base + v->iov_len <=
			   (uintptr_t)mem.buf + mem.len);
		FUZZ_CHECK(fuzz_mem_in_one(&mem, v->iov_base, v->iov_len));
		if (i < c->nout)
			out += v->iov_len;
		else
			in += v->iov_len;
	}
	FUZZ_CHECK(out == c->out_len);
	FUZZ_CHECK(in == c->in_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct vring_queue vq;
	struct spot spots[3];
	uint8_t *desc = NULL, *avail = NULL, *used = NULL;
	unsigned num, init_num;
	uint8_t qflags;
	uint16_t base;

	if (!fuzz_mem_build(&mem, &in, 24576))
		return 0;

	/* Queue size: a power of two up to VRING_MAX_NUM, halved until the
	 * areas fit where the input wants them. */
	qflags = fuzz_u8(&in);
	num = 1u << ((qflags & 0x0f) % 11);
	for (unsigned i = 0; i < 3; i++) {
		spots[i].region = fuzz_u8(&in);
		spots[i].off = fuzz_u16(&in);
	}
	for (;;) {
		desc = place(&spots[0], desc_bytes(num), 16);
		avail = place(&spots[1], avail_bytes(num), 2);
		used = place(&spots[2], used_bytes(num), 4);
		if (desc && avail && used)
			break;
		if (num == 1)
			goto out;
		num /= 2;
	}
	base = fuzz_u16(&in);

	/* Descriptor table. */
	for (unsigned i = 0, n = fuzz_u8(&in); i < n && i < num; i++)
		write_desc(&in, desc + 16 * i);
	/* Indirect tables, anywhere in guest memory. */
	for (unsigned t = 0, nt = fuzz_u8(&in) % 4; t < nt; t++) {
		struct spot s;
		unsigned n;

		s.region = fuzz_u8(&in);
		s.off = fuzz_u16(&in);
		n = 1 + fuzz_u8(&in) % 8;
		uint8_t *at = place(&s, 16ull * n, 1);

		uint8_t link = fuzz_u8(&in);

		if (!at)
			continue;
		for (unsigned i = 0; i < n; i++)
			write_desc(&in, at + 16 * i);
		/* Usually a descriptor of the table points at it. */
		if (link & 0x80) {
			struct vring_desc d = {
				.addr = htole64(gpa_of(at)),
				.len = htole32(16 * n),
				.flags = htole16(VRING_DESC_F_INDIRECT | (link & 3)),
			};

			memcpy(desc + 16 * (link & (num - 1)), &d, sizeof(d));
		}
	}
	/* Avail ring: flags, idx (usually a few entries ahead), entries,
	 * used_event. */
	{
		struct vring_avail *a = (struct vring_avail *)avail;
		uint8_t ahead = fuzz_u8(&in);

		a->flags = htole16(fuzz_u16(&in));
		a->idx = htole16((ahead & 0x80) ? fuzz_u16(&in) :
				 (uint16_t)(base + (ahead & 0x7f) % (num + 2)));
		for (unsigned i = 0, n = fuzz_u8(&in); i < n && i < num; i++) {
			uint8_t sel = fuzz_u8(&in);

			a->ring[(base + i) & (num - 1)] = htole16(
				(sel & 0x80) ? fuzz_u16(&in) : sel % (num + 1));
		}
		a->ring[num] = htole16(fuzz_u16(&in));
	}
	/* Used ring: its idx (where a previous backend stopped), flags,
	 * avail_event. */
	{
		struct vring_used *u = (struct vring_used *)used;

		u->idx = htole16(fuzz_u16(&in));
		u->flags = htole16(fuzz_u16(&in));
		*(__virtio16 *)&u->ring[num] = htole16(fuzz_u16(&in));
	}

	/* Sometimes a num that is not a power of two, or an area missing:
	 * the ring must refuse to work, not walk off. A different valid
	 * num would break the caller's contract (areas mapped for num). */
	init_num = num;
	if (qflags & 0x80) {
		unsigned raw = fuzz_u16(&in);

		if (raw == 0 || raw > VRING_MAX_NUM || (raw & (raw - 1)))
			init_num = raw;
	}
	if ((qflags & 0x60) == 0x60) {
		switch (fuzz_u8(&in) % 3) {
		case 0: desc = NULL; break;
		case 1: avail = NULL; break;
		default: used = NULL; break;
		}
	}
	vring_queue_init(&vq, init_num, desc, avail, used, base, qflags & 0x10);
	if (used)
		FUZZ_CHECK(vq.used_idx == rd16(&((struct vring_used *)used)->idx));

	for (unsigned op = 0; op < MAX_OPS && !fuzz_empty(&in); op++) {
		uint8_t code = fuzz_u8(&in);

		switch (code % 8) {
		case 0:
		case 1:
		case 2: {
			uint16_t before = vq.last_avail;
			bool was_broken = vq.broken;
			int ret;

			chain.head = 0xdead;
			chain.nout = chain.nin = 12345;
			ret = vring_pop(&vq, &mem.map, &chain);
			FUZZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -EIO ||
				   ret == -EBADMSG);
			if (was_broken)
				FUZZ_CHECK(ret == -EIO);
			if (ret == -EIO)
				FUZZ_CHECK(vq.broken);
			if (ret == -EAGAIN || ret == -EIO) {
				/* Nothing consumed, the chain untouched. */
				FUZZ_CHECK(vq.last_avail == before);
				FUZZ_CHECK(chain.head == 0xdead && chain.nout == 12345);
				break;
			}
			FUZZ_CHECK(vq.last_avail == (uint16_t)(before + 1));
			check_chain(&vq, &chain, ret);
			if (ret == 0 && chain.nin && (code & 0x80))
				/* The device answers into the writable part. */
				memset(chain.iov[chain.nout].iov_base, 0xa5,
				       chain.iov[chain.nout].iov_len);
			if (!(code & 0x40))
				vring_push(&vq, chain.head, (uint32_t)chain.in_len);
			break;
		}
		case 3:
			vring_push(&vq, fuzz_u16(&in), fuzz_u32(&in));
			break;
		case 4: {
			uint16_t old = vq.published_used;
			bool notify = vring_publish(&vq);

			if (old == vq.used_idx || !vq.used || !vq.avail) {
				FUZZ_CHECK(!notify);
			} else {
				FUZZ_CHECK(vq.published_used == vq.used_idx);
				FUZZ_CHECK(rd16(&vq.used->idx) == vq.used_idx);
			}
			break;
		}
		case 5: {
			bool more = vring_kicks_enable(&vq);

			if (vq.broken || !vq.used || !vq.avail) {
				FUZZ_CHECK(!more);
				break;
			}
			FUZZ_CHECK(more == (vring_avail_pending(&vq) != 0));
			if (vq.event_idx)
				FUZZ_CHECK(rd16((__virtio16 *)&vq.used->ring[vq.num]) ==
					   vq.last_avail);
			else
				FUZZ_CHECK(rd16(&vq.used->flags) == 0);
			break;
		}
		case 6:
			vring_kicks_disable(&vq);
			if (!vq.event_idx && vq.used)
				FUZZ_CHECK(rd16(&vq.used->flags) == VRING_USED_F_NO_NOTIFY);
			break;
		default:
			/* The driver moves on: more avail entries, a new head,
			 * a rewritten descriptor. */
			if (!avail || !desc)
				break;
			switch (fuzz_u8(&in) % 3) {
			case 0: {
				struct vring_avail *a = (struct vring_avail *)avail;

				a->idx = htole16(rd16(&a->idx) + 1 + fuzz_u8(&in) % 4);
				break;
			}
			case 1: {
				struct vring_avail *a = (struct vring_avail *)avail;

				a->ring[fuzz_u16(&in) & (num - 1)] =
					htole16(fuzz_u8(&in) % (num + 1));
				break;
			}
			default:
				write_desc(&in, desc + 16 * (fuzz_u16(&in) & (num - 1)));
				break;
			}
			break;
		}
	}
out:
	fuzz_mem_free(&mem);
	return 0;
}
