/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vhost-user backend: one frontend connection, its control messages,
 * guest memory and virtqueues. The device behind it (render/gpu.c) is
 * reached through struct vu_device_ops; it sees started rings and kicks.
 */
#ifndef CORE_VU_H
#define CORE_VU_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/vu_device.h"
#include "proto/memmap.h"
#include "proto/vring.h"
#include "proto/vu_msg.h"

struct vu_kick;

struct vu_queue {
	struct vu_dev *dev;		/* back-pointer, for deferred work */
	unsigned index;
	unsigned num;			/* SET_VRING_NUM; 0 until set */
	uint16_t base;			/* SET_VRING_BASE */
	struct vhost_vring_addr addr;	/* SET_VRING_ADDR, as sent */
	bool addr_set;
	bool started;			/* kick fd received, not stopped */
	bool enabled;			/* SET_VRING_ENABLE */
	bool running;			/* started && enabled && vr usable */
	struct vring_queue vr;		/* valid while running */
	struct vu_kick *kick;		/* reading the kick eventfd */
	int call_fd;			/* -1: none */
	int err_fd;			/* -1: none */
	struct loop_defer publish;	/* flush used entries this turn */
};

typedef void vu_closed_fn(struct vu_dev *dev, void *data);

struct vu_dev {
	struct loop *loop;
	const struct vu_device_ops *ops;
	void *impl;
	vu_closed_fn *closed;		/* after hang-up; the dev is idle then */
	void *closed_data;

	int sock;			/* the frontend; -1 when none */

	/* Receiving a message: header, then payload (or discarding it). */
	struct loop_op rx_op;
	struct vu_msg msg;
	uint32_t rx_got;		/* header + payload bytes so far */
	uint32_t rx_discard;		/* oversized payload bytes still to skip */
	bool rx_oversized;		/* size > VU_MAX_PAYLOAD: refuse it */
	bool rx_fds_dropped;
	struct msghdr rx_mh;
	struct iovec rx_iov;
	/* Room for VU_MAX_FDS fds: CMSG_SPACE(), spelled as a constant. */
	_Alignas(struct cmsghdr) char rx_cmsg[sizeof(struct cmsghdr) +
					      sizeof(int) * VU_MAX_FDS +
					      sizeof(size_t)];

	/* Sending a reply; receiving resumes when it is out. */
	struct loop_op tx_op;
	struct {
		struct vu_hdr hdr;
		union {
			uint64_t u64;
			struct vhost_vring_state state;
			struct {
				struct vu_config_hdr hdr;
				uint8_t data[VU_MAX_CONFIG_SIZE];
			} config;
		} payload;
	} __attribute__((packed)) reply;
	uint32_t tx_len, tx_sent;
	struct msghdr tx_mh;
	struct iovec tx_iov;

	/* Device state the frontend sets up. */
	uint64_t features;		/* SET_FEATURES */
	uint64_t protocol_features;	/* SET_PROTOCOL_FEATURES */
	uint8_t status;			/* SET_STATUS */
	bool owner;
	int backend_fd;			/* SET_BACKEND_REQ_FD; -1: none */
	struct memmap mem;
	struct vu_queue q[VU_NUM_QUEUES];
};

/* Transport features we offer whatever the device. */
#define VU_TRANSPORT_FEATURES                                           \
	((1ull << 32) /* VIRTIO_F_VERSION_1 */ |                        \
	 (1ull << VU_F_PROTOCOL_FEATURES) |                             \
	 (1ull << 28) /* VIRTIO_RING_F_INDIRECT_DESC */ |               \
	 (1ull << 29) /* VIRTIO_RING_F_EVENT_IDX */)

#define VU_PROTOCOL_FEATURES                                            \
	((1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) |              \
	 (1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_CONFIG) |        \
	 (1ull << VU_PF_BACKEND_SEND_FD) | (1ull << VU_PF_RESET_DEVICE) | \
	 (1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (1ull << VU_PF_STATUS))

/* Set up an idle device (no frontend yet). */
void vu_dev_init(struct vu_dev *dev, struct loop *loop,
		 const struct vu_device_ops *ops, void *impl,
		 vu_closed_fn *closed, void *closed_data);

/* Serve the frontend on sock (the dev owns it from now on). */
void vu_dev_attach(struct vu_dev *dev, int sock);

/* Drop the frontend, if any, and everything it set up. */
void vu_dev_detach(struct vu_dev *dev);

/* The running ring of queue q, or NULL. */
struct vring_queue *vu_queue_ring(struct vu_dev *dev, unsigned q);

/* Publish q's used entries (and notify the driver) before the loop
 * next waits: one notification per batch. */
void vu_queue_flush(struct vu_dev *dev, unsigned q);

/* Queue q's ring is corrupt: stop it and tell the frontend (err fd). */
void vu_queue_fail(struct vu_dev *dev, unsigned q);

#endif /* CORE_VU_H */
