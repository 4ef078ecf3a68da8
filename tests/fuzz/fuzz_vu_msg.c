/* libFuzzer target: the vhost-user message validator (proto/vu_msg.c) on a fuzzed header, payload and fd count. */
#include <errno.h>

#include "proto/vu_msg.h"
#include "tests/fuzz/fuzz.h"

/*
 * Input: one byte of fd count (taken as is: 0..255, so counts over
 * VU_MAX_FDS are seen too), the 12-byte header, then the payload. The
 * request id is often folded into the table's range so that every row
 * is reached. Payload bytes past hdr.size are poisoned: the checker must
 * judge a message only by what was received (a short read leaves stale
 * bytes there in the daemon).
 */

static struct vu_msg *msg;

static void
check_passed(const struct vu_msg *m, const struct vu_req_info *info)
{
	uint32_t size = m->hdr.size;

	FUZZ_CHECK(info != NULL);
	FUZZ_CHECK(size <= VU_MAX_PAYLOAD);
	FUZZ_CHECK((m->hdr.flags & VU_FLAG_VERSION_MASK) == VU_VERSION);
	FUZZ_CHECK(!(m->hdr.flags & VU_FLAG_REPLY));
	FUZZ_CHECK(m->nfds <= VU_MAX_FDS);
	FUZZ_CHECK(m->nfds >= info->fds_min && m->nfds <= info->fds_max);

	switch (info->size_rule) {
	case VU_SIZE_EXACT:
		FUZZ_CHECK(size == info->size);
		break;
	case VU_SIZE_MEM_TABLE: {
		uint32_t n = m->payload.mem.nregions;

		FUZZ_CHECK(n >= 1 && n <= VU_MEM_TABLE_MAX);
		FUZZ_CHECK(size == 8 + 32 * n);
		/* Every region the handler reads was received. */
		FUZZ_CHECK(offsetof(struct vu_mem_table, regions[n]) <= size);
		FUZZ_CHECK(m->nfds == n);
		break;
	}
	case VU_SIZE_CONFIG:
		FUZZ_CHECK(m->payload.config.hdr.size <= VU_MAX_CONFIG_SIZE);
		FUZZ_CHECK(size == sizeof(struct vu_config_hdr) +
				   m->payload.config.hdr.size);
		break;
	case VU_SIZE_ANY:
		break;
	default:
		FUZZ_CHECK(!"unknown size rule");
	}

	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		FUZZ_CHECK(size == sizeof(uint64_t));
		FUZZ_CHECK(m->nfds == (vu_vring_file_nofd(m->payload.u64) ? 0u : 1u));
		FUZZ_CHECK(vu_vring_file_index(m->payload.u64) <= VU_VRING_IDX_MASK);
		break;
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		FUZZ_CHECK(size == sizeof(struct vhost_vring_state));
		break;
	case VU_SET_VRING_ADDR:
		FUZZ_CHECK(size == sizeof(struct vhost_vring_addr));
		break;
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG:
		FUZZ_CHECK(size == sizeof(struct vu_mem_single));
		break;
	case VU_GPU_SET_SOCKET:
	case VU_SET_BACKEND_REQ_FD:
		FUZZ_CHECK(m->nfds == 1);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	const struct vu_req_info *info;
	const char *name;
	uint32_t plen;
	int ret, again;

	if (!msg) {
		msg = malloc(sizeof(*msg));
		if (!msg)
			return 0;
	}
	ASAN_UNPOISON_MEMORY_REGION(msg, sizeof(*msg));
	memset(msg, 0, sizeof(*msg));

	msg->nfds = fuzz_u8(&in);
	msg->hdr.request = fuzz_u32(&in);
	msg->hdr.flags = fuzz_u32(&in);
	msg->hdr.size = fuzz_u32(&in);
	/* Bit 31 of the flags word is spare here: use it to keep the id
	 * raw, else fold it into the table (and a little past it). */
	if (!(msg->hdr.flags & 0x80000000u))
		msg->hdr.request %= VU_REQUEST_MAX + 2;
	msg->hdr.flags &= 0x7fffffffu;
	for (unsigned i = 0; i < VU_MAX_FDS; i++)
		msg->fds[i] = -1;
	plen = msg->hdr.size <= VU_MAX_PAYLOAD ? msg->hdr.size : VU_MAX_PAYLOAD;
	fuzz_bytes(&in, msg->payload.bytes, plen);
	ASAN_POISON_MEMORY_REGION(msg->payload.bytes + plen,
				  VU_MAX_PAYLOAD - plen);

	info = vu_req_info(msg->hdr.request);
	name = vu_req_name(msg->hdr.request);
	FUZZ_CHECK(name != NULL && name[0] != '\0');
	if (info) {
		FUZZ_CHECK(msg->hdr.request > 0 && msg->hdr.request < VU_REQUEST_MAX);
		FUZZ_CHECK(info->name != NULL && strcmp(name, info->name) == 0);
		FUZZ_CHECK(info->fds_min <= info->fds_max);
		FUZZ_CHECK(info->fds_max <= VU_MAX_FDS);
		FUZZ_CHECK(info->size_rule != VU_SIZE_EXACT ||
			   info->size <= VU_MAX_PAYLOAD);
	} else {
		FUZZ_CHECK(strcmp(name, "UNKNOWN") == 0);
	}

	ret = vu_msg_check(msg);
	FUZZ_CHECK(ret == 0 || ret == -ENOSYS || ret == -EPROTO ||
		   ret == -EMSGSIZE || ret == -EBADF);
	FUZZ_CHECK((ret == -ENOSYS) == (info == NULL));
	if (ret == 0)
		check_passed(msg, info);
	if (info && ret != -EPROTO)
		FUZZ_CHECK((msg->hdr.flags & VU_FLAG_VERSION_MASK) == VU_VERSION &&
			   !(msg->hdr.flags & VU_FLAG_REPLY));
	/* Pure: the same message gets the same answer. */
	again = vu_msg_check(msg);
	FUZZ_CHECK(again == ret);

	ASAN_UNPOISON_MEMORY_REGION(msg, sizeof(*msg));
	return 0;
}
