/* libFuzzer target: the 2D device model (render/gpu.c) driven by a hostile guest, frontend and display through a fake host. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/display.h"
#include "proto/memmap.h"
#include "proto/vring.h"
#include "proto/vu_msg.h"
#include "render/gpu.h"
#include "tests/fuzz/fuzz.h"

/*
 * The fake host plays what core/ does around the device model, and the
 * input plays everyone else:
 *
 *   the guest driver  places control and cursor commands (every 2D
 *                     command, with small or raw fields, whole, split,
 *                     truncated, through an indirect table, with a
 *                     short or no response buffer), kicks, scribbles on
 *                     its rings;
 *   the frontend      stops, starts and resets the queues, changes the
 *                     memory table (moves, shrinks, drops, splits guest
 *                     RAM; the old mappings become inaccessible once
 *                     mem_changed has returned, as core/ unmaps them),
 *                     reads and writes the config space, hands over
 *                     display sockets (real fds, which must all be
 *                     closed in the end);
 *   the display       completes sends (reading every byte of what it
 *                     was given, which must still be valid then), loses
 *                     the socket, answers GET_PROTOCOL_FEATURES,
 *                     GET_DISPLAY_INFO and GET_EDID, or says anything.
 *
 * The host contract of render/gpu.h is checked as it goes: one send at a
 * time, display_attach never with a send in flight, display_abort only
 * with one, and every message well formed; so is the used ring (each
 * chain returned once, never more written than it had room for). Guest
 * RAM starts as one region. The device is created and torn down per
 * input, so LeakSanitizer sees anything it leaves behind.
 */

#define GUEST_GPA	0x40000000ull
#define GUEST_SIZE	(512u << 10)
#define MAX_HOSTMEM	(24u << 20)	/* a 16384-wide scanout can be > 1 band */
#define MAX_OPS		256

/* Where the driver keeps things, as offsets into guest memory. */
#define CTRL_NUM	64
#define CTRL_DESC	0x0000
#define CTRL_AVAIL	0x0400
#define CTRL_USED	0x0600
#define CURSOR_NUM	16
#define CURSOR_DESC	0x1000
#define CURSOR_AVAIL	0x1100
#define CURSOR_USED	0x1200
#define CMD_BASE	0x2000		/* commands and response buffers */
#define CMD_END		0x10000
#define PIX_BASE	0x10000		/* resource backings */

#define MAX_FDS		64

/*
 * Guest RAM is a memfd, as QEMU's is. The driver writes it through a
 * mapping of its own; the device sees it through the memory table's
 * regions, each a mapping of part of the memfd placed in one of two
 * reserved areas, the new table's in one and the old one's in the other,
 * which becomes inaccessible once the device has been told (core/ unmaps
 * it). The table may split guest RAM into up to MAX_SPLIT regions, with
 * an inaccessible page between their mappings or not.
 */
#define PAGE		4096u
#define MAX_SPLIT	32
#define AREA_SIZE	(GUEST_SIZE + (MAX_SPLIT + 1) * PAGE)

struct fake_queue {
	unsigned num;
	uint64_t desc, avail, used;	/* offsets in guest memory */
	struct vring_queue vr;
	bool running;
	bool flush;			/* publish at the end of the turn */
	uint16_t base;			/* where it resumes after a stop */
	uint16_t avail_idx;		/* the driver's avail->idx */
	uint16_t next_desc;		/* the driver's next descriptor */

	/*
	 * The driver's bookkeeping, to check the used ring: every chain
	 * comes back once, with no more bytes written than it had room
	 * for (nothing at all on the cursor queue). Only while the driver
	 * played by the rules (exact): scribbling on the ring, moving guest
	 * memory under pending chains or reusing their descriptors ends it.
	 */
	bool exact;
	uint16_t seen_used;		/* used entries checked */
	int16_t owner[CTRL_NUM];	/* per descriptor: head of its chain, -1 */
	bool pending[CTRL_NUM];		/* per head */
	uint32_t in_len[CTRL_NUM];	/* per head: writable bytes */
};

static struct fake {
	struct memmap mem;
	int ram;			/* guest RAM: a memfd of GUEST_SIZE */
	uint8_t *drv;			/* the driver's mapping of it */
	uint8_t *area[2];		/* where the table's mappings go */
	unsigned cur;			/* the table maps into area[cur] */
	bool pristine;			/* the table is still setup()'s */
	bool event_idx;
	struct fake_queue q[2];
	uint64_t cmd_next;

	/* The display socket. */
	int sp[2];			/* dup()ed for every socket handed over */
	int fd;				/* attached; -1: none */
	bool sending;
	bool fail_next;
	const struct iovec *tx_iov;
	unsigned tx_niov;
	unsigned tx_by_ref;
	uint64_t tx_prepared;		/* by-reference bytes prepared */
	bool copying;			/* sends copy what they may splice */
	bool full;			/* the socket holds unread bytes */
	uint32_t reply_owed;

	int fds[MAX_FDS];		/* every fd handed over this input */
	unsigned nfds;

	struct gpu g;
} f;

/* ---------- guest memory ---------- */

/* The driver writes guest RAM at offset off (src NULL: zeros). */
static void
gwrite(uint64_t off, const void *src, size_t len)
{
	if (off > GUEST_SIZE || len > GUEST_SIZE - off)
		return;
	if (src)
		memcpy(f.drv + off, src, len);
	else
		memset(f.drv + off, 0, len);
}

/* A memory table: regions of guest-physical space, the part of guest RAM
 * each shows, and where its mapping goes in the area (pages). */
struct layout {
	unsigned n;
	uint64_t gpa[MAX_SPLIT], size[MAX_SPLIT];
	uint64_t ram_off[MAX_SPLIT], host_off[MAX_SPLIT];
};

static void
layout_one(struct layout *l, uint64_t gpa, uint64_t size)
{
	l->n = size ? 1 : 0;
	l->gpa[0] = gpa;
	l->size[0] = size;
	l->ram_off[0] = 0;
	l->host_off[0] = 0;
}

/* Make area a inaccessible again (nothing of guest RAM mapped there). */
static void
area_clear(unsigned a)
{
	ASAN_UNPOISON_MEMORY_REGION(f.area[a], AREA_SIZE);
	if (mmap(f.area[a], AREA_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) ==
	    MAP_FAILED)
		abort();
}

/* Map l's regions into area a and make it the table. */
static void
table_set(const struct layout *l, unsigned a)
{
	f.mem.n = 0;
	for (unsigned i = 0; i < l->n; i++) {
		uint8_t *host = f.area[a] + l->host_off[i];
		uint64_t len = fuzz_align_up(l->size[i], PAGE);
		struct memmap_region r = {
			.gpa = l->gpa[i], .size = l->size[i],
			.uva = 0x7f0000000000ull + l->host_off[i],
			.mmap_offset = l->ram_off[i], .host = host,
		};

		if (mmap(host, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 f.ram, (off_t)l->ram_off[i]) == MAP_FAILED)
			abort();
		/* The rest of the last page is not in the region. */
		ASAN_POISON_MEMORY_REGION(host + l->size[i], len - l->size[i]);
		FUZZ_CHECK(memmap_check(&f.mem, r.gpa, r.size, r.uva, r.mmap_offset) == 0);
		FUZZ_CHECK(memmap_insert(&f.mem, &r) == 0);
	}
	f.cur = a;
}

/* ---------- the transport (core/vu.c's part) ---------- */

static bool
ring_translate(struct fake_queue *q, void **desc, void **avail, void **used)
{
	*desc = memmap_gpa(&f.mem, GUEST_GPA + q->desc, 16ull * q->num);
	*avail = memmap_gpa(&f.mem, GUEST_GPA + q->avail, 6 + 2ull * q->num);
	*used = memmap_gpa(&f.mem, GUEST_GPA + q->used, 6 + 8ull * q->num);
	return *desc && *avail && *used;
}

/* Check the used entries the device wrote since we last looked (the
 * ring must be mapped). */
static void
used_check(unsigned i)
{
	struct fake_queue *q = &f.q[i];

	while (q->seen_used != q->vr.used_idx) {
		const struct vring_used_elem *e =
			&q->vr.used->ring[q->seen_used % q->num];
		uint32_t id = le32toh(e->id), len = le32toh(e->len);

		q->seen_used++;
		if (!q->exact)
			continue;
		FUZZ_CHECK(id < q->num && q->pending[id]);
		FUZZ_CHECK(len <= q->in_len[id]);
		if (i == GPU_QUEUE_CURSOR)
			FUZZ_CHECK(len == 0);
		q->pending[id] = false;
		for (unsigned d = 0; d < q->num; d++)
			if (q->owner[d] == (int16_t)id)
				q->owner[d] = -1;
	}
}

/* The driver starts afresh: nothing pending. */
static void
book_reset(struct fake_queue *q)
{
	q->exact = true;
	q->seen_used = 0;
	memset(q->owner, 0xff, sizeof(q->owner));
	memset(q->pending, 0, sizeof(q->pending));
}

static void
queue_stop(unsigned i)
{
	struct fake_queue *q = &f.q[i];

	if (!q->running)
		return;
	/* The device may answer what it holds while the ring is there. */
	gpu_vu_ops.queue_stop(&f.g, i);
	q->running = false;
	vring_publish(&q->vr);
	used_check(i);
	q->base = q->vr.last_avail;
	q->flush = false;
}

static void
queue_start(unsigned i)
{
	struct fake_queue *q = &f.q[i];
	void *desc, *avail, *used;

	if (q->running || !ring_translate(q, &desc, &avail, &used))
		return;
	vring_queue_init(&q->vr, q->num, desc, avail, used, q->base, f.event_idx);
	q->seen_used = q->vr.used_idx;
	q->running = true;
	gpu_vu_ops.queue_start(&f.g, i);
	gpu_vu_ops.queue_kick(&f.g, i);
}

/* End of a loop turn: publish what the device asked to. */
static void
turn_end(void)
{
	for (unsigned i = 0; i < 2; i++) {
		if (f.q[i].flush && f.q[i].running)
			vring_publish(&f.q[i].vr);
		f.q[i].flush = false;
		if (f.q[i].running)
			used_check(i);
	}
}

/*
 * The memory table changes, as SET_MEM_TABLE does it: the new regions are
 * mapped, the table switches, the rings are translated again (a ring that
 * left guest memory fails), the device is told, and only then are the old
 * mappings gone: a pointer into them that survived faults.
 */
static void
mem_change(const struct layout *l)
{
	unsigned old = f.cur;

	f.pristine = false;
	table_set(l, !old);
	for (unsigned i = 0; i < 2; i++) {
		struct fake_queue *q = &f.q[i];
		void *desc, *avail, *used;

		if (!q->running)
			continue;
		if (ring_translate(q, &desc, &avail, &used)) {
			q->vr.desc = desc;
			q->vr.avail = avail;
			q->vr.used = used;
		} else {
			queue_stop(i);	/* vu_queue_fail */
		}
	}
	gpu_vu_ops.mem_changed(&f.g);
	area_clear(old);
}

static void
device_reset(void)
{
	for (unsigned i = 0; i < 2; i++) {
		queue_stop(i);
		f.q[i].base = 0;
		/* Unless the driver starts again, what it had pending is
		 * popped again from slot 0. */
		f.q[i].exact = false;
	}
	gpu_vu_ops.reset(&f.g);
}

/* The driver (re)initialises its rings. */
static void
rings_init(void)
{
	for (unsigned i = 0; i < 2; i++) {
		struct fake_queue *q = &f.q[i];

		gwrite(q->desc, NULL, 16ull * q->num);
		gwrite(q->avail, NULL, 6 + 2ull * q->num);
		gwrite(q->used, NULL, 6 + 8ull * q->num);
		q->avail_idx = 0;
		q->next_desc = 0;
		q->base = 0;
		book_reset(q);
	}
}

/* ---------- the host ops ---------- */

static struct vring_queue *
host_queue_ring(void *h, unsigned q)
{
	return q < 2 && f.q[q].running ? &f.q[q].vr : NULL;
}

static const struct memmap *
host_memory(void *h)
{
	return &f.mem;
}

static void
host_queue_flush(void *h, unsigned q)
{
	FUZZ_CHECK(q < 2);
	if (f.q[q].running)
		f.q[q].flush = true;
}

static void
host_queue_fail(void *h, unsigned q)
{
	FUZZ_CHECK(q < 2);
	queue_stop(q);
}

static void
fd_close(int fd)
{
	/* A second close of the same fd would fail here. */
	FUZZ_CHECK(close(fd) == 0);
}

static void
host_display_attach(void *h, int fd)
{
	FUZZ_CHECK(!f.sending);
	if (f.fd >= 0)
		fd_close(f.fd);
	f.fd = fd;
	f.reply_owed = 0;
	f.full = false;
}

/* Every byte the device handed over must still be readable. */
static void
iov_touch(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const volatile uint8_t *bad;

		if (!iov[i].iov_len)
			continue;
		bad = (const volatile uint8_t *)__asan_region_is_poisoned(
			iov[i].iov_base, iov[i].iov_len);
		if (bad)
			(void)*bad;	/* let ASan say what it was */
	}
}

/* A u32 at `at` in the payload of the message that starts at `msg`. */
static uint32_t
payload_u32(const struct iovec *iov, unsigned n, uint64_t msg, size_t at)
{
	uint32_t v = 0;

	iov_to_buf(iov, n, msg + sizeof(struct display_hdr) + at, &v, sizeof(v));
	return v;
}

/* The message at byte msg of what the device sends is well formed: its
 * header in *hdr. */
static void
check_message(const struct iovec *iov, unsigned niov, uint64_t total,
	      uint64_t msg, struct display_hdr *h)
{
	struct display_hdr hdr;
	uint32_t psize;

	FUZZ_CHECK(total - msg >= sizeof(hdr));
	iov_to_buf(iov, niov, msg, &hdr, sizeof(hdr));
	FUZZ_CHECK(total - msg - sizeof(hdr) >= hdr.size);
	FUZZ_CHECK(hdr.flags == 0);
	psize = hdr.size;
	switch (hdr.request) {
	case DISPLAY_GET_PROTOCOL_FEATURES:
	case DISPLAY_GET_DISPLAY_INFO:
		FUZZ_CHECK(psize == 0);
		break;
	case DISPLAY_SET_PROTOCOL_FEATURES:
		FUZZ_CHECK(psize == sizeof(uint64_t));
		break;
	case DISPLAY_GET_EDID:
		FUZZ_CHECK(psize == sizeof(struct display_edid_req));
		FUZZ_CHECK(payload_u32(iov, niov, msg, 0) < VIRTIO_GPU_MAX_SCANOUTS);
		break;
	case DISPLAY_CURSOR_POS:
	case DISPLAY_CURSOR_POS_HIDE:
		FUZZ_CHECK(psize == sizeof(struct display_cursor_pos));
		FUZZ_CHECK(payload_u32(iov, niov, msg, 0) < VIRTIO_GPU_MAX_SCANOUTS);
		break;
	case DISPLAY_CURSOR_UPDATE:
		FUZZ_CHECK(psize == sizeof(struct display_cursor_update));
		FUZZ_CHECK(payload_u32(iov, niov, msg, 0) < VIRTIO_GPU_MAX_SCANOUTS);
		break;
	case DISPLAY_SCANOUT:
		FUZZ_CHECK(psize == sizeof(struct display_scanout));
		FUZZ_CHECK(payload_u32(iov, niov, msg, 0) < VIRTIO_GPU_MAX_SCANOUTS);
		FUZZ_CHECK(payload_u32(iov, niov, msg, 4) <= GPU_MAX_SCANOUT_SIZE);
		FUZZ_CHECK(payload_u32(iov, niov, msg, 8) <= GPU_MAX_SCANOUT_SIZE);
		break;
	case DISPLAY_UPDATE: {
		uint32_t w = payload_u32(iov, niov, msg, 12);
		uint32_t hh = payload_u32(iov, niov, msg, 16);

		FUZZ_CHECK(psize >= sizeof(struct display_update));
		FUZZ_CHECK(payload_u32(iov, niov, msg, 0) < VIRTIO_GPU_MAX_SCANOUTS);
		FUZZ_CHECK(w > 0 && hh > 0);
		FUZZ_CHECK((uint64_t)psize == sizeof(struct display_update) +
					      (uint64_t)w * hh * 4);
		FUZZ_CHECK((uint64_t)w * hh * 4 <= GPU_UPDATE_BAND);
		break;
	}
	default:
		FUZZ_CHECK(!"the device sent a message it never sends");
	}
	*h = hdr;
}

static void display_prepare(uint64_t n);

static int
host_display_send(void *h, const struct iovec *iov, unsigned niov,
		  unsigned by_ref)
{
	struct display_hdr hdr, first;
	uint64_t total = 0;

	FUZZ_CHECK(!f.sending);		/* one message at a time */
	if (f.fd < 0)
		return -ENOTCONN;
	if (f.fail_next) {
		f.fail_next = false;
		return -ENOMEM;
	}
	FUZZ_CHECK(niov >= 1 && iov[0].iov_len >= sizeof(hdr));
	FUZZ_CHECK(by_ref >= 2);	/* header and payload are copied */
	for (unsigned i = 0; i < niov; i++)
		total += iov[i].iov_len;
	/* One message, or several UPDATEs (copied) written together. */
	check_message(iov, niov, total, 0, &first);
	for (uint64_t msg = sizeof(first) + first.size; msg < total;
	     msg += sizeof(hdr) + hdr.size) {
		check_message(iov, niov, total, msg, &hdr);
		FUZZ_CHECK(hdr.request == DISPLAY_UPDATE &&
			   first.request == DISPLAY_UPDATE && by_ref == niov);
	}
	iov_touch(iov, niov);
	f.sending = true;
	f.tx_iov = iov;
	f.tx_niov = niov;
	f.tx_by_ref = by_ref;
	f.tx_prepared = 0;
	f.full = true;
	if (first.request == DISPLAY_GET_PROTOCOL_FEATURES ||
	    first.request == DISPLAY_GET_DISPLAY_INFO ||
	    first.request == DISPLAY_GET_EDID)
		f.reply_owed = first.request;
	/* Copying, core/display.c prepares all of it inside this call. */
	if (f.copying)
		display_prepare(UINT64_MAX);
	return 0;
}

static bool
host_display_drained(void *h)
{
	return f.fd >= 0 && !f.sending && !f.full;
}

static void
host_display_abort(void *h)
{
	/* Only a send in flight needs cutting short; it still completes
	 * (sent or lost) later, as the input decides. */
	FUZZ_CHECK(f.sending);
}

static const struct gpu_host_ops host_ops = {
	.queue_ring = host_queue_ring,
	.memory = host_memory,
	.queue_flush = host_queue_flush,
	.queue_fail = host_queue_fail,
	.display_attach = host_display_attach,
	.display_send = host_display_send,
	.display_abort = host_display_abort,
	.display_drained = host_display_drained,
};

/* ---------- the display's side ---------- */

/* As core/display.c does before it first reads by-reference bytes: up
 * to n more of them prepared, in order. */
void
display_prepare(uint64_t n)
{
	uint64_t at = 0;

	for (unsigned i = f.tx_by_ref; i < f.tx_niov && n; i++) {
		const uint8_t *p = f.tx_iov[i].iov_base;
		uint64_t len = f.tx_iov[i].iov_len, from, take;

		if (f.tx_prepared >= at + len) {
			at += len;
			continue;
		}
		from = f.tx_prepared - at;
		take = len - from < n ? len - from : n;
		gpu_display_prepare(&f.g, p + from, (size_t)take);
		f.tx_prepared += take;
		n -= take;
		at += len;
	}
}

static void
display_sent(void)
{
	if (!f.sending)
		return;
	display_prepare(UINT64_MAX);
	iov_touch(f.tx_iov, f.tx_niov);
	f.sending = false;
	gpu_display_sent(&f.g);
}

/* The socket fails or the frontend closes it: core/display.c closes
 * the fd and reports it once no send is in flight. */
static void
display_lost(void)
{
	if (f.fd < 0)
		return;
	if (f.sending)
		iov_touch(f.tx_iov, f.tx_niov);
	f.sending = false;
	fd_close(f.fd);
	f.fd = -1;
	f.reply_owed = 0;
	gpu_display_lost(&f.g);
}

static void
display_reply(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);
	struct display_hdr hdr;
	uint8_t *payload;

	hdr.request = f.reply_owed;
	if (!hdr.request || (sel & 1))
		hdr.request = (sel & 2) ? fuzz_u32(in) : fuzz_u8(in) % 13;
	hdr.flags = (sel & 4) ? fuzz_u32(in) : DISPLAY_FLAG_REPLY;
	switch (hdr.request) {
	case DISPLAY_GET_PROTOCOL_FEATURES:
		hdr.size = sizeof(uint64_t);
		break;
	case DISPLAY_GET_DISPLAY_INFO:
		hdr.size = sizeof(struct virtio_gpu_resp_display_info);
		break;
	case DISPLAY_GET_EDID:
		hdr.size = sizeof(struct virtio_gpu_resp_edid);
		break;
	default:
		hdr.size = 0;
		break;
	}
	if (sel & 8)
		hdr.size = (sel & 16) ? fuzz_u32(in) : fuzz_u16(in) % 1200;
	if (hdr.size > DISPLAY_REPLY_MAX) {
		/* core/display.c refuses it and drops the socket. */
		display_lost();
		return;
	}
	payload = malloc(hdr.size ? hdr.size : 1);
	if (!payload)
		return;
	memset(payload, 0, hdr.size);
	if (hdr.request == DISPLAY_GET_DISPLAY_INFO && hdr.size == 408 &&
	    !(sel & 32)) {
		struct virtio_gpu_resp_display_info info = { 0 };
		unsigned n = fuzz_u8(in) % (VIRTIO_GPU_MAX_SCANOUTS + 1);

		for (unsigned i = 0; i < n; i++) {
			uint8_t m = fuzz_u8(in);

			info.pmodes[i].enabled = m & 1;
			info.pmodes[i].r.width = (m & 2) ? fuzz_u32(in) : fuzz_u16(in) % 5000;
			info.pmodes[i].r.height = (m & 4) ? fuzz_u32(in) : fuzz_u16(in) % 5000;
		}
		memcpy(payload, &info, sizeof(info));
	} else if (hdr.request == DISPLAY_GET_EDID && hdr.size == 1056 &&
		   !(sel & 32)) {
		struct virtio_gpu_resp_edid e = { 0 };
		uint8_t m = fuzz_u8(in);

		e.size = (m & 1) ? fuzz_u32(in) : (m & 2) ? 128 : fuzz_u16(in) % 1100;
		fuzz_bytes(in, e.edid, 16);
		memcpy(payload, &e, sizeof(e));
	} else {
		fuzz_bytes(in, payload, hdr.size);
	}
	if (hdr.request == f.reply_owed)
		f.reply_owed = 0;
	gpu_display_input(&f.g, &hdr, payload);
	free(payload);
}

static void
set_display(bool none)
{
	int fd = -1;

	if (!none && f.nfds < MAX_FDS) {
		fd = fcntl(f.sp[0], F_DUPFD_CLOEXEC, 3);
		if (fd >= 0)
			f.fds[f.nfds++] = fd;
	}
	gpu_vu_ops.set_display(&f.g, fd);
}

/* ---------- the guest driver ---------- */

struct seg {
	uint64_t off;	/* in guest memory */
	uint32_t len;
	bool write;
};

static uint64_t
cmd_alloc(uint64_t len)
{
	uint64_t off;

	len = fuzz_align_up(len ? len : 1, 8);
	if (len > CMD_END - CMD_BASE)
		return CMD_BASE;
	if (f.cmd_next < CMD_BASE || f.cmd_next + len > CMD_END) {
		/* Wrapping over buffers (indirect tables) of chains still
		 * pending changes them. */
		for (unsigned i = 0; i < 2; i++)
			for (unsigned h = 0; h < f.q[i].num; h++)
				if (f.q[i].pending[h])
					f.q[i].exact = false;
		f.cmd_next = CMD_BASE;
	}
	off = f.cmd_next;
	f.cmd_next += len;
	return off;
}

static void
desc_write(struct fake_queue *q, unsigned i, uint64_t gpa, uint32_t len,
	   uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = htole64(gpa), .len = htole32(len),
		.flags = htole16(flags), .next = htole16(next),
	};

	gwrite(q->desc + 16ull * (i % q->num), &d, sizeof(d));
}

static void
avail_add(struct fake_queue *q, uint16_t head)
{
	uint16_t v = htole16(head);

	gwrite(q->avail + 4 + 2ull * (q->avail_idx % q->num), &v, sizeof(v));
	q->avail_idx++;
	v = htole16(q->avail_idx);
	gwrite(q->avail + 2, &v, sizeof(v));
}

/* Put a chain of segments on queue q, directly or through an indirect
 * table in the command area. */
static void
chain_add(struct fake_queue *q, const struct seg *s, unsigned n, bool indirect)
{
	uint16_t head = q->next_desc % q->num;
	uint32_t in = 0;

	for (unsigned i = 0; i < (indirect ? 1 : n); i++) {
		unsigned d = (q->next_desc + i) % q->num;

		if (q->owner[d] >= 0)	/* still in use: the driver is wrong */
			q->exact = false;
		q->owner[d] = (int16_t)head;
	}
	for (unsigned i = 0; i < n; i++)
		if (s[i].write)
			in += s[i].len;
	q->pending[head] = true;
	q->in_len[head] = in;

	if (indirect) {
		uint64_t t = cmd_alloc(16ull * n);

		for (unsigned i = 0; i < n; i++) {
			struct vring_desc d = {
				.addr = htole64(GUEST_GPA + s[i].off),
				.len = htole32(s[i].len),
				.flags = htole16((s[i].write ? VRING_DESC_F_WRITE : 0) |
						 (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
				.next = htole16(i + 1),
			};

			gwrite(t + 16ull * i, &d, sizeof(d));
		}
		desc_write(q, head, GUEST_GPA + t, 16 * n, VRING_DESC_F_INDIRECT, 0);
		q->next_desc++;
	} else {
		for (unsigned i = 0; i < n; i++) {
			unsigned d = (q->next_desc + i) % q->num;

			desc_write(q, d, GUEST_GPA + s[i].off, s[i].len,
				   (s[i].write ? VRING_DESC_F_WRITE : 0) |
				   (i + 1 < n ? VRING_DESC_F_NEXT : 0),
				   (uint16_t)((d + 1) % q->num));
		}
		q->next_desc += n;
	}
	avail_add(q, head);
}

static const uint32_t formats[] = {
	VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
	VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM,
	VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM,
	VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM,
};

static const uint32_t other_cmds[] = {
	VIRTIO_GPU_CMD_CTX_CREATE, VIRTIO_GPU_CMD_CTX_DESTROY,
	VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
	VIRTIO_GPU_CMD_SUBMIT_3D, VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
	VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB,
	VIRTIO_GPU_CMD_UPDATE_CURSOR, VIRTIO_GPU_CMD_MOVE_CURSOR,
};

/* A resource id: 0..7, or one of 988..991, which share hash buckets
 * with 1..4; any 32-bit value in raw mode. */
static uint32_t
res_id(struct fuzz_in *in, bool raw)
{
	uint8_t v;

	if (raw)
		return fuzz_u32(in);
	v = fuzz_u8(in);
	return v % 8 + ((v & 8) && v % 8 >= 1 && v % 8 <= 4 ? 987 : 0);
}

static void
rect_read(struct fuzz_in *in, struct virtio_gpu_rect *r, bool raw)
{
	r->x = raw ? fuzz_u32(in) : fuzz_u8(in);
	r->y = raw ? fuzz_u32(in) : fuzz_u8(in);
	r->width = raw ? fuzz_u32(in) : fuzz_u8(in);
	r->height = raw ? fuzz_u32(in) : fuzz_u8(in);
}

/* One control command on the control queue. */
static void
ctrl_command(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in), fl = fuzz_u8(in);
	bool raw = fl & 4;
	union {
		struct virtio_gpu_ctrl_hdr hdr;
		struct virtio_gpu_resource_create_2d create;
		struct virtio_gpu_resource_unref unref;
		struct virtio_gpu_set_scanout scanout;
		struct virtio_gpu_resource_flush flush;
		struct virtio_gpu_transfer_to_host_2d t2d;
		struct virtio_gpu_resource_attach_backing attach;
		struct virtio_gpu_resource_detach_backing detach;
		struct virtio_gpu_get_capset_info capset_info;
		struct virtio_gpu_get_capset capset;
		struct virtio_gpu_cmd_get_edid edid;
		struct virtio_gpu_resource_assign_uuid uuid;
		uint8_t bytes[512];
	} c;
	struct virtio_gpu_mem_entry ents[8];
	unsigned nents = 0;
	size_t len = sizeof(c.hdr);
	struct seg s[4];
	unsigned ns = 0;
	uint32_t resp;

	memset(&c, 0, sizeof(c));
	switch (sel % 16) {
	case 0:
		c.hdr.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
		break;
	case 1:
	case 15: {
		uint8_t m = fuzz_u8(in);

		c.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D;
		c.create.resource_id = res_id(in, raw);
		c.create.format = (m & 8) ? fuzz_u32(in) : formats[m % 8];
		if (sel % 16 == 15) {	/* a cursor image */
			c.create.width = c.create.height = DISPLAY_CURSOR_SIZE;
		} else if (m & 0x80) {	/* the size checks */
			c.create.width = fuzz_u32(in);
			c.create.height = fuzz_u32(in);
		} else {
			c.create.width = fuzz_u8(in);
			c.create.height = fuzz_u8(in);
		}
		len = sizeof(c.create);
		break;
	}
	case 2:
		c.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF;
		c.unref.resource_id = res_id(in, raw);
		len = sizeof(c.unref);
		break;
	case 3:
		c.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT;
		c.scanout.scanout_id = raw ? fuzz_u32(in) : fuzz_u8(in) % 17;
		c.scanout.resource_id = res_id(in, raw);
		rect_read(in, &c.scanout.r, raw);
		len = sizeof(c.scanout);
		break;
	case 4:
		c.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH;
		c.flush.resource_id = res_id(in, raw);
		rect_read(in, &c.flush.r, raw);
		len = sizeof(c.flush);
		break;
	case 5:
		c.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D;
		c.t2d.resource_id = res_id(in, raw);
		rect_read(in, &c.t2d.r, raw);
		c.t2d.offset = raw ? fuzz_u64(in) : fuzz_u16(in) * 4ull;
		len = sizeof(c.t2d);
		break;
	case 6: {
		uint8_t m = fuzz_u8(in);

		c.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING;
		c.attach.resource_id = res_id(in, raw);
		c.attach.nr_entries = (m & 0x80) ? fuzz_u32(in) : 1 + m % 4;
		nents = c.attach.nr_entries < 8 ? c.attach.nr_entries : 8;
		if (m & 0x40)		/* fewer than it claims */
			nents = fuzz_u8(in) % (nents + 1);
		for (unsigned i = 0; i < nents; i++) {
			uint8_t e = fuzz_u8(in);

			if (e & 0x80)
				ents[i].addr = fuzz_u64(in);
			else if (e & 0x40)
				ents[i].addr = GUEST_GPA + fuzz_u32(in) % GUEST_SIZE;
			else
				ents[i].addr = GUEST_GPA + PIX_BASE +
					       fuzz_u16(in) * 4ull % (GUEST_SIZE - PIX_BASE);
			ents[i].length = (e & 0x20) ? fuzz_u32(in) :
					 (e & 0x10) ? GUEST_SIZE - PIX_BASE :
					 fuzz_u16(in) * 4u;
			ents[i].padding = 0;
		}
		len = sizeof(c.attach);
		break;
	}
	case 7:
		c.hdr.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING;
		c.detach.resource_id = res_id(in, raw);
		len = sizeof(c.detach);
		break;
	case 8:
		c.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO;
		c.capset_info.capset_index = fuzz_u32(in);
		len = sizeof(c.capset_info);
		break;
	case 9:
		c.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET;
		c.capset.capset_id = fuzz_u32(in);
		c.capset.capset_version = fuzz_u32(in);
		len = sizeof(c.capset);
		break;
	case 10:
		c.hdr.type = VIRTIO_GPU_CMD_GET_EDID;
		c.edid.scanout = raw ? fuzz_u32(in) : fuzz_u8(in) % 17;
		len = sizeof(c.edid);
		break;
	case 11:
		c.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID;
		c.uuid.resource_id = res_id(in, raw);
		len = sizeof(c.uuid);
		break;
	case 12:
		/* Something the 2D device does not do, of its own size. */
		c.hdr.type = other_cmds[fuzz_u8(in) % FUZZ_ARRAY_SIZE(other_cmds)];
		len = gpu_cmd_size(c.hdr.type);
		fuzz_bytes(in, c.bytes + sizeof(c.hdr), 32);
		break;
	case 13:
		c.hdr.type = fuzz_u32(in);
		len = sizeof(c.hdr) + fuzz_u8(in) % 64;
		fuzz_bytes(in, c.bytes + sizeof(c.hdr), 64);
		break;
	default:
		/* Bytes, read as whatever they say. */
		len = fuzz_u8(in) % 96;
		fuzz_bytes(in, c.bytes, len);
		break;
	}
	if (fl & 2) {
		c.hdr.flags = VIRTIO_GPU_FLAG_FENCE |
			      (fuzz_u8(in) & VIRTIO_GPU_FLAG_INFO_RING_IDX);
		c.hdr.fence_id = fuzz_u64(in);
		c.hdr.ctx_id = fuzz_u8(in);
		c.hdr.ring_idx = fuzz_u8(in);
	}

	/* The command: whole, split in two, or cut short. */
	switch ((fl >> 5) & 3) {
	case 1: {
		size_t cut = 1 + fuzz_u8(in) % (len > 1 ? len - 1 : 1);

		if (cut < len) {
			s[ns++] = (struct seg){ cmd_alloc(cut), (uint32_t)cut, false };
			gwrite(s[0].off, c.bytes, cut);
			s[ns++] = (struct seg){ cmd_alloc(len - cut),
						(uint32_t)(len - cut), false };
			gwrite(s[1].off, c.bytes + cut, len - cut);
			break;
		}
	}
		/* fall through */
	case 0:
	case 3:
		s[ns] = (struct seg){ cmd_alloc(len), (uint32_t)len, false };
		gwrite(s[ns++].off, c.bytes, len);
		break;
	case 2:
		len = fuzz_u8(in) % (len + 1);
		s[ns] = (struct seg){ cmd_alloc(len), (uint32_t)len, false };
		gwrite(s[ns++].off, c.bytes, len);
		break;
	}
	/* Backing entries: right after the command, or a descriptor of
	 * their own. */
	if (nents) {
		size_t elen = nents * sizeof(ents[0]);

		if (((fl >> 5) & 3) == 3 || ns > 1) {
			s[ns] = (struct seg){ cmd_alloc(elen), (uint32_t)elen, false };
			gwrite(s[ns++].off, ents, elen);
		} else {
			uint64_t off = cmd_alloc(s[0].len + elen);

			gwrite(off, c.bytes, s[0].len);
			gwrite(off + s[0].len, ents, elen);
			s[0].off = off;
			s[0].len += (uint32_t)elen;
		}
	}
	/* The response buffer. */
	switch ((fl >> 3) & 3) {
	case 0:
		resp = sizeof(struct virtio_gpu_resp_edid);
		break;
	case 1:
		resp = sizeof(struct virtio_gpu_ctrl_hdr);
		break;
	case 2:
		resp = fuzz_u8(in) % sizeof(struct virtio_gpu_ctrl_hdr);
		break;
	default:
		resp = 0;
		break;
	}
	if (resp)
		s[ns++] = (struct seg){ cmd_alloc(resp), resp, true };
	chain_add(&f.q[0], s, ns, fl & 0x80);
	if (fl & 1 && f.q[0].running)
		gpu_vu_ops.queue_kick(&f.g, GPU_QUEUE_CTRL);
}

static void
cursor_command(struct fuzz_in *in)
{
	uint8_t fl = fuzz_u8(in);
	bool raw = fl & 4;
	struct virtio_gpu_update_cursor c = { 0 };
	struct seg s;
	size_t len = sizeof(c);

	c.hdr.type = (fl & 8) ? fuzz_u32(in) :
		     (fl & 16) ? VIRTIO_GPU_CMD_MOVE_CURSOR :
		     VIRTIO_GPU_CMD_UPDATE_CURSOR;
	c.pos.scanout_id = raw ? fuzz_u32(in) : fuzz_u8(in) % 17;
	c.pos.x = raw ? fuzz_u32(in) : fuzz_u16(in);
	c.pos.y = raw ? fuzz_u32(in) : fuzz_u16(in);
	c.resource_id = res_id(in, raw);
	c.hot_x = fuzz_u8(in);
	c.hot_y = fuzz_u8(in);
	if (fl & 32)
		len = fuzz_u8(in) % sizeof(c);
	s = (struct seg){ cmd_alloc(len), (uint32_t)len, false };
	gwrite(s.off, &c, len);
	chain_add(&f.q[1], &s, 1, fl & 64);
	if (fl & 1 && f.q[1].running)
		gpu_vu_ops.queue_kick(&f.g, GPU_QUEUE_CURSOR);
}

/* The driver writes its ring wrong. */
static void
ring_chaos(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);
	struct fake_queue *q = &f.q[sel & 1];

	q->exact = false;
	switch ((sel >> 1) % 4) {
	case 0: {
		uint8_t m = fuzz_u8(in);
		uint64_t gpa = (m & 1) ? fuzz_u64(in) :
			       GUEST_GPA + fuzz_u32(in) % (GUEST_SIZE + 64);
		uint8_t i = fuzz_u8(in);
		uint32_t len = (m & 2) ? fuzz_u32(in) : fuzz_u16(in);
		uint16_t flags = fuzz_u16(in);
		uint16_t next = fuzz_u16(in);

		desc_write(q, i, gpa, len, flags, next);
		break;
	}
	case 1:
		avail_add(q, fuzz_u16(in));
		break;
	case 2: {
		uint16_t v = fuzz_u16(in);

		q->avail_idx = v;
		v = htole16(v);
		gwrite(q->avail + 2, &v, sizeof(v));
		break;
	}
	default: {
		uint16_t flags = htole16(fuzz_u16(in)), ev = htole16(fuzz_u16(in));

		gwrite(q->avail, &flags, sizeof(flags));
		gwrite(q->avail + 4 + 2ull * q->num, &ev, sizeof(ev));
		break;
	}
	}
}

static void
config_access(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in), buf[VU_MAX_CONFIG_SIZE];
	uint32_t offset = (sel & 1) ? fuzz_u32(in) : fuzz_u8(in) % 24;
	uint32_t len = fuzz_u16(in) % (VU_MAX_CONFIG_SIZE + 1);
	int ret;

	if (sel & 2) {
		fuzz_bytes(in, buf, len);
		ret = gpu_vu_ops.set_config(&f.g, buf, offset, len);
		FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	} else {
		ret = gpu_vu_ops.get_config(&f.g, buf, offset, len);
		FUZZ_CHECK(ret == -EINVAL || (ret >= 0 && (uint32_t)ret == len));
	}
}

static void
memory_op(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);
	struct layout l;

	switch (sel % 6) {
	case 0:		/* the same regions, mapped somewhere else */
		l.n = f.mem.n;
		for (unsigned i = 0; i < l.n; i++) {
			l.gpa[i] = f.mem.r[i].gpa;
			l.size[i] = f.mem.r[i].size;
			l.ram_off[i] = f.mem.r[i].mmap_offset;
			l.host_off[i] = (uint64_t)(f.mem.r[i].host - f.area[f.cur]);
		}
		break;
	case 1: {	/* one region, smaller */
		uint64_t size = 1 + fuzz_u32(in) % GUEST_SIZE;

		if (sel & 16)
			size = fuzz_align_up(size, 4096) < GUEST_SIZE ?
			       fuzz_align_up(size, 4096) : GUEST_SIZE;
		layout_one(&l, GUEST_GPA, size);
		break;
	}
	case 2:		/* guest RAM at another guest address: the device
			 * no longer sees what the driver wrote where */
		f.q[0].exact = f.q[1].exact = false;
		layout_one(&l, GUEST_GPA +
			   (uint64_t)((int64_t)(int16_t)fuzz_u16(in) * 4096),
			   GUEST_SIZE);
		break;
	case 3:		/* none at all */
		layout_one(&l, GUEST_GPA, 0);
		break;
	case 4:		/* back to normal */
		layout_one(&l, GUEST_GPA, GUEST_SIZE);
		break;
	default: {	/* in pieces, apart in our space, maybe with holes */
		unsigned n = 2 + fuzz_u8(in) % (MAX_SPLIT - 1);
		uint64_t chunk = GUEST_SIZE / n & ~(uint64_t)(PAGE - 1);
		uint32_t holes = (sel & 0x80) ? fuzz_u32(in) & ~1u : 0;
		uint64_t gap = (sel & 0x40) ? PAGE : 0, at = 0;

		l.n = 0;
		for (unsigned i = 0; i < n; i++) {
			uint64_t size = i + 1 < n ? chunk : GUEST_SIZE - chunk * i;

			if (!(holes & (1u << i))) {
				l.gpa[l.n] = GUEST_GPA + chunk * i;
				l.size[l.n] = size;
				l.ram_off[l.n] = chunk * i;
				l.host_off[l.n] = at;
				l.n++;
			}
			at += size + gap;
		}
		break;
	}
	}
	mem_change(&l);
}

/* ---------- the input ---------- */

static void
setup(uint8_t h)
{
	const struct gpu_options opt = { .max_hostmem = MAX_HOSTMEM };

	struct layout l;

	/* The rings and commands start from nothing; the pixels need not
	 * (they do not steer the device). */
	memset(f.drv, 0, PIX_BASE);
	if (!f.pristine) {
		area_clear(!f.cur);
		layout_one(&l, GUEST_GPA, GUEST_SIZE);
		table_set(&l, !f.cur);
		area_clear(!f.cur);
		f.pristine = true;
	}
	f.event_idx = h & 4;
	f.q[0] = (struct fake_queue){
		.num = CTRL_NUM, .desc = CTRL_DESC, .avail = CTRL_AVAIL,
		.used = CTRL_USED,
	};
	f.q[1] = (struct fake_queue){
		.num = CURSOR_NUM, .desc = CURSOR_DESC, .avail = CURSOR_AVAIL,
		.used = CURSOR_USED,
	};
	book_reset(&f.q[0]);
	book_reset(&f.q[1]);
	f.cmd_next = CMD_BASE;
	f.fd = -1;
	f.sending = f.fail_next = false;
	f.reply_owed = 0;
	f.nfds = 0;

	FUZZ_CHECK(gpu_init(&f.g, &opt, &host_ops, NULL) == 0);
	FUZZ_CHECK((gpu_vu_ops.features(&f.g) &
		    ~((1ull << VIRTIO_GPU_F_EDID) |
		      (1ull << VIRTIO_GPU_F_RESOURCE_UUID))) == 0);
	gpu_vu_ops.set_features(&f.g, ((h & 1) ? 1ull << VIRTIO_GPU_F_EDID : 0) |
				       ((h & 2) ? 1ull << VIRTIO_GPU_F_RESOURCE_UUID : 0));
	queue_start(0);
	queue_start(1);
	if (h & 8)
		set_display(false);
	turn_end();
}

static void
teardown(uint8_t h)
{
	struct layout l;

	switch ((h >> 4) & 3) {
	case 0:
		/* As core/ does when the frontend goes: reset, memory gone,
		 * display dropped, the send in flight completed, finish. */
		device_reset();
		layout_one(&l, GUEST_GPA, 0);
		mem_change(&l);
		gpu_vu_ops.set_display(&f.g, -1);
		while (f.sending)
			display_lost();
		break;
	case 1:
		/* Everything owed goes out: a bounded number of messages. */
		for (unsigned i = 0; i < 64 && f.sending; i++)
			display_sent();
		f.sending = false;
		break;
	case 2:
		device_reset();
		for (unsigned i = 0; i < 64 && f.sending; i++)
			display_sent();
		f.sending = false;
		break;
	default:
		/* Straight to gpu_finish, whatever is in flight. */
		f.sending = false;
		break;
	}
	gpu_finish(&f.g);
	if (f.fd >= 0)
		fd_close(f.fd);
	f.fd = -1;
	/* Every socket handed to the device is closed by now. */
	for (unsigned i = 0; i < f.nfds; i++)
		FUZZ_CHECK(fcntl(f.fds[i], F_GETFD) == -1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	f.ram = memfd_create("vugpu-fuzz-guest", MFD_CLOEXEC);
	if (f.ram < 0 || ftruncate(f.ram, GUEST_SIZE) < 0)
		abort();
	f.drv = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f.ram, 0);
	for (unsigned a = 0; a < 2; a++)
		f.area[a] = mmap(NULL, AREA_SIZE, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f.drv == MAP_FAILED || f.area[0] == MAP_FAILED ||
	    f.area[1] == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sp) < 0)
		abort();
	/* Warnings are what hostile input produces; keep errors only. */
	log_init(LOG_LVL_ERROR, LOG_TARGET_STDERR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t h = fuzz_u8(&in);

	setup(h);
	for (unsigned op = 0; op < MAX_OPS && !fuzz_empty(&in); op++) {
		uint8_t code = fuzz_u8(&in);

		switch (code % 16) {
		case 0:
		case 1:
		case 2:
		case 3:
			ctrl_command(&in);
			break;
		case 4:
			cursor_command(&in);
			break;
		case 5:
			if (f.q[code >> 7].running)
				gpu_vu_ops.queue_kick(&f.g, code >> 7);
			break;
		case 6:
			display_sent();
			break;
		case 7:
			/* a pipe's worth spliced, the socket full, or sends
			 * that copy (no splicing) from now on */
			if (code & 0x40)
				f.copying = !f.copying;
			else if (code & 0x20)
				f.full = false;		/* the frontend read it all */
			else if (!f.sending)
				break;
			else if (code & 0x80)
				display_prepare((uint64_t)(fuzz_u8(&in) + 1) << 12);
			else
				gpu_display_stalled(&f.g);
			break;
		case 8:
			display_reply(&in);
			break;
		case 9:
			if (code & 0x80)
				display_lost();
			else
				f.fail_next = true;
			break;
		case 10:
			set_display(code & 0x80);
			break;
		case 11:
			memory_op(&in);
			break;
		case 12:
			device_reset();
			if (!(code & 0x80)) {	/* the driver starts again */
				rings_init();
				gpu_vu_ops.set_features(&f.g, fuzz_u64(&in));
				queue_start(0);
				queue_start(1);
			}
			break;
		case 13:
			if (code & 0x40)
				queue_stop(code >> 7);
			else
				queue_start(code >> 7);
			break;
		case 14:
			ring_chaos(&in);
			break;
		default:
			if (code & 0x80)
				config_access(&in);
			else
				f.event_idx = code & 0x40;
			break;
		}
		turn_end();
	}
	teardown(h);
	return 0;
}
