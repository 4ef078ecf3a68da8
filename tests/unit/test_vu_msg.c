/* Unit tests for the vhost-user request table and message validation. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/vu_msg.h"

static struct vu_msg
mk(uint32_t req, uint32_t size, unsigned nfds)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = size;
	m.nfds = nfds;
	return m;
}

/* A well-formed message for each request the daemon handles: its size
 * and fd count. The tests derive short, long and wrong-fd variants. */
struct good {
	uint32_t req;
	uint32_t size;
	unsigned nfds;
	uint64_t u64;		/* payload start, where it matters */
};

static const struct good goods[] = {
	{ VU_GET_FEATURES, 0, 0, 0 },
	{ VU_SET_FEATURES, 8, 0, 0 },
	{ VU_SET_OWNER, 0, 0, 0 },
	{ VU_RESET_OWNER, 0, 0, 0 },
	{ VU_SET_MEM_TABLE, 8 + 32, 1, 1 },		/* nregions = 1 */
	{ VU_SET_VRING_NUM, 8, 0, 0 },
	{ VU_SET_VRING_ADDR, 40, 0, 0 },
	{ VU_SET_VRING_BASE, 8, 0, 0 },
	{ VU_GET_VRING_BASE, 8, 0, 0 },
	{ VU_SET_VRING_KICK, 8, 1, 0 },
	{ VU_SET_VRING_CALL, 8, 1, 1 },
	{ VU_SET_VRING_ERR, 8, 1, 0 },
	{ VU_GET_PROTOCOL_FEATURES, 0, 0, 0 },
	{ VU_SET_PROTOCOL_FEATURES, 8, 0, 0 },
	{ VU_GET_QUEUE_NUM, 0, 0, 0 },
	{ VU_SET_VRING_ENABLE, 8, 0, 0 },
	{ VU_SET_BACKEND_REQ_FD, 0, 1, 0 },
	{ VU_GET_CONFIG, 12 + 16, 0, 16ull << 32 },	/* offset 0, size 16 */
	{ VU_SET_CONFIG, 12 + 4, 0, (4ull << 32) | 4 },
	{ VU_GPU_SET_SOCKET, 0, 1, 0 },
	{ VU_RESET_DEVICE, 0, 0, 0 },
	{ VU_GET_MAX_MEM_SLOTS, 0, 0, 0 },
	{ VU_ADD_MEM_REG, 40, 1, 0 },
	{ VU_REM_MEM_REG, 40, 0, 0 },
	{ VU_SET_STATUS, 8, 0, 0 },
	{ VU_GET_STATUS, 0, 0, 0 },
};

#define NGOODS (sizeof(goods) / sizeof(goods[0]))

static struct vu_msg
from_good(const struct good *g, uint32_t size, unsigned nfds)
{
	struct vu_msg m = mk(g->req, size, nfds);

	memcpy(m.payload.bytes, &g->u64, sizeof(g->u64));
	return m;
}

Test(vu_msg, every_good_message_passes)
{
	for (size_t i = 0; i < NGOODS; i++) {
		struct vu_msg m = from_good(&goods[i], goods[i].size, goods[i].nfds);

		cr_expect_eq(vu_msg_check(&m), 0, "%s", vu_req_name(goods[i].req));
	}
}

Test(vu_msg, short_payload_refused)
{
	for (size_t i = 0; i < NGOODS; i++) {
		struct vu_msg m;

		if (goods[i].size == 0)
			continue;
		m = from_good(&goods[i], goods[i].size - 1, goods[i].nfds);
		cr_expect_eq(vu_msg_check(&m), -EMSGSIZE, "%s",
			     vu_req_name(goods[i].req));
	}
}

Test(vu_msg, long_payload_refused)
{
	for (size_t i = 0; i < NGOODS; i++) {
		struct vu_msg m = from_good(&goods[i], goods[i].size + 8,
					    goods[i].nfds);

		cr_expect_eq(vu_msg_check(&m), -EMSGSIZE, "%s",
			     vu_req_name(goods[i].req));
	}
}

Test(vu_msg, extra_fd_refused)
{
	for (size_t i = 0; i < NGOODS; i++) {
		struct vu_msg m;

		/* REM_MEM_REG takes 0 or 1 fd (QEMU vs libvhost-user). */
		if (goods[i].req == VU_REM_MEM_REG)
			continue;
		m = from_good(&goods[i], goods[i].size, goods[i].nfds + 1);
		cr_expect_eq(vu_msg_check(&m), -EBADF, "%s",
			     vu_req_name(goods[i].req));
	}
}

Test(vu_msg, missing_fd_refused)
{
	for (size_t i = 0; i < NGOODS; i++) {
		struct vu_msg m;

		if (goods[i].nfds == 0)
			continue;
		m = from_good(&goods[i], goods[i].size, goods[i].nfds - 1);
		cr_expect_eq(vu_msg_check(&m), -EBADF, "%s",
			     vu_req_name(goods[i].req));
	}
}

Test(vu_msg, rem_mem_reg_with_or_without_fd)
{
	struct vu_msg m = mk(VU_REM_MEM_REG, 40, 0);

	cr_expect_eq(vu_msg_check(&m), 0);
	m.nfds = 1;
	cr_expect_eq(vu_msg_check(&m), 0);
	m.nfds = 2;
	cr_expect_eq(vu_msg_check(&m), -EBADF);
}

Test(vu_msg, vring_nofd_flag_means_no_fd)
{
	static const uint32_t reqs[] = {
		VU_SET_VRING_KICK, VU_SET_VRING_CALL, VU_SET_VRING_ERR,
	};

	for (size_t i = 0; i < 3; i++) {
		struct vu_msg m = mk(reqs[i], 8, 0);

		m.payload.u64 = 1 | VU_VRING_NOFD;
		cr_expect_eq(vu_msg_check(&m), 0);
		m.nfds = 1;
		cr_expect_eq(vu_msg_check(&m), -EBADF, "fd despite NOFD");
		m.payload.u64 = 1;
		cr_expect_eq(vu_msg_check(&m), 0);
		m.nfds = 0;
		cr_expect_eq(vu_msg_check(&m), -EBADF, "no fd without NOFD");
	}
}

struct mem_case {
	uint32_t nregions;
	uint32_t size;
	unsigned nfds;
	int want;
};

Test(vu_msg, mem_table_sizes)
{
	static const struct mem_case cases[] = {
		{ 1, 8 + 32, 1, 0 },
		{ 8, 8 + 8 * 32, 8, 0 },
		{ 0, 8, 0, -EMSGSIZE },			/* no region */
		{ 9, 8 + 9 * 32, 8, -EMSGSIZE },	/* too many */
		{ 2, 8 + 32, 2, -EMSGSIZE },		/* size says 1 */
		{ 1, 8 + 64, 1, -EMSGSIZE },		/* size says 2 */
		{ 2, 8 + 64, 1, -EBADF },		/* an fd missing */
		{ 1, 4, 1, -EMSGSIZE },			/* no room for nregions */
		{ 0xffffffffu, 8 + 32, 1, -EMSGSIZE },	/* wraps 8 + 32 * n */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vu_msg m = mk(VU_SET_MEM_TABLE, cases[i].size, cases[i].nfds);

		m.payload.mem.nregions = cases[i].nregions;
		cr_expect_eq(vu_msg_check(&m), cases[i].want, "case %zu", i);
	}
}

Test(vu_msg, config_sizes)
{
	struct vu_msg m = mk(VU_GET_CONFIG, 12 + 256, 0);

	m.payload.config.hdr.size = 256;
	cr_expect_eq(vu_msg_check(&m), 0);
	m.payload.config.hdr.size = 257;
	m.hdr.size = 12 + 257;
	cr_expect_eq(vu_msg_check(&m), -EMSGSIZE, "over 256 bytes");
	m.payload.config.hdr.size = 16;
	m.hdr.size = 12 + 15;
	cr_expect_eq(vu_msg_check(&m), -EMSGSIZE, "size field disagrees");
	m.hdr.size = 8;
	cr_expect_eq(vu_msg_check(&m), -EMSGSIZE, "no room for the header");
}

Test(vu_msg, header_flags)
{
	struct vu_msg m = mk(VU_GET_FEATURES, 0, 0);

	m.hdr.flags = 0;
	cr_expect_eq(vu_msg_check(&m), -EPROTO, "version 0");
	m.hdr.flags = 2;
	cr_expect_eq(vu_msg_check(&m), -EPROTO, "version 2");
	m.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	cr_expect_eq(vu_msg_check(&m), -EPROTO, "a reply sent to us");
	m.hdr.flags = VU_VERSION | VU_FLAG_NEED_REPLY;
	cr_expect_eq(vu_msg_check(&m), 0);
}

Test(vu_msg, unknown_requests)
{
	static const uint32_t ids[] = { 0, 44, 99, 0x7fffffff, 0xffffffffu };

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct vu_msg m = mk(ids[i], 0, 0);

		cr_expect_eq(vu_msg_check(&m), -ENOSYS, "id %u", ids[i]);
		cr_expect_null(vu_req_info(ids[i]));
		cr_expect_str_eq(vu_req_name(ids[i]), "UNKNOWN");
	}
}

Test(vu_msg, oversized_payload)
{
	struct vu_msg m = mk(VU_SEND_RARP, VU_MAX_PAYLOAD + 1, 0);

	cr_expect_eq(vu_msg_check(&m), -EMSGSIZE);
}

Test(vu_msg, names_and_replies)
{
	cr_expect_str_eq(vu_req_name(VU_GPU_SET_SOCKET), "GPU_SET_SOCKET");
	cr_expect_str_eq(vu_req_name(VU_GET_FEATURES), "GET_FEATURES");
	cr_expect(vu_req_info(VU_GET_VRING_BASE)->has_reply);
	cr_expect(vu_req_info(VU_GET_CONFIG)->has_reply);
	cr_expect_not(vu_req_info(VU_SET_MEM_TABLE)->has_reply);
	for (uint32_t r = 1; r < VU_REQUEST_MAX; r++)
		cr_expect_not_null(vu_req_info(r), "request %u has an entry", r);
}
