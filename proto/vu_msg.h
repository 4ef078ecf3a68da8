/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user wire format (QEMU docs/interop/vhost-user.rst) and the table
 * that says, for every request, what a well-formed message looks like.
 *
 * Pure code: no syscalls, no logging. Everything here returns 0 or -errno
 * and the caller decides what to tell the frontend.
 */
#ifndef PROTO_VU_MSG_H
#define PROTO_VU_MSG_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/vhost_types.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_CREATE_CRYPTO_SESSION = 26,
	VU_CLOSE_CRYPTO_SESSION = 27,
	VU_POSTCOPY_ADVISE = 28,
	VU_POSTCOPY_LISTEN = 29,
	VU_POSTCOPY_END = 30,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_GPU_SET_SOCKET = 33,
	VU_RESET_DEVICE = 34,
	VU_VRING_KICK = 35,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_GET_SHARED_OBJECT = 41,
	VU_SET_DEVICE_STATE_FD = 42,
	VU_CHECK_DEVICE_STATE = 43,
	VU_REQUEST_MAX,
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
enum vu_protocol_feature {
	VU_PF_MQ = 0,
	VU_PF_LOG_SHMFD = 1,
	VU_PF_RARP = 2,
	VU_PF_REPLY_ACK = 3,
	VU_PF_NET_MTU = 4,
	VU_PF_BACKEND_REQ = 5,
	VU_PF_CROSS_ENDIAN = 6,
	VU_PF_CRYPTO_SESSION = 7,
	VU_PF_PAGEFAULT = 8,
	VU_PF_CONFIG = 9,
	VU_PF_BACKEND_SEND_FD = 10,
	VU_PF_HOST_NOTIFIER = 11,
	VU_PF_INFLIGHT_SHMFD = 12,
	VU_PF_RESET_DEVICE = 13,
	VU_PF_INBAND_NOTIFICATIONS = 14,
	VU_PF_CONFIGURE_MEM_SLOTS = 15,
	VU_PF_STATUS = 16,
	VU_PF_XEN_MMAP = 17,
	VU_PF_SHARED_OBJECT = 18,
	VU_PF_DEVICE_STATE = 19,
};

/* The virtio feature bit that says protocol features exist. */
#define VU_F_PROTOCOL_FEATURES 30

/* Header flags. */
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_VERSION 0x1u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)

/* SET_VRING_KICK/CALL/ERR payload: queue index and "no fd" flag. */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD (1ull << 8)

/* Limits we impose on what the frontend may send. */
#define VU_MAX_FDS 8		/* per message, as QEMU's VHOST_MEMORY_BASELINE_NREGIONS */
#define VU_MAX_CONFIG_SIZE 256	/* VHOST_USER_MAX_CONFIG_SIZE */
#define VU_MAX_PAYLOAD 4096	/* larger payloads are read, discarded and refused */
#define VU_MAX_QUEUE_SIZE 1024	/* the virtio-gpu queues never need more */

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;	/* of the payload that follows */
};
static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header is 12 bytes");

/* One memory region as vhost-user sends it (the 4th field differs from
 * the kernel's struct vhost_memory_region, so it is spelled out here). */
struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct vu_mem_region) == 32, "region is 32 bytes");

#define VU_MEM_TABLE_MAX 8	/* regions in one SET_MEM_TABLE */

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MEM_TABLE_MAX];
};

/* ADD_MEM_REG / REM_MEM_REG */
struct vu_mem_single {
	uint64_t padding;
	struct vu_mem_region region;
};
static_assert(sizeof(struct vu_mem_single) == 40, "single region is 40 bytes");

/* GET_CONFIG / SET_CONFIG: header, then `size` bytes of config space. */
struct vu_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};
static_assert(sizeof(struct vu_config_hdr) == 12, "config header is 12 bytes");

static_assert(sizeof(struct vhost_vring_state) == 8, "vring state is 8 bytes");
static_assert(sizeof(struct vhost_vring_addr) == 40, "vring addr is 40 bytes");

/* A whole message as received: header, payload, fds. */
struct vu_msg {
	struct vu_hdr hdr;
	union {
		uint64_t u64;
		struct vhost_vring_state state;
		struct vhost_vring_addr addr;
		struct vu_mem_table mem;
		struct vu_mem_single mem_reg;
		struct {
			struct vu_config_hdr hdr;
			uint8_t data[VU_MAX_CONFIG_SIZE];
		} config;
		uint8_t bytes[VU_MAX_PAYLOAD];
	} payload;
	int fds[VU_MAX_FDS];
	unsigned nfds;
};

/* How a request's payload size is judged. */
enum vu_size_rule {
	VU_SIZE_EXACT,		/* size == a */
	VU_SIZE_MEM_TABLE,	/* 8 + 32 * nregions, nregions in 1..8 */
	VU_SIZE_CONFIG,		/* 12 + config.size, config.size <= 256 */
	VU_SIZE_ANY,		/* anything up to VU_MAX_PAYLOAD */
};

/* What a request looks like on the wire. */
struct vu_req_info {
	const char *name;	/* "GET_FEATURES"; NULL for an unknown id */
	enum vu_size_rule size_rule;
	uint32_t size;		/* for VU_SIZE_EXACT */
	uint8_t fds_min, fds_max;
	bool has_reply;		/* the frontend always waits for a reply */
};

/* The table entry for `request`, or NULL when the id is unknown. */
const struct vu_req_info *vu_req_info(uint32_t request);

/* Name for logs; "UNKNOWN" for ids outside the table. */
const char *vu_req_name(uint32_t request);

/*
 * Check a received message against the table: version bits, payload size
 * and fd count. The payload must already be in msg (size <= VU_MAX_PAYLOAD).
 * Returns 0, -ENOSYS for an unknown request, -EPROTO for bad version
 * flags, -EMSGSIZE for a wrong payload size, -EBADF for a wrong fd count.
 * The fds are not touched.
 */
int vu_msg_check(const struct vu_msg *msg);

/* Index of a vring named by a SET_VRING_KICK/CALL/ERR u64 payload. */
static inline unsigned
vu_vring_file_index(uint64_t u64)
{
	return (unsigned)(u64 & VU_VRING_IDX_MASK);
}

/* True when the KICK/CALL/ERR payload says no fd accompanies it. */
static inline bool
vu_vring_file_nofd(uint64_t u64)
{
	return (u64 & VU_VRING_NOFD) != 0;
}

#endif /* PROTO_VU_MSG_H */
