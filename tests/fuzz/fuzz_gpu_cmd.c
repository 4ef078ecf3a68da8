/* libFuzzer target: the virtio-gpu command helpers (proto/gpu_cmd.c) against simple models, and backing reads over a fuzzed memory map. */
#include <errno.h>

#include "proto/gpu_cmd.h"
#include "proto/memmap.h"
#include "tests/fuzz/fuzz.h"

/*
 * The first byte picks one of four checks:
 *   transfers   gpu_transfer_check against a 128-bit model (and, on small
 *               sizes, a pixel-by-pixel one), then the transfer itself as
 *               render/gpu.c does it, from a backing exactly as long as
 *               the check was told, into an image exactly as large;
 *   rectangles  gpu_rect_inside/intersect/union, gpu_resource_bytes,
 *               the format table and conversion, the command table;
 *   backing     gpu_backing_translate over a fuzzed memory map (every iovec
 *               in guest memory, ends[] consistent, runs merged, the same
 *               answer as with room to spare) and gpu_backing_read against
 *               a byte-by-byte model;
 *   iov         iov_to_buf/iov_from_buf against a flat copy.
 */

typedef unsigned __int128 u128;

static struct fuzz_mem mem;
static bool strict;

/* A 32-bit field: small most of the time, any value when bit is set. */
static uint32_t
field32(struct fuzz_in *in, uint8_t flags, unsigned bit, uint32_t small)
{
	return (flags & (1u << bit)) ? fuzz_u32(in) : fuzz_u8(in) % small;
}

/* ---------- transfers ---------- */

static int
model_transfer(const struct virtio_gpu_rect *r, uint64_t offset, uint32_t w,
	       uint32_t h, unsigned bpp, uint64_t len)
{
	u128 stride = (u128)w * bpp, last;

	if ((u128)r->x + r->width > w || (u128)r->y + r->height > h)
		return -EINVAL;
	if (r->width == 0 || r->height == 0)
		return 0;
	last = (u128)offset + (u128)(r->height - 1) * stride +
	       (u128)r->width * bpp;
	return last <= len ? 0 : -EINVAL;
}

/* Pixel by pixel: every pixel inside the image, every byte read inside
 * the backing. Only for small rectangles. */
static int
brute_transfer(const struct virtio_gpu_rect *r, uint64_t offset, uint32_t w,
	       uint32_t h, unsigned bpp, uint64_t len)
{
	if (r->width == 0 || r->height == 0)
		return (u128)r->x + r->width <= w && (u128)r->y + r->height <= h ?
		       0 : -EINVAL;
	for (uint32_t j = 0; j < r->height; j++) {
		for (uint32_t i = 0; i < r->width; i++) {
			u128 px = (u128)r->x + i, py = (u128)r->y + j;
			u128 at = (u128)offset + (u128)j * w * bpp + (u128)i * bpp;

			if (px >= w || py >= h || at + bpp > len)
				return -EINVAL;
		}
	}
	return 0;
}

static void
check_transfer(struct fuzz_in *in)
{
	uint8_t f = fuzz_u8(in), g = fuzz_u8(in);
	struct virtio_gpu_rect r;
	uint32_t w, h;
	uint64_t offset, len;
	unsigned bpp = (g & 0x80) ? 4 : 1 + fuzz_u8(in) % 8;
	int ret, want;

	r.x = field32(in, f, 0, 80);
	r.y = field32(in, f, 1, 80);
	r.width = field32(in, f, 2, 80);
	r.height = field32(in, f, 3, 80);
	w = field32(in, f, 4, 80);
	h = field32(in, f, 5, 80);
	offset = (f & 0x40) ? fuzz_u64(in) : fuzz_u16(in) % 4096;
	len = (f & 0x80) ? fuzz_u64(in) : fuzz_u16(in) % 32768;
	if (g & 1)	/* often just what the whole image needs */
		len = (uint64_t)w * h * bpp;

	ret = gpu_transfer_check(&r, offset, w, h, bpp, len);
	want = model_transfer(&r, offset, w, h, bpp, len);
	/*
	 * Images of 2^64 bytes or more cannot exist as resources, but the
	 * check must hold for them too: this target found (height - 1) *
	 * stride wrapping there (fixed with checked arithmetic). Checked
	 * unless VUGPU_FUZZ_STRICT=0.
	 */
	if (strict || (u128)w * h * bpp <= INT64_MAX)
		FUZZ_CHECK(ret == want);
	if ((u128)r.width * r.height <= 4096 &&
	    (strict || (u128)w * h * bpp <= INT64_MAX))
		FUZZ_CHECK(ret == brute_transfer(&r, offset, w, h, bpp, len));

	/* Do it, as cmd_transfer_to_host_2d does, when it is small. */
	if (ret == 0 && r.width && r.height && len <= 65536 &&
	    (uint64_t)w * h * bpp <= 65536) {
		uint64_t stride = (uint64_t)w * bpp;
		uint8_t *src = malloc(len ? len : 1);
		uint8_t *img = malloc((size_t)w * h * bpp);
		struct iovec iov[3];
		uint64_t ends[3];
		struct gpu_backing b = { .iov = iov, .ends = ends };
		uint64_t cut1 = len ? fuzz_u16(in) % len : 0, cut2 = len;

		if (!src || !img) {
			free(src);
			free(img);
			return;
		}
		/* The backing in up to three pieces. */
		b.niov = 0;
		if (cut1) {
			iov[b.niov] = (struct iovec){ src, cut1 };
			ends[b.niov++] = cut1;
		}
		if (g & 2)
			cut2 = cut1 + (len - cut1) / 2;
		if (cut2 > cut1) {
			iov[b.niov] = (struct iovec){ src + cut1, cut2 - cut1 };
			ends[b.niov++] = cut2;
		}
		if (len > cut2) {
			iov[b.niov] = (struct iovec){ src + cut2, len - cut2 };
			ends[b.niov++] = len;
		}
		b.len = len;
		for (uint64_t k = 0; k < len; k++)
			src[k] = (uint8_t)(k * 13 + (k >> 8));
		if (r.x == 0 && r.width == w) {
			gpu_backing_read(&b, offset, img + r.y * stride,
					 (size_t)(r.height * stride));
		} else {
			for (uint32_t y = 0; y < r.height; y++)
				gpu_backing_read(&b, offset + y * stride,
						 img + (r.y + y) * stride +
						 (uint64_t)r.x * bpp,
						 (size_t)r.width * bpp);
		}
		/* The pixel at the rectangle's origin came from `offset`. */
		FUZZ_CHECK(img[r.y * stride + (uint64_t)r.x * bpp] == src[offset]);
		free(src);
		free(img);
	}
}

/* ---------- rectangles, sizes, formats ---------- */

static bool
empty(const struct virtio_gpu_rect *r)
{
	return r->width == 0 || r->height == 0;
}

static void
check_rects(struct fuzz_in *in)
{
	uint8_t f = fuzz_u8(in);
	struct virtio_gpu_rect a, b, out, out2, u;
	uint32_t w, h;
	uint64_t x0, y0, x1, y1;
	bool got, model;

	a.x = field32(in, f, 0, 64);
	a.y = field32(in, f, 0, 64);
	a.width = field32(in, f, 1, 64);
	a.height = field32(in, f, 1, 64);
	b.x = field32(in, f, 2, 64);
	b.y = field32(in, f, 2, 64);
	b.width = field32(in, f, 3, 64);
	b.height = field32(in, f, 3, 64);
	w = field32(in, f, 4, 128);
	h = field32(in, f, 4, 128);

	FUZZ_CHECK(gpu_rect_inside(&a, w, h) ==
		   ((uint64_t)a.x + a.width <= w && (uint64_t)a.y + a.height <= h));

	x0 = a.x > b.x ? a.x : b.x;
	y0 = a.y > b.y ? a.y : b.y;
	x1 = (uint64_t)a.x + a.width < (uint64_t)b.x + b.width ?
	     (uint64_t)a.x + a.width : (uint64_t)b.x + b.width;
	y1 = (uint64_t)a.y + a.height < (uint64_t)b.y + b.height ?
	     (uint64_t)a.y + a.height : (uint64_t)b.y + b.height;
	model = x1 > x0 && y1 > y0;
	got = gpu_rect_intersect(&a, &b, &out);
	FUZZ_CHECK(got == model);
	FUZZ_CHECK(gpu_rect_intersect(&b, &a, &out2) == got);
	if (got) {
		FUZZ_CHECK(out.x == x0 && out.y == y0);
		FUZZ_CHECK(out.width == x1 - x0 && out.height == y1 - y0);
		FUZZ_CHECK(memcmp(&out, &out2, sizeof(out)) == 0);
		FUZZ_CHECK(!empty(&out));
		/* Inside both. */
		FUZZ_CHECK(out.x >= a.x && (uint64_t)out.x + out.width <=
					   (uint64_t)a.x + a.width);
		FUZZ_CHECK(out.y >= b.y && (uint64_t)out.y + out.height <=
					   (uint64_t)b.y + b.height);
	}

	u = a;
	gpu_rect_union(&u, &b);
	if (empty(&b)) {
		FUZZ_CHECK(memcmp(&u, &a, sizeof(u)) == 0);
	} else if (empty(&a)) {
		FUZZ_CHECK(memcmp(&u, &b, sizeof(u)) == 0);
	} else {
		uint64_t ux1 = (uint64_t)a.x + a.width, uy1 = (uint64_t)a.y + a.height;

		if ((uint64_t)b.x + b.width > ux1)
			ux1 = (uint64_t)b.x + b.width;
		if ((uint64_t)b.y + b.height > uy1)
			uy1 = (uint64_t)b.y + b.height;
		FUZZ_CHECK(u.x == (a.x < b.x ? a.x : b.x));
		FUZZ_CHECK(u.y == (a.y < b.y ? a.y : b.y));
		FUZZ_CHECK(!empty(&u));
		/* Holds both, unless it had to saturate at 2^32 - 1. */
		if (ux1 - u.x <= UINT32_MAX)
			FUZZ_CHECK(u.width == ux1 - u.x);
		else
			FUZZ_CHECK(u.width == UINT32_MAX);
		if (uy1 - u.y <= UINT32_MAX)
			FUZZ_CHECK(u.height == uy1 - u.y);
		else
			FUZZ_CHECK(u.height == UINT32_MAX);
	}

	/* Resource sizes. */
	{
		uint32_t rw = fuzz_u32(in), rh = fuzz_u32(in);
		unsigned bpp = fuzz_u8(in);
		u128 px = (u128)rw * rh;
		uint64_t bytes = gpu_resource_bytes(rw, rh, bpp);

		if (px == 0 || bpp == 0 || px * bpp > INT64_MAX)
			FUZZ_CHECK(bytes == 0);
		else
			FUZZ_CHECK(bytes == (uint64_t)(px * bpp));
	}

	/* Formats: bpp, and conversion of a few pixels from a buffer that
	 * holds exactly those. */
	{
		uint8_t sel = fuzz_u8(in);
		uint32_t fmt = (sel & 0x80) ? fuzz_u32(in) : sel % 160;
		unsigned bpp = gpu_format_bpp(fmt);
		size_t npix = fuzz_u8(in) % 9;
		uint8_t *src;
		uint32_t dst[8];

		FUZZ_CHECK(bpp == 0 || bpp == 4);
		if (gpu_format_is_xrgb(fmt))
			FUZZ_CHECK(bpp == 4);
		if (bpp == 4 && npix) {
			src = malloc(npix * 4);
			if (src) {
				fuzz_bytes(in, src, npix * 4);
				gpu_format_to_xrgb(fmt, dst, src, npix);
				for (size_t i = 0; i < npix; i++) {
					uint32_t le = src[4 * i] |
						      (uint32_t)src[4 * i + 1] << 8 |
						      (uint32_t)src[4 * i + 2] << 16 |
						      (uint32_t)src[4 * i + 3] << 24;

					if (fmt == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM)
						FUZZ_CHECK(dst[i] == le);
					if (fmt == VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM)
						FUZZ_CHECK(dst[i] == (le | 0xff000000u));
					if (fmt == VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM ||
					    fmt == VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM ||
					    fmt == VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM)
						FUZZ_CHECK(dst[i] >> 24 == 0xff);
				}
				free(src);
			}
		}
	}

	/* The command table. */
	{
		uint8_t sel = fuzz_u8(in);
		uint32_t type;
		const char *name;

		switch (sel & 3) {
		case 0: type = 0x100 + sel / 4 % 16; break;
		case 1: type = 0x200 + sel / 4 % 16; break;
		case 2: type = 0x300 + sel / 4 % 4; break;
		default: type = fuzz_u32(in); break;
		}
		name = gpu_cmd_name(type);
		FUZZ_CHECK(name != NULL);
		FUZZ_CHECK((gpu_cmd_size(type) == 0) == (strcmp(name, "UNKNOWN") == 0));
		if (gpu_cmd_size(type))
			FUZZ_CHECK(gpu_cmd_size(type) >= sizeof(struct virtio_gpu_ctrl_hdr));
	}
}

/* ---------- backing ---------- */

#define MAX_ENTS 32

/* What translating ents one after the other must give: 0, or the error
 * of the first bad entry. */
static int
model_translate(const struct virtio_gpu_mem_entry *ents, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t addr = ents[i].addr, len = ents[i].length;

		if (len == 0)
			return -EINVAL;
		if (addr + len < addr)
			return -EFAULT;
		while (len) {
			void *host;
			uint64_t got = memmap_gpa_span(&mem.map, addr, len, &host);

			if (!got)
				return -EFAULT;
			addr += got;
			len -= got;
		}
	}
	return 0;
}

/* Byte off of the backing, walking the entries (not the iovecs). */
static uint8_t
model_byte(const struct virtio_gpu_mem_entry *ents, unsigned n, uint64_t off)
{
	for (unsigned i = 0; i < n; i++) {
		if (off < ents[i].length) {
			uint8_t *p = memmap_gpa(&mem.map, ents[i].addr + off, 1);

			FUZZ_CHECK(p != NULL);
			return *p;
		}
		off -= ents[i].length;
	}
	FUZZ_CHECK(!"offset past the backing");
	return 0;
}

static void
check_translated(const struct gpu_backing *b, unsigned cap,
		 const struct virtio_gpu_mem_entry *ents, unsigned n)
{
	uint64_t total = 0, sum = 0;

	for (unsigned i = 0; i < n; i++)
		total += ents[i].length;
	FUZZ_CHECK(b->niov <= cap);
	FUZZ_CHECK(b->len == total);
	for (unsigned i = 0; i < b->niov; i++) {
		FUZZ_CHECK(b->iov[i].iov_len > 0);
		FUZZ_CHECK(fuzz_mem_covers(&mem, b->iov[i].iov_base,
					   b->iov[i].iov_len));
		sum += b->iov[i].iov_len;
		FUZZ_CHECK(b->ends[i] == sum);
		/* Runs contiguous in our address space are merged. */
		if (i > 0)
			FUZZ_CHECK((uint8_t *)b->iov[i - 1].iov_base +
				   b->iov[i - 1].iov_len != b->iov[i].iov_base);
	}
	FUZZ_CHECK(sum == total);
}

static void
check_backing(struct fuzz_in *in)
{
	struct virtio_gpu_mem_entry ents[MAX_ENTS];
	struct iovec iov[MAX_ENTS * FUZZ_MEM_MAX_REGIONS + 1];
	uint64_t ends[MAX_ENTS * FUZZ_MEM_MAX_REGIONS + 1];
	struct iovec iov2[MAX_ENTS * FUZZ_MEM_MAX_REGIONS + 1];
	uint64_t ends2[MAX_ENTS * FUZZ_MEM_MAX_REGIONS + 1];
	struct gpu_backing b = { .iov = iov, .ends = ends };
	struct gpu_backing big = { .iov = iov2, .ends = ends2 };
	unsigned n, cap, bigcap;
	int ret, ret_big, want;

	if (!fuzz_mem_build(&mem, in, 4096))
		return;
	fuzz_mem_pattern(&mem, fuzz_u8(in));
	n = fuzz_u8(in) % (MAX_ENTS + 1);
	for (unsigned i = 0; i < n; i++) {
		uint8_t sel = fuzz_u8(in);

		ents[i].addr = fuzz_mem_addr(&mem, in);
		ents[i].length = (sel & 1) ? fuzz_u32(in) : fuzz_u16(in) % 8192;
		ents[i].padding = 0;
	}
	/* Room for what n entries can need, or the fuzzer's guess. */
	bigcap = n * FUZZ_MEM_MAX_REGIONS + 1;
	cap = 1 + fuzz_u8(in) % bigcap;

	ret = gpu_backing_translate(&b, &mem.map, ents, n, cap);
	ret_big = gpu_backing_translate(&big, &mem.map, ents, n, bigcap);
	want = model_translate(ents, n);
	FUZZ_CHECK(ret == 0 || ret == -EFAULT || ret == -EINVAL || ret == -E2BIG);
	FUZZ_CHECK(ret_big == want);
	if (ret != -E2BIG)
		FUZZ_CHECK(ret == ret_big);
	if (ret == 0) {
		check_translated(&b, cap, ents, n);
		FUZZ_CHECK(b.niov == big.niov && b.len == big.len);
		FUZZ_CHECK(memcmp(b.iov, big.iov, b.niov * sizeof(*b.iov)) == 0);
	}
	if (ret_big == 0) {
		uint64_t off, len;
		uint8_t *dst;

		check_translated(&big, bigcap, ents, n);
		if (big.len == 0)
			goto out;
		/* A read anywhere inside, into a buffer exactly as long. */
		off = fuzz_u32(in) % big.len;
		len = fuzz_u16(in) % (big.len - off + 1);
		if (len > 4096)
			len = 4096;
		dst = malloc(len ? len : 1);
		if (!dst)
			goto out;
		gpu_backing_read(&big, off, dst, len);
		for (uint64_t k = 0; k < len; k++)
			FUZZ_CHECK(dst[k] == model_byte(ents, n, off + k));
		free(dst);
	}
out:
	fuzz_mem_free(&mem);
}

/* ---------- iovec gather/scatter ---------- */

static void
check_iov(struct fuzz_in *in)
{
	uint8_t flat[8 * 64], buf[8 * 64 + 16], back[8 * 64 + 16];
	struct iovec iov[8];
	unsigned n = fuzz_u8(in) % 9;
	size_t total = 0, off, len, want, got;
	uint8_t *store;

	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_len = fuzz_u8(in) % 64;
		total += iov[i].iov_len;
	}
	/* One allocation per iovec, each exactly as long. */
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = malloc(iov[i].iov_len ? iov[i].iov_len : 1);
		if (!iov[i].iov_base) {
			while (i--)
				free(iov[i].iov_base);
			return;
		}
	}
	fuzz_bytes(in, flat, total);
	for (unsigned i = 0, at = 0; i < n; at += iov[i].iov_len, i++)
		memcpy(iov[i].iov_base, flat + at, iov[i].iov_len);
	off = fuzz_u16(in) % (total + 8);
	len = fuzz_u16(in) % (total + 16);
	want = off < total ? (total - off < len ? total - off : len) : 0;

	store = malloc(len ? len : 1);
	if (store) {
		got = iov_to_buf(iov, n, off, store, len);
		FUZZ_CHECK(got == want);
		FUZZ_CHECK(got == 0 || memcmp(store, flat + off, got) == 0);
		free(store);
	}

	fuzz_bytes(in, buf, len);
	got = iov_from_buf(iov, n, off, buf, len);
	FUZZ_CHECK(got == want);
	if (got)
		memcpy(flat + off, buf, got);
	for (unsigned i = 0, at = 0; i < n; at += iov[i].iov_len, i++)
		memcpy(back + at, iov[i].iov_base, iov[i].iov_len);
	FUZZ_CHECK(total == 0 || memcmp(back, flat, total) == 0);

	for (unsigned i = 0; i < n; i++)
		free(iov[i].iov_base);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *s = getenv("VUGPU_FUZZ_STRICT");

	strict = !(s && strcmp(s, "0") == 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	switch (fuzz_u8(&in) % 4) {
	case 0:
		check_transfer(&in);
		break;
	case 1:
		check_rects(&in);
		break;
	case 2:
		check_backing(&in);
		break;
	default:
		check_iov(&in);
		break;
	}
	return 0;
}
