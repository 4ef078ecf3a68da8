/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user backend (QEMU docs/interop/vhost-user.rst).
 *
 * Security model: the frontend is a separate process (QEMU, or whatever
 * can reach our socket). It controls every byte of every message, the fds
 * attached to them, and the order of messages; it can hang up at any
 * time. It does not get to crash us: each message is checked against the
 * table in proto/vu_msg.c before its handler runs, handlers check the
 * values (queue index, sizes, addresses), every fd a handler does not take
 * is closed, and a refused request gets a failure reply where the
 * frontend waits for one. The guest's memory is mapped only through
 * core/mem.c, and ring addresses must lie inside it.
 *
 * Messages are received with io_uring: a recvmsg for the header (with
 * room for fds), then one for the payload. Replies are sent the same way,
 * and no new message is read until the reply is out, which is how the
 * protocol works anyway (the frontend waits for each reply).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/sock.h"
#include "core/vu.h"

struct vu_kick {
	struct loop_op op;
	struct vu_dev *dev;	/* NULL once detached: free on completion */
	unsigned q;
	int fd;
};

/* A handler's verdict. */
enum {
	VU_OK = 0,		/* done, no payload to send back */
	VU_REPLY = 1,		/* dev->reply holds the payload to send */
};

static void rx_start(struct vu_dev *dev);
static void queue_update(struct vu_dev *dev, unsigned qi);
static void queue_stop(struct vu_dev *dev, unsigned qi);

static bool
has_protocol_feature(const struct vu_dev *dev, unsigned bit)
{
	return dev->protocol_features & (1ull << bit);
}

/* ---------- kicks ---------- */

static void kick_handle_poll(struct loop_op *op, int res, unsigned flags);

static void
kick_arm(struct vu_dev *dev, struct vu_kick *k)
{
	/*
	 * One multishot poll per kick fd: cheaper than a read op armed for
	 * every kick, and never sent to an io_uring worker thread, which a
	 * blocking eventfd (the spec does not forbid one) would cause. The
	 * poll completes on every write to the eventfd, so the counter is
	 * never read back: that saves a syscall per kick (measured: flush
	 * of an off-screen resource 0.62x the latency), and a 64-bit
	 * counter does not fill up in any lifetime.
	 */
	loop_poll_multi(dev->loop, &k->op, k->fd, POLLIN);
}

static struct vu_kick *
kick_create(struct vu_dev *dev, unsigned q, int fd)
{
	struct vu_kick *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	loop_op_init(&k->op, kick_handle_poll);
	k->dev = dev;
	k->q = q;
	k->fd = fd;
	return k;
}

/* Stop watching; the watcher frees itself at its last completion. */
static void
kick_detach(struct vu_dev *dev, struct vu_kick *k)
{
	if (!k)
		return;
	k->dev = NULL;
	if (k->op.busy) {
		loop_cancel(dev->loop, &k->op);
		return;
	}
	close(k->fd);
	free(k);
}

static void
kick_handle_poll(struct loop_op *op, int res, unsigned flags)
{
	struct vu_kick *k = container_of(op, struct vu_kick, op);
	struct vu_dev *dev = k->dev;
	bool more = flags & IORING_CQE_F_MORE;

	if (!dev) {
		/* Detached: free at the last completion only. */
		if (!more) {
			close(k->fd);
			free(k);
		}
		return;
	}
	if (res < 0) {
		if (res != -ECANCELED)
			log_limited(LOG_LVL_ERROR, "queue %u: watching the kick fd: %s",
				    k->q, strerror(-res));
		if (!more) {
			dev->q[k->q].kick = NULL;
			close(k->fd);
			free(k);
		}
		return;
	}
	if (!more)
		kick_arm(dev, k);	/* the kernel ended the multishot */
	if (dev->q[k->q].running)
		dev->ops->queue_kick(dev->impl, k->q);
}

/* Signal an eventfd now: a plain write(2) wakes the other side at once
 * and never blocks (the counter cannot reach its limit). */
static void
eventfd_signal(int fd)
{
	static const uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_limited(LOG_LVL_ERROR, "signalling eventfd %d: %s", fd,
			    strerror(errno));
}

/* ---------- queues ---------- */

static void
set_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

/* Host pointers for the three ring areas, or false if any is unmapped or
 * misaligned (the spec asks for 16, 2 and 4 bytes). */
static bool
ring_translate(const struct vu_dev *dev, const struct vhost_vring_addr *a,
	       unsigned num, void **desc, void **avail, void **used)
{
	uint64_t dsz = 16ull * num;
	uint64_t asz = 6 + 2ull * num;	/* flags, idx, ring[num], used_event */
	uint64_t usz = 6 + 8ull * num;	/* flags, idx, ring[num], avail_event */

	if ((a->desc_user_addr & 15) || (a->avail_user_addr & 1) ||
	    (a->used_user_addr & 3))
		return false;
	*desc = memmap_uva(&dev->mem, a->desc_user_addr, dsz);
	*avail = memmap_uva(&dev->mem, a->avail_user_addr, asz);
	*used = memmap_uva(&dev->mem, a->used_user_addr, usz);
	return *desc && *avail && *used;
}

static void
queue_publish(struct loop_defer *d)
{
	struct vu_queue *vq = container_of(d, struct vu_queue, publish);

	if (!vq->running)
		return;
	if (vring_publish(&vq->vr) && vq->call_fd >= 0)
		eventfd_signal(vq->call_fd);
}

void
vu_queue_flush(struct vu_dev *dev, unsigned q)
{
	if (q < VU_NUM_QUEUES && dev->q[q].running)
		loop_defer(dev->loop, &dev->q[q].publish, queue_publish);
}

void
vu_queue_fail(struct vu_dev *dev, unsigned q)
{
	struct vu_queue *vq = &dev->q[q];

	log_limited(LOG_LVL_ERROR, "queue %u: the ring is corrupt; queue stopped", q);
	queue_stop(dev, q);
	vq->started = false;
	if (vq->err_fd >= 0)
		eventfd_signal(vq->err_fd);
}

static void
queue_stop(struct vu_dev *dev, unsigned qi)
{
	struct vu_queue *vq = &dev->q[qi];

	if (vq->running) {
		/* The device may still answer what it holds: the ring is
		 * usable until it returns. */
		dev->ops->queue_stop(dev->impl, qi);
		vq->running = false;
		/* Whatever the device returned must reach the driver. */
		if (vring_publish(&vq->vr) && vq->call_fd >= 0)
			eventfd_signal(vq->call_fd);
		vq->base = vq->vr.last_avail;
	}
}

/* Start or stop queue qi to match what the frontend has set up. */
static void
queue_update(struct vu_dev *dev, unsigned qi)
{
	struct vu_queue *vq = &dev->q[qi];
	bool want = vq->started && vq->enabled && vq->addr_set && vq->num;
	void *desc, *avail, *used;

	if (!want) {
		queue_stop(dev, qi);
		return;
	}
	if (vq->running)
		return;
	if (!ring_translate(dev, &vq->addr, vq->num, &desc, &avail, &used)) {
		log_limited(LOG_LVL_ERROR,
			    "queue %u: ring not in guest memory; not started", qi);
		return;
	}
	vring_queue_init(&vq->vr, vq->num, desc, avail, used, vq->base,
			 dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX));
	vq->running = true;
	dev->ops->queue_start(dev->impl, qi);
	/* The driver may have queued work before we listened for kicks. */
	dev->ops->queue_kick(dev->impl, qi);
}

static void
queue_reset(struct vu_dev *dev, unsigned qi)
{
	struct vu_queue *vq = &dev->q[qi];

	queue_stop(dev, qi);
	kick_detach(dev, vq->kick);
	vq->kick = NULL;
	set_fd(&vq->call_fd, -1);
	set_fd(&vq->err_fd, -1);
	vq->num = 0;
	vq->base = 0;
	vq->addr_set = false;
	vq->started = false;
	vq->enabled = false;
	memset(&vq->addr, 0, sizeof(vq->addr));
}

struct vring_queue *
vu_queue_ring(struct vu_dev *dev, unsigned q)
{
	if (q >= VU_NUM_QUEUES || !dev->q[q].running)
		return NULL;
	return &dev->q[q].vr;
}

/* ---------- handlers ---------- */

/*
 * Each handler gets a message that already passed vu_msg_check. It takes
 * the fds it keeps by setting msg->fds[i] = -1; the rest are closed after
 * it returns. It returns VU_OK, VU_REPLY (dev->reply.payload filled and
 * dev->tx_len set to its size) or -errno (refused).
 */
typedef int vu_handler_fn(struct vu_dev *dev, struct vu_msg *msg);

static int
take_fd(struct vu_msg *msg, unsigned i)
{
	int fd = msg->fds[i];

	msg->fds[i] = -1;
	return fd;
}

static int
reply_u64(struct vu_dev *dev, uint64_t v)
{
	dev->reply.payload.u64 = v;
	dev->tx_len = sizeof(v);
	return VU_REPLY;
}

static uint64_t
offered_features(struct vu_dev *dev)
{
	return VU_TRANSPORT_FEATURES | dev->ops->features(dev->impl);
}

static int
vu_get_features(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, offered_features(dev));
}

static int
vu_set_features(struct vu_dev *dev, struct vu_msg *msg)
{
	uint64_t f = msg->payload.u64;

	if (f & ~offered_features(dev)) {
		/*
		 * QEMU 10 passes on transport bits it offers itself
		 * (VIRTIO_F_RING_RESET, bit 40) even though we never did.
		 * Refusing would break every boot: keep what we offered.
		 */
		log_limited(LOG_LVL_INFO,
			    "SET_FEATURES: ignoring bits we never offered (0x%llx)",
			    (unsigned long long)(f & ~offered_features(dev)));
		f &= offered_features(dev);
	}
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		if (dev->q[i].running)
			return -EBUSY;
	dev->features = f;
	/* Without protocol features, rings run as soon as they start. */
	if (!(f & (1ull << VU_F_PROTOCOL_FEATURES)))
		for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
			dev->q[i].enabled = true;
	dev->ops->set_features(dev->impl, f & ~VU_TRANSPORT_FEATURES);
	return VU_OK;
}

static int
vu_get_protocol_features(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, VU_PROTOCOL_FEATURES);
}

static int
vu_set_protocol_features(struct vu_dev *dev, struct vu_msg *msg)
{
	if (msg->payload.u64 & ~VU_PROTOCOL_FEATURES)
		return -EINVAL;
	dev->protocol_features = msg->payload.u64;
	return VU_OK;
}

static int
vu_set_owner(struct vu_dev *dev, struct vu_msg *msg)
{
	dev->owner = true;
	return VU_OK;
}

static void
device_reset(struct vu_dev *dev)
{
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
		queue_reset(dev, i);
	dev->ops->reset(dev->impl);
	dev->features = 0;
	dev->status = 0;
}

static int
vu_reset_device(struct vu_dev *dev, struct vu_msg *msg)
{
	device_reset(dev);
	return VU_OK;
}

/* Rings point into guest memory: re-translate them after a change. */
/* Rings and the device point into guest memory: move them after a
 * change, rings first (the device may go on processing them). */
static void
mem_changed(struct vu_dev *dev)
{
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		struct vu_queue *vq = &dev->q[i];
		void *desc, *avail, *used;

		if (!vq->running)
			continue;
		if (ring_translate(dev, &vq->addr, vq->num, &desc, &avail, &used)) {
			vq->vr.desc = desc;
			vq->vr.avail = avail;
			vq->vr.used = used;
		} else {
			log_limited(LOG_LVL_ERROR,
				    "queue %u: ring left guest memory", i);
			vu_queue_fail(dev, i);
		}
	}
	dev->ops->mem_changed(dev->impl);
}

static int
vu_set_mem_table(struct vu_dev *dev, struct vu_msg *msg)
{
	/* 24 KiB each: not on the stack. One thread, so static is safe. */
	static struct memmap next, old;
	uint32_t n = msg->payload.mem.nregions;
	int ret = 0;

	next.n = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct memmap_region r;

		ret = mem_map_region(&next, &r, &msg->payload.mem.regions[i],
				     msg->fds[i]);
		if (ret)
			break;
		memmap_insert(&next, &r);
	}
	if (ret) {
		mem_unmap_all(&next);
		return ret;
	}
	/* Switch first, let the device and the rings move their pointers,
	 * and only then unmap what they pointed at. */
	old = dev->mem;
	dev->mem = next;
	mem_changed(dev);
	mem_unmap_all(&old);
	return VU_OK;
}

static int
vu_get_max_mem_slots(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, MEMMAP_MAX_REGIONS);
}

static int
vu_add_mem_reg(struct vu_dev *dev, struct vu_msg *msg)
{
	struct memmap_region r;
	int ret;

	ret = mem_map_region(&dev->mem, &r, &msg->payload.mem_reg.region,
			     msg->fds[0]);
	if (ret)
		return ret;
	memmap_insert(&dev->mem, &r);
	return VU_OK;
}

static int
vu_rem_mem_reg(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_mem_region *d = &msg->payload.mem_reg.region;
	int i = memmap_find(&dev->mem, d->guest_phys_addr, d->memory_size,
			    d->userspace_addr);
	struct memmap_region gone;

	if (i < 0)
		return i;
	gone = dev->mem.r[i];
	memmap_remove(&dev->mem, (unsigned)i);
	mem_changed(dev);
	mem_unmap_region(&gone);
	return VU_OK;
}

static int
vu_set_vring_num(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned qi = msg->payload.state.index, num = msg->payload.state.num;

	if (qi >= VU_NUM_QUEUES)
		return -ERANGE;
	if (num == 0 || num > VU_MAX_QUEUE_SIZE || (num & (num - 1)))
		return -EINVAL;
	if (dev->q[qi].running)
		return -EBUSY;
	dev->q[qi].num = num;
	return VU_OK;
}

static int
vu_set_vring_addr(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vhost_vring_addr *a = &msg->payload.addr;
	unsigned qi = a->index;
	void *desc, *avail, *used;

	if (qi >= VU_NUM_QUEUES)
		return -ERANGE;
	if (a->flags & (1u << VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;	/* we offer no dirty logging */
	/* Checked against the size known now, and again at start. */
	if (!ring_translate(dev, a, dev->q[qi].num ? dev->q[qi].num : 1,
			    &desc, &avail, &used))
		return -EFAULT;
	if (dev->q[qi].running) {
		dev->q[qi].vr.desc = desc;
		dev->q[qi].vr.avail = avail;
		dev->q[qi].vr.used = used;
	}
	dev->q[qi].addr = *a;
	dev->q[qi].addr_set = true;
	return VU_OK;
}

static int
vu_set_vring_base(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned qi = msg->payload.state.index;

	if (qi >= VU_NUM_QUEUES)
		return -ERANGE;
	if (msg->payload.state.num > UINT16_MAX)
		return -EINVAL;
	if (dev->q[qi].running)
		return -EBUSY;
	dev->q[qi].base = (uint16_t)msg->payload.state.num;
	return VU_OK;
}

static int
vu_get_vring_base(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned qi = msg->payload.state.index;
	struct vu_queue *vq;

	if (qi >= VU_NUM_QUEUES)
		return -ERANGE;
	vq = &dev->q[qi];
	/* This stops the ring: the frontend may hand it to someone else. */
	queue_stop(dev, qi);
	vq->started = false;
	kick_detach(dev, vq->kick);
	vq->kick = NULL;
	dev->reply.payload.state.index = qi;
	dev->reply.payload.state.num = vq->base;
	dev->tx_len = sizeof(dev->reply.payload.state);
	return VU_REPLY;
}

static int
vring_file_index(struct vu_msg *msg, unsigned *qi)
{
	/* Bits 9..63 are reserved and must be zero. */
	if (msg->payload.u64 & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD))
		return -EINVAL;
	*qi = vu_vring_file_index(msg->payload.u64);
	return *qi < VU_NUM_QUEUES ? 0 : -ERANGE;
}

static int
vu_set_vring_kick(struct vu_dev *dev, struct vu_msg *msg)
{
	struct vu_queue *vq;
	struct vu_kick *k = NULL;
	unsigned qi;
	int ret = vring_file_index(msg, &qi);

	if (ret)
		return ret;
	vq = &dev->q[qi];
	if (msg->nfds == 1) {
		k = kick_create(dev, qi, msg->fds[0]);
		if (!k)
			return -ENOMEM;
		msg->fds[0] = -1;
	}
	kick_detach(dev, vq->kick);
	vq->kick = k;
	if (k)
		kick_arm(dev, k);
	/*
	 * The ring starts with its kick fd. Without one the spec asks the
	 * backend to poll the ring, and we never poll: the ring stays
	 * stopped until a kick fd comes.
	 */
	vq->started = k != NULL;
	if (!k)
		log_warn("queue %u: no kick fd; the ring stays stopped", qi);
	queue_update(dev, qi);
	return VU_OK;
}

static int
vu_set_vring_call(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned qi;
	int ret = vring_file_index(msg, &qi);

	if (ret)
		return ret;
	set_fd(&dev->q[qi].call_fd, msg->nfds ? take_fd(msg, 0) : -1);
	return VU_OK;
}

static int
vu_set_vring_err(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned qi;
	int ret = vring_file_index(msg, &qi);

	if (ret)
		return ret;
	set_fd(&dev->q[qi].err_fd, msg->nfds ? take_fd(msg, 0) : -1);
	return VU_OK;
}

static int
vu_set_vring_enable(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned qi = msg->payload.state.index, on = msg->payload.state.num;

	if (qi >= VU_NUM_QUEUES)
		return -ERANGE;
	if (on > 1)
		return -EINVAL;
	dev->q[qi].enabled = on;
	queue_update(dev, qi);
	return VU_OK;
}

static int
vu_get_queue_num(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, VU_NUM_QUEUES);
}

static int
config_range_ok(const struct vu_msg *msg)
{
	const struct vu_config_hdr *h = &msg->payload.config.hdr;

	return h->size > 0 && h->offset <= VU_MAX_CONFIG_SIZE &&
	       h->size <= VU_MAX_CONFIG_SIZE - h->offset;
}

static int
vu_get_config(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_config_hdr *h = &msg->payload.config.hdr;
	int ret;

	if (!config_range_ok(msg))
		return -EINVAL;
	memset(dev->reply.payload.config.data, 0, h->size);
	ret = dev->ops->get_config(dev->impl, dev->reply.payload.config.data,
				   h->offset, h->size);
	if (ret < 0)
		return ret;
	dev->reply.payload.config.hdr = *h;
	dev->tx_len = sizeof(*h) + h->size;
	return VU_REPLY;
}

static int
vu_set_config(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_config_hdr *h = &msg->payload.config.hdr;
	int ret;

	if (!config_range_ok(msg))
		return -EINVAL;
	ret = dev->ops->set_config(dev->impl, msg->payload.config.data,
				   h->offset, h->size);
	return ret < 0 ? ret : VU_OK;
}

static int
vu_gpu_set_socket(struct vu_dev *dev, struct vu_msg *msg)
{
	int fd = msg->fds[0];

	if (!sock_is_stream(fd))
		return -ENOTSOCK;
	dev->ops->set_display(dev->impl, take_fd(msg, 0));
	return VU_OK;
}

static int
vu_set_backend_req_fd(struct vu_dev *dev, struct vu_msg *msg)
{
	if (!sock_is_stream(msg->fds[0]))
		return -ENOTSOCK;
	set_fd(&dev->backend_fd, take_fd(msg, 0));
	return VU_OK;
}

static int
vu_set_status(struct vu_dev *dev, struct vu_msg *msg)
{
	if (msg->payload.u64 > UINT8_MAX)
		return -EINVAL;
	dev->status = (uint8_t)msg->payload.u64;
	return VU_OK;
}

static int
vu_get_status(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, dev->status);
}

static vu_handler_fn *const handlers[VU_REQUEST_MAX] = {
	[VU_GET_FEATURES] = vu_get_features,
	[VU_SET_FEATURES] = vu_set_features,
	[VU_SET_OWNER] = vu_set_owner,
	[VU_RESET_OWNER] = vu_reset_device,
	[VU_SET_MEM_TABLE] = vu_set_mem_table,
	[VU_SET_VRING_NUM] = vu_set_vring_num,
	[VU_SET_VRING_ADDR] = vu_set_vring_addr,
	[VU_SET_VRING_BASE] = vu_set_vring_base,
	[VU_GET_VRING_BASE] = vu_get_vring_base,
	[VU_SET_VRING_KICK] = vu_set_vring_kick,
	[VU_SET_VRING_CALL] = vu_set_vring_call,
	[VU_SET_VRING_ERR] = vu_set_vring_err,
	[VU_GET_PROTOCOL_FEATURES] = vu_get_protocol_features,
	[VU_SET_PROTOCOL_FEATURES] = vu_set_protocol_features,
	[VU_GET_QUEUE_NUM] = vu_get_queue_num,
	[VU_SET_VRING_ENABLE] = vu_set_vring_enable,
	[VU_SET_BACKEND_REQ_FD] = vu_set_backend_req_fd,
	[VU_GET_CONFIG] = vu_get_config,
	[VU_SET_CONFIG] = vu_set_config,
	[VU_GPU_SET_SOCKET] = vu_gpu_set_socket,
	[VU_RESET_DEVICE] = vu_reset_device,
	[VU_GET_MAX_MEM_SLOTS] = vu_get_max_mem_slots,
	[VU_ADD_MEM_REG] = vu_add_mem_reg,
	[VU_REM_MEM_REG] = vu_rem_mem_reg,
	[VU_SET_STATUS] = vu_set_status,
	[VU_GET_STATUS] = vu_get_status,
};

/* ---------- receiving and replying ---------- */

static void
close_msg_fds(struct vu_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

static void tx_handle_send(struct loop_op *op, int res, unsigned flags);

static void
tx_submit(struct vu_dev *dev)
{
	dev->tx_iov.iov_base = (char *)&dev->reply + dev->tx_sent;
	dev->tx_iov.iov_len = dev->tx_len - dev->tx_sent;
	memset(&dev->tx_mh, 0, sizeof(dev->tx_mh));
	dev->tx_mh.msg_iov = &dev->tx_iov;
	dev->tx_mh.msg_iovlen = 1;
	loop_sendmsg(dev->loop, &dev->tx_op, dev->sock, &dev->tx_mh, 0);
}

/* Send dev->reply with a payload of `size` bytes, then read on. */
static void
reply_send(struct vu_dev *dev, uint32_t request, uint32_t size)
{
	dev->reply.hdr.request = request;
	dev->reply.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	dev->reply.hdr.size = size;
	dev->tx_len = sizeof(dev->reply.hdr) + size;
	dev->tx_sent = 0;
	tx_submit(dev);
}

static void
hang_up(struct vu_dev *dev)
{
	log_info("frontend disconnected");
	vu_dev_detach(dev);
	if (dev->closed)
		dev->closed(dev, dev->closed_data);
}

static void
tx_handle_send(struct loop_op *op, int res, unsigned flags)
{
	struct vu_dev *dev = container_of(op, struct vu_dev, tx_op);

	if (dev->sock < 0)
		return;		/* detached while the reply was going out */
	if (res == -EINTR || res == -EAGAIN) {
		tx_submit(dev);
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -EPIPE && res != -ECONNRESET)
			log_error("sending a reply: %s", strerror(-res));
		hang_up(dev);
		return;
	}
	dev->tx_sent += (uint32_t)res;
	if (dev->tx_sent < dev->tx_len) {
		tx_submit(dev);
		return;
	}
	rx_start(dev);
}

static const char *
refusal(int err)
{
	switch (err) {
	case -ENOSYS: return "unknown request";
	case -EPROTO: return "bad header flags";
	case -EMSGSIZE: return "wrong payload size";
	case -EBADF: return "wrong number of fds";
	default: return strerror(-err);
	}
}

/* Handle the message in dev->msg; true if a reply is on its way. */
static bool
dispatch(struct vu_dev *dev)
{
	struct vu_msg *msg = &dev->msg;
	const struct vu_req_info *info = vu_req_info(msg->hdr.request);
	bool need_reply = (msg->hdr.flags & VU_FLAG_NEED_REPLY) &&
			  has_protocol_feature(dev, VU_PF_REPLY_ACK);
	uint32_t req = msg->hdr.request;
	int ret;

	if (dev->rx_fds_dropped)
		ret = -EBADF;
	else if (dev->rx_oversized)
		ret = -EMSGSIZE;
	else
		ret = vu_msg_check(msg);
	if (ret == 0)
		ret = handlers[req] ? handlers[req](dev, msg) : -EOPNOTSUPP;
	close_msg_fds(msg);

	if (ret < 0)
		log_limited(LOG_LVL_WARN, "refused %s (%u): %s",
			    vu_req_name(req), req, refusal(ret));
	else
		log_debug("%s (%u) done", vu_req_name(req), req);

	if (info && info->has_reply) {
		/* The frontend waits for this reply; empty means failure. */
		reply_send(dev, req, ret == VU_REPLY ? dev->tx_len : 0);
		return true;
	}
	if (need_reply) {
		dev->reply.payload.u64 = ret < 0 ? (uint64_t)-ret : 0;
		reply_send(dev, req, sizeof(uint64_t));
		return true;
	}
	return false;
}

static void rx_handle_recv(struct loop_op *op, int res, unsigned flags);

static void
rx_submit(struct vu_dev *dev)
{
	static char scratch[4096];	/* discarded payload lands here */
	uint32_t hdr = sizeof(dev->msg.hdr);

	if (dev->rx_discard) {
		dev->rx_iov.iov_base = scratch;
		dev->rx_iov.iov_len = dev->rx_discard < sizeof(scratch) ?
				      dev->rx_discard : sizeof(scratch);
	} else if (dev->rx_got < hdr) {
		dev->rx_iov.iov_base = (char *)&dev->msg.hdr + dev->rx_got;
		dev->rx_iov.iov_len = hdr - dev->rx_got;
	} else {
		dev->rx_iov.iov_base = dev->msg.payload.bytes + (dev->rx_got - hdr);
		dev->rx_iov.iov_len = dev->msg.hdr.size - (dev->rx_got - hdr);
	}
	memset(&dev->rx_mh, 0, sizeof(dev->rx_mh));
	dev->rx_mh.msg_iov = &dev->rx_iov;
	dev->rx_mh.msg_iovlen = 1;
	dev->rx_mh.msg_control = dev->rx_cmsg;
	dev->rx_mh.msg_controllen = sizeof(dev->rx_cmsg);
	loop_recvmsg(dev->loop, &dev->rx_op, dev->sock, &dev->rx_mh,
		     MSG_CMSG_CLOEXEC);
}

/* Wait for the next message. */
static void
rx_start(struct vu_dev *dev)
{
	dev->rx_got = 0;
	dev->rx_discard = 0;
	dev->rx_oversized = false;
	dev->rx_fds_dropped = false;
	dev->msg.nfds = 0;
	memset(&dev->msg.hdr, 0, sizeof(dev->msg.hdr));
	rx_submit(dev);
}

static void
rx_handle_recv(struct loop_op *op, int res, unsigned flags)
{
	struct vu_dev *dev = container_of(op, struct vu_dev, rx_op);
	uint32_t hdr = sizeof(dev->msg.hdr);

	if (dev->sock < 0) {
		/* Detached (we are exiting): drop what came with it. */
		close_msg_fds(&dev->msg);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		rx_submit(dev);
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET && res != -ECANCELED)
			log_error("reading from the frontend: %s", strerror(-res));
		close_msg_fds(&dev->msg);
		hang_up(dev);
		return;
	}
	if (!sock_take_fds(&dev->rx_mh, dev->msg.fds, &dev->msg.nfds,
			   VU_MAX_FDS))
		dev->rx_fds_dropped = true;

	if (dev->rx_discard) {
		dev->rx_discard -= (uint32_t)res;
		if (dev->rx_discard) {
			rx_submit(dev);
			return;
		}
	} else {
		dev->rx_got += (uint32_t)res;
		if (dev->rx_got == hdr && dev->msg.hdr.size > VU_MAX_PAYLOAD) {
			dev->rx_oversized = true;
			dev->rx_discard = dev->msg.hdr.size;
			rx_submit(dev);
			return;
		}
		if (dev->rx_got < hdr || dev->rx_got < hdr + dev->msg.hdr.size) {
			rx_submit(dev);
			return;
		}
	}
	if (!dispatch(dev))
		rx_start(dev);
}

/* ---------- life cycle ---------- */

void
vu_dev_init(struct vu_dev *dev, struct loop *loop,
	    const struct vu_device_ops *ops, void *impl,
	    vu_closed_fn *closed, void *closed_data)
{
	memset(dev, 0, sizeof(*dev));
	dev->loop = loop;
	dev->ops = ops;
	dev->impl = impl;
	dev->closed = closed;
	dev->closed_data = closed_data;
	dev->sock = -1;
	dev->backend_fd = -1;
	loop_op_init(&dev->rx_op, rx_handle_recv);
	loop_op_init(&dev->tx_op, tx_handle_send);
	for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
		dev->q[i].dev = dev;
		dev->q[i].index = i;
		dev->q[i].call_fd = -1;
		dev->q[i].err_fd = -1;
	}
}

void
vu_dev_attach(struct vu_dev *dev, int sock)
{
	dev->sock = sock;
	rx_start(dev);
}

void
vu_dev_detach(struct vu_dev *dev)
{
	if (dev->sock < 0)
		return;
	device_reset(dev);
	mem_unmap_all(&dev->mem);
	dev->ops->mem_changed(dev->impl);
	set_fd(&dev->backend_fd, -1);
	dev->ops->set_display(dev->impl, -1);
	loop_cancel(dev->loop, &dev->rx_op);
	loop_cancel(dev->loop, &dev->tx_op);
	close(dev->sock);
	dev->sock = -1;
	dev->protocol_features = 0;
	dev->owner = false;
}
