/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user request table and message validation.
 *
 * Security model: every field here comes from the frontend (QEMU or any
 * other process that can reach our socket). It controls the request id,
 * the flags, the payload size and bytes, and how many fds it attaches.
 * Nothing is trusted: the size is checked against the table before any
 * handler reads the payload, and the fd count is checked so that a handler
 * never sees an fd it did not ask for (the caller closes the rest).
 */
#include <errno.h>

#include "proto/vu_msg.h"

#define REQ(id, rule, sz, fmin, fmax, reply) \
	[VU_##id] = { #id, VU_SIZE_##rule, (sz), (fmin), (fmax), (reply) }

static const struct vu_req_info req_table[VU_REQUEST_MAX] = {
	REQ(GET_FEATURES,          EXACT, 0, 0, 0, true),
	REQ(SET_FEATURES,          EXACT, 8, 0, 0, false),
	REQ(SET_OWNER,             EXACT, 0, 0, 0, false),
	REQ(RESET_OWNER,           EXACT, 0, 0, 0, false),
	REQ(SET_MEM_TABLE,         MEM_TABLE, 0, 1, VU_MEM_TABLE_MAX, false),
	REQ(SET_LOG_BASE,          ANY, 0, 0, 1, false),
	REQ(SET_LOG_FD,            EXACT, 0, 0, 1, false),
	REQ(SET_VRING_NUM,         EXACT, 8, 0, 0, false),
	REQ(SET_VRING_ADDR,        EXACT, 40, 0, 0, false),
	REQ(SET_VRING_BASE,        EXACT, 8, 0, 0, false),
	REQ(GET_VRING_BASE,        EXACT, 8, 0, 0, true),
	REQ(SET_VRING_KICK,        EXACT, 8, 0, 1, false),
	REQ(SET_VRING_CALL,        EXACT, 8, 0, 1, false),
	REQ(SET_VRING_ERR,         EXACT, 8, 0, 1, false),
	REQ(GET_PROTOCOL_FEATURES, EXACT, 0, 0, 0, true),
	REQ(SET_PROTOCOL_FEATURES, EXACT, 8, 0, 0, false),
	REQ(GET_QUEUE_NUM,         EXACT, 0, 0, 0, true),
	REQ(SET_VRING_ENABLE,      EXACT, 8, 0, 0, false),
	REQ(SEND_RARP,             ANY, 0, 0, 0, false),
	REQ(NET_SET_MTU,           ANY, 0, 0, 0, false),
	REQ(SET_BACKEND_REQ_FD,    EXACT, 0, 1, 1, false),
	REQ(IOTLB_MSG,             ANY, 0, 0, 0, false),
	REQ(SET_VRING_ENDIAN,      ANY, 0, 0, 0, false),
	REQ(GET_CONFIG,            CONFIG, 0, 0, 0, true),
	REQ(SET_CONFIG,            CONFIG, 0, 0, 0, false),
	REQ(CREATE_CRYPTO_SESSION, ANY, 0, 0, 0, true),
	REQ(CLOSE_CRYPTO_SESSION,  ANY, 0, 0, 0, false),
	REQ(POSTCOPY_ADVISE,       ANY, 0, 0, 0, true),
	REQ(POSTCOPY_LISTEN,       ANY, 0, 0, 0, false),
	REQ(POSTCOPY_END,          ANY, 0, 0, 0, true),
	REQ(GET_INFLIGHT_FD,       ANY, 0, 0, 0, true),
	REQ(SET_INFLIGHT_FD,       ANY, 0, 0, 1, false),
	REQ(GPU_SET_SOCKET,        EXACT, 0, 1, 1, false),
	REQ(RESET_DEVICE,          EXACT, 0, 0, 0, false),
	REQ(VRING_KICK,            EXACT, 8, 0, 0, false),
	REQ(GET_MAX_MEM_SLOTS,     EXACT, 0, 0, 0, true),
	/* QEMU sends no fd with REM_MEM_REG, libvhost-user expects one. */
	REQ(ADD_MEM_REG,           EXACT, 40, 1, 1, false),
	REQ(REM_MEM_REG,           EXACT, 40, 0, 1, false),
	REQ(SET_STATUS,            EXACT, 8, 0, 0, false),
	REQ(GET_STATUS,            EXACT, 0, 0, 0, true),
	REQ(GET_SHARED_OBJECT,     ANY, 0, 0, 0, true),
	REQ(SET_DEVICE_STATE_FD,   ANY, 0, 0, 1, true),
	REQ(CHECK_DEVICE_STATE,    ANY, 0, 0, 0, true),
};

const struct vu_req_info *
vu_req_info(uint32_t request)
{
	if (request >= VU_REQUEST_MAX || !req_table[request].name)
		return NULL;
	return &req_table[request];
}

const char *
vu_req_name(uint32_t request)
{
	const struct vu_req_info *info = vu_req_info(request);

	return info ? info->name : "UNKNOWN";
}

static int
check_size(const struct vu_req_info *info, const struct vu_msg *msg)
{
	uint32_t size = msg->hdr.size;

	if (size > VU_MAX_PAYLOAD)
		return -EMSGSIZE;

	switch (info->size_rule) {
	case VU_SIZE_EXACT:
		return size == info->size ? 0 : -EMSGSIZE;
	case VU_SIZE_MEM_TABLE: {
		uint32_t n;

		if (size < 8)
			return -EMSGSIZE;
		n = msg->payload.mem.nregions;
		if (n == 0 || n > VU_MEM_TABLE_MAX)
			return -EMSGSIZE;
		return size == 8 + 32 * n ? 0 : -EMSGSIZE;
	}
	case VU_SIZE_CONFIG: {
		uint32_t len;

		if (size < sizeof(struct vu_config_hdr))
			return -EMSGSIZE;
		len = msg->payload.config.hdr.size;
		if (len > VU_MAX_CONFIG_SIZE)
			return -EMSGSIZE;
		return size == sizeof(struct vu_config_hdr) + len ? 0 : -EMSGSIZE;
	}
	case VU_SIZE_ANY:
		return 0;
	}
	return -EMSGSIZE;
}

static int
check_fds(const struct vu_req_info *info, const struct vu_msg *msg)
{
	unsigned want_min = info->fds_min, want_max = info->fds_max;

	switch (msg->hdr.request) {
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		/* Exactly one fd unless the payload says there is none. */
		want_min = want_max = vu_vring_file_nofd(msg->payload.u64) ? 0 : 1;
		break;
	case VU_SET_MEM_TABLE:
		/* One fd per region. */
		want_min = want_max = msg->payload.mem.nregions;
		break;
	}
	if (msg->nfds < want_min || msg->nfds > want_max)
		return -EBADF;
	return 0;
}

int
vu_msg_check(const struct vu_msg *msg)
{
	const struct vu_req_info *info = vu_req_info(msg->hdr.request);
	int ret;

	if (!info)
		return -ENOSYS;
	if ((msg->hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION)
		return -EPROTO;
	if (msg->hdr.flags & VU_FLAG_REPLY)
		return -EPROTO;
	ret = check_size(info, msg);
	if (ret)
		return ret;
	return check_fds(info, msg);
}
