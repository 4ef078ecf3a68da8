/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a vhost-user device implements for core/vu.c. Kept apart from
 * core/vu.h so that a device model (render/) needs nothing of the loop.
 */
#ifndef CORE_VU_DEVICE_H
#define CORE_VU_DEVICE_H

#include <stdint.h>

#define VU_NUM_QUEUES 2		/* virtio-gpu: control and cursor */

/* What a device implements; impl is its own pointer. */
struct vu_device_ops {
	/* Device feature bits to offer on top of the transport's. */
	uint64_t (*features)(void *impl);
	/* The driver's choice (device bits only); before any queue starts. */
	void (*set_features)(void *impl, uint64_t features);
	/* Config space; return bytes copied or -errno. */
	int (*get_config)(void *impl, void *buf, uint32_t offset, uint32_t len);
	int (*set_config)(void *impl, const void *buf, uint32_t offset,
			  uint32_t len);
	/* Queue q is running (started and enabled) or stopped. */
	void (*queue_start)(void *impl, unsigned q);
	void (*queue_stop)(void *impl, unsigned q);
	/* The driver kicked queue q. */
	void (*queue_kick)(void *impl, unsigned q);
	/* The memory table changed: drop or re-translate guest pointers. */
	void (*mem_changed)(void *impl);
	/* GPU_SET_SOCKET: the display socket; the device owns fd now.
	 * -1 when the frontend is gone. */
	void (*set_display)(void *impl, int fd);
	/* Back to the power-on state (RESET_DEVICE, or a new frontend). */
	void (*reset)(void *impl);
};

#endif /* CORE_VU_DEVICE_H */
