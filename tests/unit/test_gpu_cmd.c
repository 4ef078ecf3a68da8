/* Unit tests for virtio-gpu command helpers: sizes, formats, rectangles,
 * transfers and backing translation. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/gpu_cmd.h"
#include "proto/memmap.h"

Test(gpu_cmd, request_sizes)
{
	cr_expect_eq(gpu_cmd_size(VIRTIO_GPU_CMD_GET_DISPLAY_INFO), 24);
	cr_expect_eq(gpu_cmd_size(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D), 40);
	cr_expect_eq(gpu_cmd_size(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D), 56);
	cr_expect_eq(gpu_cmd_size(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING), 32);
	cr_expect_eq(gpu_cmd_size(VIRTIO_GPU_CMD_UPDATE_CURSOR), 56);
	cr_expect_eq(gpu_cmd_size(0), 0);
	cr_expect_eq(gpu_cmd_size(0xdead), 0);
	cr_expect_str_eq(gpu_cmd_name(VIRTIO_GPU_CMD_SET_SCANOUT), "SET_SCANOUT");
	cr_expect_str_eq(gpu_cmd_name(12345), "UNKNOWN");
}

Test(gpu_cmd, formats)
{
	static const uint32_t ok[] = {
		VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM,
		VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM,
		VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM,
	};

	for (size_t i = 0; i < 8; i++)
		cr_expect_eq(gpu_format_bpp(ok[i]), 4, "format %u", ok[i]);
	cr_expect_eq(gpu_format_bpp(0), 0);
	cr_expect_eq(gpu_format_bpp(5), 0);
	cr_expect_eq(gpu_format_bpp(0xffffffff), 0);
	cr_expect(gpu_format_is_xrgb(VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM));
	cr_expect_not(gpu_format_is_xrgb(VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM));
}

struct conv_case {
	uint32_t format;
	uint8_t in[4];
	uint32_t want;	/* 0xAARRGGBB */
};

Test(gpu_cmd, conversion_to_xrgb)
{
	/* Memory bytes of pure red with alpha 0x80 (X formats: ignored). */
	static const struct conv_case cases[] = {
		{ VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, { 0, 0, 0xff, 0x80 }, 0x80ff0000 },
		{ VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, { 0, 0, 0xff, 0x80 }, 0xffff0000 },
		{ VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, { 0x80, 0xff, 0, 0 }, 0x80ff0000 },
		{ VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, { 0x80, 0xff, 0, 0 }, 0xffff0000 },
		{ VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, { 0xff, 0, 0, 0x80 }, 0x80ff0000 },
		{ VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, { 0xff, 0, 0, 0x80 }, 0xffff0000 },
		{ VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, { 0x80, 0, 0, 0xff }, 0x80ff0000 },
		{ VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, { 0x80, 0, 0, 0xff }, 0xffff0000 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t out = 0;

		gpu_format_to_xrgb(cases[i].format, &out, cases[i].in, 1);
		cr_expect_eq(out, cases[i].want, "format %u: %08x", cases[i].format, out);
	}
}

Test(gpu_cmd, resource_bytes_never_wraps)
{
	cr_expect_eq(gpu_resource_bytes(1024, 768, 4), 1024ull * 768 * 4);
	cr_expect_eq(gpu_resource_bytes(0, 768, 4), 0, "zero width");
	cr_expect_eq(gpu_resource_bytes(1024, 0, 4), 0, "zero height");
	/* QEMU's backend computes this in 32 bits and gets 0. */
	cr_expect_eq(gpu_resource_bytes(0x10000, 0x4000, 4), 1ull << 32);
	cr_expect_eq(gpu_resource_bytes(1u << 31, 1u << 29, 4), 1ull << 62);
	/* Past 2^63 (2^66 here, which wraps 64 bits): refused, never wrapped. */
	cr_expect_eq(gpu_resource_bytes(UINT32_MAX, UINT32_MAX, 4), 0);
}

struct rect_case {
	struct virtio_gpu_rect r;
	bool inside;
};

Test(gpu_cmd, rect_inside)
{
	static const struct rect_case cases[] = {
		{ { 0, 0, 64, 64 }, true },
		{ { 63, 63, 1, 1 }, true },
		{ { 64, 0, 0, 0 }, true },		/* empty at the edge */
		{ { 0, 0, 65, 1 }, false },
		{ { 1, 0, 64, 1 }, false },
		{ { 0, 60, 1, 5 }, false },
		{ { UINT32_MAX, 0, 2, 1 }, false },	/* x + w wraps in 32 bits */
		{ { 0, UINT32_MAX, 1, 2 }, false },
		{ { 2, 2, UINT32_MAX, 1 }, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(gpu_rect_inside(&cases[i].r, 64, 64), cases[i].inside,
			     "case %zu", i);
}

Test(gpu_cmd, rect_intersect_and_union)
{
	struct virtio_gpu_rect a = { 10, 10, 20, 20 }, b = { 25, 0, 20, 15 }, o;
	struct virtio_gpu_rect u = { 0 };
	struct virtio_gpu_rect far = { UINT32_MAX - 1, 0, 1, 1 };

	cr_assert(gpu_rect_intersect(&a, &b, &o));
	cr_expect_eq(o.x, 25);
	cr_expect_eq(o.y, 10);
	cr_expect_eq(o.width, 5);
	cr_expect_eq(o.height, 5);
	b.x = 30;
	cr_expect_not(gpu_rect_intersect(&a, &b, &o), "touching is empty");
	gpu_rect_union(&u, &a);
	cr_expect_eq(memcmp(&u, &a, sizeof(u)), 0, "union with empty");
	gpu_rect_union(&u, &b);
	cr_expect_eq(u.x, 10);
	cr_expect_eq(u.y, 0);
	cr_expect_eq(u.width, 40);
	cr_expect_eq(u.height, 30);
	gpu_rect_union(&u, &far);
	cr_expect_eq(u.x, 10);
	cr_expect_eq(u.width, UINT32_MAX - 10, "no wrap");
}

struct xfer_case {
	struct virtio_gpu_rect r;
	uint64_t offset;
	uint64_t backing;
	int want;
};

Test(gpu_cmd, transfer_checks)
{
	/* A 100 x 50 resource, 4 bytes a pixel: stride 400. */
	static const struct xfer_case cases[] = {
		{ { 0, 0, 100, 50 }, 0, 20000, 0 },
		{ { 0, 0, 100, 50 }, 0, 19999, -EINVAL },	/* backing short */
		{ { 10, 10, 10, 10 }, 4040, 20000, 0 },
		{ { 10, 10, 10, 10 }, 16400, 20000, -EINVAL },	/* runs past */
		{ { 10, 10, 10, 10 }, 16360, 20000, 0 },	/* exactly fits */
		{ { 0, 0, 101, 1 }, 0, 1 << 20, -EINVAL },	/* wider than res */
		{ { 0, 49, 1, 2 }, 0, 1 << 20, -EINVAL },	/* taller */
		{ { 0, 0, 1, 1 }, UINT64_MAX - 2, UINT64_MAX, -EINVAL },
		{ { 0, 0, 1, 1 }, UINT64_MAX, 1 << 20, -EINVAL },
		{ { 5, 5, 0, 0 }, UINT64_MAX, 0, 0 },		/* empty: nothing read */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(gpu_transfer_check(&cases[i].r, cases[i].offset, 100,
						50, 4, cases[i].backing),
			     cases[i].want, "case %zu", i);
}

/* Found by fuzz_gpu_cmd: (height - 1) * stride wrapped 64 bits for a
 * resource of 2^32-1 x 2^32-1, and a huge transfer passed. */
Test(gpu_cmd, transfer_check_no_wrap)
{
	struct virtio_gpu_rect r = { 0, 0, UINT32_MAX, UINT32_MAX };

	cr_expect_eq(gpu_transfer_check(&r, 0, UINT32_MAX, UINT32_MAX, 4,
					UINT64_MAX), -EINVAL);
	r.height = 2;
	cr_expect_eq(gpu_transfer_check(&r, 0, UINT32_MAX, UINT32_MAX, 4,
					UINT64_MAX), 0);
}

static struct memmap mm;
static uint8_t ram_a[8192], ram_b[8192];

static void
mem_setup(void)
{
	struct memmap_region a = {
		.gpa = 0x10000, .size = sizeof(ram_a), .uva = 0x1000000, .host = ram_a,
	};
	struct memmap_region b = {
		.gpa = 0x12000, .size = sizeof(ram_b), .uva = 0x2000000, .host = ram_b,
	};

	memset(&mm, 0, sizeof(mm));
	memmap_insert(&mm, &a);
	memmap_insert(&mm, &b);	/* adjacent in gpa, apart in our memory */
	for (size_t i = 0; i < sizeof(ram_a); i++) {
		ram_a[i] = (uint8_t)i;
		ram_b[i] = (uint8_t)(i + 0x80);
	}
}

Test(gpu_cmd, backing_translate_and_read, .init = mem_setup)
{
	struct virtio_gpu_mem_entry ents[] = {
		{ .addr = 0x10000, .length = 4096 },
		{ .addr = 0x11000, .length = 4096 },	/* contiguous: merged */
		{ .addr = 0x11f00, .length = 0x200 },	/* spans a and b */
	};
	struct iovec iov[8];
	uint64_t ends[8];
	struct gpu_backing b = { .iov = iov, .ends = ends };
	uint8_t buf[0x300];

	cr_assert_eq(gpu_backing_translate(&b, &mm, ents, 3, 8), 0);
	cr_expect_eq(b.len, 8192 + 0x200);
	cr_expect_eq(b.niov, 3, "merged a run, split across regions");
	cr_expect_eq(iov[0].iov_base, ram_a);
	cr_expect_eq(iov[0].iov_len, 8192);
	cr_expect_eq(iov[2].iov_base, ram_b);
	/* Read across the region boundary inside the third entry. */
	gpu_backing_read(&b, 8192 + 0x80, buf, 0x100);
	cr_expect_eq(buf[0], ram_a[0x1f80]);
	cr_expect_eq(buf[0x7f], ram_a[0x1fff]);
	cr_expect_eq(buf[0x80], ram_b[0]);
	cr_expect_eq(buf[0xff], ram_b[0x7f]);
	cr_expect_eq(gpu_backing_translate(&b, &mm, ents, 3, 2), -E2BIG);
}

struct bad_entry {
	uint64_t addr;
	uint32_t len;
	int want;
};

Test(gpu_cmd, backing_bad_entries, .init = mem_setup)
{
	static const struct bad_entry bad[] = {
		{ 0x10000, 0, -EINVAL },		/* empty */
		{ 0x0, 16, -EFAULT },			/* unmapped */
		{ 0x13f00, 0x200, -EFAULT },		/* runs off the end */
		{ UINT64_MAX - 8, 16, -EFAULT },	/* wraps */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct virtio_gpu_mem_entry e = { .addr = bad[i].addr,
						  .length = bad[i].len };
		struct iovec iov[4];
		uint64_t ends[4];
		struct gpu_backing b = { .iov = iov, .ends = ends };

		cr_expect_eq(gpu_backing_translate(&b, &mm, &e, 1, 4), bad[i].want,
			     "case %zu", i);
	}
}

Test(gpu_cmd, iov_gather_scatter)
{
	uint8_t a[3] = { 1, 2, 3 }, b[5] = { 4, 5, 6, 7, 8 }, out[8];
	struct iovec iov[] = { { a, 3 }, { b, 5 } };
	uint8_t in[4] = { 9, 9, 9, 9 };

	cr_expect_eq(iov_to_buf(iov, 2, 2, out, 8), 6);
	cr_expect_eq(out[0], 3);
	cr_expect_eq(out[5], 8);
	cr_expect_eq(iov_to_buf(iov, 2, 8, out, 8), 0);
	cr_expect_eq(iov_from_buf(iov, 2, 1, in, 4), 4);
	cr_expect_eq(a[1], 9);
	cr_expect_eq(b[1], 9);
	cr_expect_eq(b[2], 6);
}
