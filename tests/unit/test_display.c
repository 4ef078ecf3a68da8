/* Unit tests for the display-socket reply checks and parser. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/display.h"

static struct display_hdr
reply(uint32_t req, uint32_t size)
{
	return (struct display_hdr){ req, DISPLAY_FLAG_REPLY, size };
}

struct check_case {
	struct display_hdr hdr;
	uint32_t want;
	int result;
};

Test(display, reply_checks)
{
	static const struct check_case cases[] = {
		{ { 1, DISPLAY_FLAG_REPLY, 8 }, 1, 8 },
		{ { 1, 0, 8 }, 1, -EPROTO },			/* not a reply */
		{ { 3, DISPLAY_FLAG_REPLY, 8 }, 1, -EPROTO },	/* other request */
		{ { 1, DISPLAY_FLAG_REPLY, 4 }, 1, -EMSGSIZE },
		{ { 3, DISPLAY_FLAG_REPLY, 408 }, 3, 408 },
		{ { 3, DISPLAY_FLAG_REPLY, 409 }, 3, -EMSGSIZE },
		{ { 11, DISPLAY_FLAG_REPLY, 1056 }, 11, 1056 },
		{ { 11, DISPLAY_FLAG_REPLY, 0xffffffff }, 11, -EMSGSIZE },
		{ { 10, DISPLAY_FLAG_REPLY, 0 }, 10, 0 },
		{ { 10, DISPLAY_FLAG_REPLY, 4 }, 10, 4 },
		{ { 10, DISPLAY_FLAG_REPLY, 8 }, 10, -EMSGSIZE },
		{ { 7, DISPLAY_FLAG_REPLY, 0 }, 7, -EPROTO },	/* no reply exists */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(display_reply_check(&cases[i].hdr, cases[i].want),
			     cases[i].result, "case %zu", i);
}

Test(display, has_reply)
{
	cr_expect(display_has_reply(DISPLAY_GET_PROTOCOL_FEATURES));
	cr_expect(display_has_reply(DISPLAY_GET_DISPLAY_INFO));
	cr_expect(display_has_reply(DISPLAY_GET_EDID));
	cr_expect(display_has_reply(DISPLAY_DMABUF_UPDATE));
	cr_expect_not(display_has_reply(DISPLAY_UPDATE));
	cr_expect_not(display_has_reply(DISPLAY_SCANOUT));
	cr_expect_not(display_has_reply(99));
}

Test(display, parse_display_info)
{
	struct virtio_gpu_resp_display_info info;
	struct display_hdr h = reply(DISPLAY_GET_DISPLAY_INFO, sizeof(info));
	struct display_reply r;

	memset(&info, 0, sizeof(info));
	info.pmodes[0].enabled = 1;
	info.pmodes[0].r.width = 1024;
	info.pmodes[0].r.height = 768;
	info.pmodes[1].enabled = 7;		/* truthy: normalised to 1 */
	info.pmodes[1].r.width = 640;
	info.pmodes[1].r.height = 480;
	info.pmodes[2].enabled = 1;		/* enabled without a size */
	cr_assert_eq(display_reply_parse(&h, &info, &r), 0);
	cr_expect_eq(r.u.info.pmodes[0].enabled, 1);
	cr_expect_eq(r.u.info.pmodes[0].r.width, 1024);
	cr_expect_eq(r.u.info.pmodes[1].enabled, 1);
	cr_expect_eq(r.u.info.pmodes[2].enabled, 0);
}

Test(display, parse_edid_and_features)
{
	struct virtio_gpu_resp_edid e;
	struct display_hdr h = reply(DISPLAY_GET_EDID, sizeof(e));
	struct display_reply r;
	uint64_t f = 3;

	memset(&e, 0, sizeof(e));
	e.size = 128;
	cr_expect_eq(display_reply_parse(&h, &e, &r), 0);
	cr_expect_eq(r.u.edid.size, 128);
	e.size = 1025;			/* more than the buffer holds */
	cr_expect_eq(display_reply_parse(&h, &e, &r), -EINVAL);
	h = reply(DISPLAY_GET_PROTOCOL_FEATURES, 8);
	cr_expect_eq(display_reply_parse(&h, &f, &r), 0);
	cr_expect_eq(r.u.features, 3);
	h = reply(DISPLAY_GET_PROTOCOL_FEATURES, 7);
	cr_expect_eq(display_reply_parse(&h, &f, &r), -EMSGSIZE);
}
