/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The split virtqueue (virtio 1.2/1.3, 2.7): taking descriptor chains off
 * the available ring, returning them on the used ring, and notification
 * suppression with and without VIRTIO_RING_F_EVENT_IDX.
 *
 * Pure code: no syscalls, no logging, no allocation. Everything returns
 * 0 or -errno and the caller decides what to say.
 *
 * The wire structs are the kernel's <linux/virtio_ring.h> ones. That
 * header always defines a `struct vring` of its own (and, without
 * VIRTIO_RING_NO_LEGACY, a `vring_init`), so ours is `struct vring_queue`
 * and its constructor `vring_queue_init`.
 */
#ifndef PROTO_VRING_H
#define PROTO_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_ring.h>

struct memmap;

/* Largest queue size the spec allows for a split ring is 32768; we take 1024. */
#define VRING_MAX_NUM 1024

/*
 * Iovecs one chain may produce. A chain has at most `num` buffer
 * descriptors, and a descriptor that spans n memory regions takes n
 * iovecs. 256 covers QEMU's largest virtio-gpu queue (256) with one iovec
 * per descriptor; a chain that needs more is malformed.
 */
#define VRING_MAX_IOV 256

struct vring_queue {
	unsigned num;			/* queue size: power of two, 1..VRING_MAX_NUM */
	/*
	 * Host pointers to the three areas, in guest memory (set by core/
	 * from the vring addresses; each must be mapped in full and aligned
	 * as the spec asks: 16, 2 and 4 bytes). Not owned.
	 */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;		/* next avail slot the device reads */
	uint16_t used_idx;		/* shadow: entries written, maybe not published */
	uint16_t published_used;	/* used->idx as last stored */
	bool event_idx;			/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool broken;			/* the ring itself is corrupt: stop using it */
};

struct vring_chain {
	uint16_t head;			/* descriptor index to return in the used entry */
	unsigned nout, nin;		/* iov[0..nout) readable, iov[nout..nout+nin) writable */
	uint64_t out_len, in_len;	/* byte totals of the two parts */
	struct iovec iov[VRING_MAX_IOV];	/* host pointers into guest memory */
};

/*
 * Start using a ring: the avail ring is read from slot `base` (what
 * SET_VRING_BASE gave), and the used index is taken from used->idx in guest
 * memory (0 on a fresh ring, the previous backend's value on reconnect).
 * A num that is not a power of two in 1..VRING_MAX_NUM marks the ring
 * broken. NULL area pointers are allowed here; vring_pop then fails.
 */
void vring_queue_init(struct vring_queue *vq, unsigned num, void *desc,
		      void *avail, void *used, uint16_t base, bool event_idx);

/*
 * Take the next chain off the avail ring, translating its buffers through
 * mem (a buffer spanning adjacent regions becomes several iovecs).
 *
 * Returns:
 *   0        *c describes the chain; return c->head with vring_push.
 *   -EAGAIN  the avail ring is empty; *c is untouched.
 *   -EIO     the ring itself is corrupt (avail->idx more than num entries
 *            ahead, bad num, or an area pointer is NULL). vq->broken is set
 *            and every later call returns -EIO; *c is untouched.
 *   -EBADMSG the chain is malformed. Its avail entry has been consumed and
 *            c->head is its head: return it with vring_push(vq, c->head, 0)
 *            or after writing an error reply. c->head may be >= num when
 *            the avail entry itself was out of range; it is returned
 *            as is, so the driver can see what it sent. Guaranteed: each of
 *            iov[0..nout+nin) lies wholly in guest memory and comes from a
 *            whole descriptor that was checked before the bad one (a
 *            descriptor that failed half way contributes nothing), readable
 *            ones first; out_len/in_len are their totals. The caller may
 *            write into iov[nout..nout+nin).
 *
 * Malformed: head or a next index out of range; more than num buffer
 * descriptors in total, direct and indirect together (this is also how a
 * loop in `next` ends); a buffer that is not in guest memory or wraps 64
 * bits; a readable descriptor after a writable one; an INDIRECT descriptor
 * with NEXT set or inside an indirect table; an indirect table whose
 * length is 0, not a multiple of 16 or more than num * 16 bytes, that
 * wraps, or one of whose descriptors read is not in guest memory (a table
 * may span regions); more than VRING_MAX_IOV iovecs.
 *
 * Zero-length descriptors are allowed and produce no iovec. The WRITE flag
 * of a descriptor pointing at an indirect table is ignored, as the spec asks.
 */
int vring_pop(struct vring_queue *vq, const struct memmap *mem,
	      struct vring_chain *c);

/*
 * Write a used entry for head with len bytes written into the chain's
 * writable part. The driver does not see it until vring_publish.
 */
void vring_push(struct vring_queue *vq, uint16_t head, uint32_t len);

/*
 * Make the entries pushed since the last call visible (used->idx with
 * release order). Returns true when the driver wants a notification for
 * them: with EVENT_IDX when used_event was passed, else unless
 * VRING_AVAIL_F_NO_INTERRUPT is set. False when nothing was pushed.
 */
bool vring_publish(struct vring_queue *vq);

/*
 * While the device is processing, ask the driver not to kick. Only without
 * EVENT_IDX (VRING_USED_F_NO_NOTIFY); with it, the avail_event left at its
 * old value already means "one kick, then quiet".
 */
void vring_kicks_disable(struct vring_queue *vq);

/*
 * Before the device goes idle: ask for kicks again (avail_event =
 * last_avail with EVENT_IDX, else clear VRING_USED_F_NO_NOTIFY), then look
 * at the avail ring again. Returns true when chains arrived in the meantime
 * and the caller must keep popping, since no kick will come for them.
 */
bool vring_kicks_enable(struct vring_queue *vq);

/*
 * How many avail entries the driver has published that vring_pop has not
 * taken (acquire order). 0 on a broken ring. More than num means corrupt:
 * the next vring_pop says -EIO.
 */
uint16_t vring_avail_pending(const struct vring_queue *vq);

#endif /* PROTO_VRING_H */
