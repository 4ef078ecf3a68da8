/* libFuzzer target: display-socket replies (proto/display.c) and EDID blocks (proto/edid.c) from a hostile frontend. */
#include <errno.h>

#include "proto/display.h"
#include "proto/edid.h"
#include "tests/fuzz/fuzz.h"

/*
 * Input: a reply header (request, flags, size), a selector, then payload
 * bytes. The header is checked against every request we could be
 * waiting for; when it passes, the payload is parsed from a buffer of
 * exactly hdr.size bytes, so that ASan sees any read past what the
 * frontend sent. The rest of the input drives the EDID reader (the
 * frontend's EDID) and generator (sizes the frontend reported).
 */

static bool
known_reply(uint32_t request)
{
	return request == DISPLAY_GET_PROTOCOL_FEATURES ||
	       request == DISPLAY_GET_DISPLAY_INFO ||
	       request == DISPLAY_GET_EDID ||
	       request == DISPLAY_DMABUF_UPDATE;
}

static void
check_parsed(const struct display_hdr *hdr, const struct display_reply *r)
{
	FUZZ_CHECK(r->request == hdr->request);
	switch (hdr->request) {
	case DISPLAY_GET_PROTOCOL_FEATURES:
		FUZZ_CHECK(hdr->size == sizeof(uint64_t));
		break;
	case DISPLAY_GET_DISPLAY_INFO:
		FUZZ_CHECK(hdr->size == sizeof(r->u.info));
		for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++) {
			const struct virtio_gpu_display_one *d = &r->u.info.pmodes[i];

			FUZZ_CHECK(d->enabled == 0 || d->enabled == 1);
			if (d->enabled)
				FUZZ_CHECK(d->r.width != 0 && d->r.height != 0);
		}
		break;
	case DISPLAY_GET_EDID:
		FUZZ_CHECK(hdr->size == sizeof(r->u.edid));
		FUZZ_CHECK(r->u.edid.size <= sizeof(r->u.edid.edid));
		break;
	case DISPLAY_DMABUF_UPDATE:
		FUZZ_CHECK(hdr->size == 0 || hdr->size == sizeof(uint32_t));
		break;
	default:
		FUZZ_CHECK(!"parsed a reply to a request without one");
	}
}

static void
fuzz_reply(struct fuzz_in *in)
{
	struct display_hdr hdr;
	struct display_reply r;
	uint8_t sel, *payload;
	uint32_t plen, want;
	int ret;

	hdr.request = fuzz_u32(in);
	hdr.flags = fuzz_u32(in);
	hdr.size = fuzz_u32(in);
	sel = fuzz_u8(in);
	/* Mostly a request id and size in range, so that every case runs. */
	if (!(sel & 0x80))
		hdr.request %= DISPLAY_REQUEST_MAX + 1;
	if (!(sel & 0x40))
		hdr.size %= DISPLAY_REPLY_MAX + 16;
	if (!(sel & 0x20))
		hdr.flags = (hdr.flags & ~0xffu) | DISPLAY_FLAG_REPLY;

	plen = hdr.size <= DISPLAY_REPLY_MAX ? hdr.size : DISPLAY_REPLY_MAX;
	payload = malloc(plen ? plen : 1);
	if (!payload)
		return;
	fuzz_bytes(in, payload, plen);

	FUZZ_CHECK(display_has_reply(hdr.request) == known_reply(hdr.request));

	/* The header against each request we could be waiting for. */
	for (want = 0; want <= DISPLAY_REQUEST_MAX + 1; want++) {
		ret = display_reply_check(&hdr, want);
		FUZZ_CHECK(ret >= 0 || ret == -EPROTO || ret == -EMSGSIZE);
		if (ret < 0)
			continue;
		FUZZ_CHECK(hdr.request == want);
		FUZZ_CHECK(hdr.flags & DISPLAY_FLAG_REPLY);
		FUZZ_CHECK(display_has_reply(want));
		FUZZ_CHECK((uint32_t)ret == hdr.size);
		FUZZ_CHECK((size_t)ret <= DISPLAY_REPLY_MAX);
	}
	want = fuzz_u32(in);
	ret = display_reply_check(&hdr, want);
	FUZZ_CHECK(ret >= 0 || ret == -EPROTO || ret == -EMSGSIZE);

	/* Parse reads only a payload whose size it accepted: when the size
	 * is over the largest reply, from a buffer that is smaller still. */
	ret = display_reply_parse(&hdr, payload, &r);
	FUZZ_CHECK(ret == 0 || ret == -EPROTO || ret == -EMSGSIZE ||
		   ret == -EINVAL);
	if (ret == 0) {
		FUZZ_CHECK(hdr.size <= DISPLAY_REPLY_MAX);
		check_parsed(&hdr, &r);
	}
	if (display_reply_check(&hdr, hdr.request) >= 0)
		FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	free(payload);
}

static void
fuzz_edid_read(struct fuzz_in *in)
{
	size_t len = fuzz_u8(in);
	uint8_t *e;
	uint32_t w = 0, h = 0;
	uint8_t fix;

	fix = fuzz_u8(in);
	if (!(fix & 2))		/* mostly around one block */
		len += EDID_BLOCK_SIZE - 64;
	e = malloc(len ? len : 1);
	if (!e)
		return;
	fuzz_bytes(in, e, len);
	if (len >= EDID_BLOCK_SIZE && (fix & 1)) {
		/* Give the fuzzer a valid header and checksum for free. */
		static const uint8_t header[8] = {
			0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
		};
		uint8_t sum = 0;

		memcpy(e, header, sizeof(header));
		for (unsigned i = 0; i < EDID_BLOCK_SIZE - 1; i++)
			sum += e[i];
		e[EDID_BLOCK_SIZE - 1] = (uint8_t)(0x100 - sum);
	}
	if (edid_preferred_mode(e, len, &w, &h) == 0) {
		FUZZ_CHECK(len >= EDID_BLOCK_SIZE);
		FUZZ_CHECK(w >= 1 && w <= EDID_MAX_DIM);
		FUZZ_CHECK(h >= 1 && h <= EDID_MAX_DIM);
	}
	free(e);
}

static void
fuzz_edid_generate(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);
	size_t cap = (sel & 1) ? fuzz_u8(in) : EDID_BLOCK_SIZE + fuzz_u8(in) % 4;
	uint32_t width = (sel & 2) ? fuzz_u32(in) : fuzz_u16(in) % 4200;
	uint32_t height = (sel & 4) ? fuzz_u32(in) : fuzz_u16(in) % 4200;
	uint32_t refresh = (sel & 8) ? fuzz_u32(in) : fuzz_u16(in) % 300;
	uint32_t serial = fuzz_u32(in);
	char name[24];
	uint8_t *out = malloc(cap ? cap : 1);
	bool size_ok = width >= 1 && width <= EDID_MAX_DIM && height >= 1 &&
		       height <= EDID_MAX_DIM;
	uint32_t w = 0, h = 0;
	uint8_t sum = 0;
	int ret;

	if (!out)
		return;
	fuzz_bytes(in, name, sizeof(name) - 1);
	name[fuzz_u8(in) % sizeof(name)] = '\0';
	name[sizeof(name) - 1] = '\0';
	ret = edid_generate(out, cap, width, height, refresh,
			    (sel & 0x10) ? NULL : name, serial);
	if (!size_ok) {
		FUZZ_CHECK(ret == -EINVAL);
	} else if (cap < EDID_BLOCK_SIZE) {
		FUZZ_CHECK(ret == -ENOSPC);
	} else {
		FUZZ_CHECK(ret == EDID_BLOCK_SIZE);
		for (unsigned i = 0; i < EDID_BLOCK_SIZE; i++)
			sum += out[i];
		FUZZ_CHECK(sum == 0);
		FUZZ_CHECK(edid_preferred_mode(out, EDID_BLOCK_SIZE, &w, &h) == 0);
		FUZZ_CHECK(w == width && h == height);
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	switch (fuzz_u8(&in) % 4) {
	case 0:
	case 1:
		fuzz_reply(&in);
		break;
	case 2:
		fuzz_edid_read(&in);
		break;
	default:
		fuzz_edid_generate(&in);
		break;
	}
	return 0;
}
