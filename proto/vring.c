/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue walker.
 *
 * Security model: the guest driver owns the descriptor table, the avail
 * ring and every indirect table, and may rewrite any of them while we read
 * (another vCPU). It controls every index, address, length and flag. So:
 * avail->idx is read once per check with acquire order and bounded by num;
 * each avail entry and each descriptor is copied out once and only the copy
 * is checked and used; every index is range-checked before use; every walk
 * is bounded by the queue size; every buffer is translated through the
 * memory table, never trusted as a pointer. A bad chain costs the guest that
 * request (-EBADMSG), a bad ring costs it the queue (-EIO). Nothing here
 * can make us read or write outside the regions the frontend mapped.
 *
 * We own the used ring: the driver only reads it, so what we wrote there
 * needs no re-checking.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "proto/memmap.h"
#include "proto/vring.h"

static_assert(sizeof(struct vring_desc) == 16, "virtq_desc");
static_assert(sizeof(struct vring_avail) == 4, "virtq_avail header");
static_assert(sizeof(struct vring_used_elem) == 8, "virtq_used_elem");
static_assert(sizeof(struct vring_used) == 4, "virtq_used header");

/* Stops the compiler from re-reading guest memory in place of a copy. */
#define barrier() __asm__ __volatile__("" ::: "memory")

/* Our host-order copy of one descriptor. */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Where the walk currently reads descriptors from. */
struct table {
	const uint8_t *host;		/* whole table mapped here, or NULL */
	uint64_t gpa;			/* else read entry by entry from here */
	unsigned size;			/* entries */
};

static uint16_t
load16(const __virtio16 *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

static void
store16(__virtio16 *p, uint16_t v, int order)
{
	__atomic_store_n(p, htole16(v), order);
}

/* used_event lives after the avail ring, avail_event after the used ring. */
static __virtio16 *
used_event(const struct vring_queue *vq)
{
	return &vq->avail->ring[vq->num];
}

static __virtio16 *
avail_event(const struct vring_queue *vq)
{
	return (__virtio16 *)&vq->used->ring[vq->num];
}

static void
desc_decode(struct desc *d, const struct vring_desc *raw)
{
	d->addr = le64toh(raw->addr);
	d->len = le32toh(raw->len);
	d->flags = le16toh(raw->flags);
	d->next = le16toh(raw->next);
}

/*
 * Copy len bytes at gpa out of guest memory, crossing regions if it must.
 * Bounded: every step copies at least one byte.
 */
static int
copy_from_guest(const struct memmap *mem, uint64_t gpa, void *dst, size_t len)
{
	uint8_t *out = dst;

	while (len) {
		void *host;
		uint64_t n = memmap_gpa_span(mem, gpa, len, &host);

		if (!n)
			return -EBADMSG;
		memcpy(out, host, n);
		out += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

/* Copy entry i of t (i < t->size, checked by the caller) and decode it. */
static int
desc_fetch(const struct memmap *mem, const struct table *t, unsigned i,
	   struct desc *d)
{
	struct vring_desc raw;

	/* Bytes, not vring_desc: an indirect table need not be aligned. */
	if (t->host) {
		memcpy(&raw, t->host + (size_t)i * sizeof(raw), sizeof(raw));
	} else if (copy_from_guest(mem, t->gpa + (uint64_t)i * sizeof(raw),
				   &raw, sizeof(raw))) {
		return -EBADMSG;
	}
	barrier();
	desc_decode(d, &raw);
	return 0;
}

/*
 * Append the iovecs of one buffer. On failure nothing is appended, so the
 * chain keeps only whole descriptors.
 */
static int
chain_add(struct vring_chain *c, const struct memmap *mem,
	  const struct desc *d, bool write)
{
	unsigned n = c->nout + c->nin, first = n;
	uint64_t gpa = d->addr, left = d->len;

	if (gpa + left < gpa)
		return -EBADMSG;
	while (left) {
		void *host;
		uint64_t got;

		if (n == VRING_MAX_IOV)
			return -EBADMSG;
		got = memmap_gpa_span(mem, gpa, left, &host);
		if (!got)
			return -EBADMSG;
		c->iov[n].iov_base = host;
		c->iov[n].iov_len = got;
		n++;
		gpa += got;
		left -= got;
	}
	if (write) {
		c->nin += n - first;
		c->in_len += d->len;
	} else {
		c->nout += n - first;
		c->out_len += d->len;
	}
	return 0;
}

/* Switch the walk to the indirect table that d points at. */
static int
table_indirect(struct table *t, const struct vring_queue *vq,
	       const struct memmap *mem, const struct desc *d)
{
	/* It ends the chain (spec: "Indirect Descriptors"). */
	if (d->flags & VRING_DESC_F_NEXT)
		return -EBADMSG;
	if (d->len == 0 || d->len % sizeof(struct vring_desc) ||
	    d->len > vq->num * sizeof(struct vring_desc))
		return -EBADMSG;
	if (d->addr + d->len < d->addr)
		return -EBADMSG;
	/* Usually the table sits in one region; else read it piecewise. */
	t->host = memmap_gpa(mem, d->addr, d->len);
	t->gpa = d->addr;
	t->size = d->len / sizeof(struct vring_desc);
	return 0;
}

static int
chain_walk(struct vring_queue *vq, const struct memmap *mem,
	   struct vring_chain *c)
{
	struct table t = { .host = (const uint8_t *)vq->desc, .size = vq->num };
	bool indirect = false, writing = false;
	unsigned i = c->head, bufs = 0;
	struct desc d;
	int err;

	/*
	 * Every pass either counts a buffer descriptor against num or
	 * switches to an indirect table, which happens at most once: at most
	 * num + 1 descriptors are read.
	 */
	for (;;) {
		if (i >= t.size)
			return -EBADMSG;
		err = desc_fetch(mem, &t, i, &d);
		if (err)
			return err;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect)	/* one level only */
				return -EBADMSG;
			err = table_indirect(&t, vq, mem, &d);
			if (err)
				return err;
			indirect = true;
			i = 0;
			continue;
		}
		if (++bufs > vq->num)
			return -EBADMSG;
		if (d.flags & VRING_DESC_F_WRITE) {
			writing = true;
			err = chain_add(c, mem, &d, true);
		} else if (writing) {
			err = -EBADMSG;	/* readable after writable */
		} else {
			err = chain_add(c, mem, &d, false);
		}
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

static bool
num_ok(unsigned num)
{
	return num && num <= VRING_MAX_NUM && !(num & (num - 1));
}

static int
ring_broken(struct vring_queue *vq)
{
	vq->broken = true;
	return -EIO;
}

void
vring_queue_init(struct vring_queue *vq, unsigned num, void *desc,
		 void *avail, void *used, uint16_t base, bool event_idx)
{
	*vq = (struct vring_queue){
		.num = num,
		.desc = desc,
		.avail = avail,
		.used = used,
		.last_avail = base,
		.event_idx = event_idx,
		.broken = !num_ok(num),
	};
	if (used) {
		vq->used_idx = load16(&vq->used->idx, __ATOMIC_RELAXED);
		vq->published_used = vq->used_idx;
	}
}

uint16_t
vring_avail_pending(const struct vring_queue *vq)
{
	if (vq->broken || !vq->avail)
		return 0;
	return load16(&vq->avail->idx, __ATOMIC_ACQUIRE) - vq->last_avail;
}

int
vring_pop(struct vring_queue *vq, const struct memmap *mem,
	  struct vring_chain *c)
{
	uint16_t pending, head;

	if (vq->broken)
		return -EIO;
	if (!vq->desc || !vq->avail || !vq->used)
		return ring_broken(vq);
	/* Acquire: the entry and descriptors below are read after idx. */
	pending = load16(&vq->avail->idx, __ATOMIC_ACQUIRE) - vq->last_avail;
	if (pending > vq->num)
		return ring_broken(vq);
	if (!pending)
		return -EAGAIN;

	head = load16(&vq->avail->ring[vq->last_avail & (vq->num - 1)],
		      __ATOMIC_RELAXED);
	vq->last_avail++;

	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	return chain_walk(vq, mem, c);
}

void
vring_push(struct vring_queue *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	/* Still allowed on a broken ring, to finish what was popped. */
	if (!vq->used || !num_ok(vq->num))
		return;
	e = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	e->id = htole32(head);
	e->len = htole32(len);
	vq->used_idx++;
}

bool
vring_publish(struct vring_queue *vq)
{
	uint16_t old = vq->published_used, new = vq->used_idx;

	if (old == new || !vq->used || !vq->avail)
		return false;
	/* Release: the driver sees the entries before it sees idx move. */
	store16(&vq->used->idx, new, __ATOMIC_RELEASE);
	vq->published_used = new;

	/*
	 * Our idx store must be visible before we read the driver's wish,
	 * or we race with a driver that just re-enabled interrupts and
	 * checked idx (spec: "Used Buffer Notification Suppression").
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		return vring_need_event(load16(used_event(vq), __ATOMIC_RELAXED),
					new, old);
	return !(load16(&vq->avail->flags, __ATOMIC_RELAXED) &
		 VRING_AVAIL_F_NO_INTERRUPT);
}

void
vring_kicks_disable(struct vring_queue *vq)
{
	if (vq->event_idx || !vq->used)
		return;
	store16(&vq->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool
vring_kicks_enable(struct vring_queue *vq)
{
	if (vq->broken || !vq->used || !vq->avail)
		return false;
	if (vq->event_idx)
		store16(avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
	else
		store16(&vq->used->flags, 0, __ATOMIC_RELAXED);
	/*
	 * The driver adds to avail, fences, then reads our flag/event; we
	 * write the flag/event, fence, then read avail. One of us sees the
	 * other, so a chain added now is either kicked or found here.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vring_avail_pending(vq) != 0;
}
