/* The vhost-user control plane of the real vugpu binary, driven by tests/frontend.c as QEMU would. */
/*
 * Every test starts its own daemon and waits on events only (replies, the
 * pidfd, inotify); every wait is bounded by the frontend's timeout and the
 * suite's .timeout. Build:
 *   gcc -std=gnu11 -D_GNU_SOURCE -I. -DVUGPU_BIN=\"$PWD/build/vugpu\" \
 *       tests/integ/test_vhost_user.c tests/frontend.c proto/vu_msg.c \
 *       proto/memmap.c -lcriterion -o build/test_vhost_user
 * VUGPU_BIN in the environment overrides the binary; VUF_TRACE=1 prints
 * every message, VUF_ECHO=1 copies the daemon's stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>

#include "tests/frontend.h"
#include "tests/integ/integ.h"

#define EXIT_TIMEOUT_MS 5000
#define SUITE_TIMEOUT 30.0

#define WANT_PROTOCOL_FEATURES                                            \
	(PF(VU_PF_MQ) | PF(VU_PF_REPLY_ACK) | PF(VU_PF_BACKEND_REQ) |     \
	 PF(VU_PF_CONFIG) | PF(VU_PF_BACKEND_SEND_FD) |                   \
	 PF(VU_PF_RESET_DEVICE) | PF(VU_PF_CONFIGURE_MEM_SLOTS) |         \
	 PF(VU_PF_STATUS))

/* The daemon's exit is each test's to check: no hang-up check here. */
static void
teardown(void)
{
	vuf_finish(&F);
}

/* ---- assertions that say what the daemon wrote ---- */

#define REFUSED(expr)                                                     \
	do {                                                              \
		int r_ = (expr);                                          \
		cr_assert(r_ == -EREMOTEIO,                               \
			  "%s: expected a non-zero REPLY_ACK, got %s (%d)\n" \
			  "daemon stderr:\n%s",                           \
			  #expr, r_ < 0 ? strerror(-r_) : "a zero ack", r_, F.err); \
	} while (0)

static const char *
describe_status(int st)
{
	static char buf[64];

	if (st < 0)
		snprintf(buf, sizeof(buf), "no exit: %s", strerror(-st));
	else if (WIFEXITED(st))
		snprintf(buf, sizeof(buf), "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, sizeof(buf), "wait status 0x%x", st);
	return buf;
}

static void
expect_exit0(struct vuf *f)
{
	int st = vuf_wait_exit(f, EXIT_TIMEOUT_MS);

	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "daemon should exit 0: %s\ndaemon stderr:\n%s",
		  describe_status(st), f->err);
}

/* The daemon's open fds, once everything sent before was handled. */
static int
count_fds(void)
{
	int n;

	barrier();
	n = vuf_count_fds(&F);
	cr_assert(n > 0, "cannot read /proc/%d/fd: %s", (int)F.pid,
		  strerror(-n));
	return n;
}

static void
spawn_fd(const char *const args[])
{
	int r;

	check_binary();
	r = vuf_spawn_fd(&F, args);

	cr_assert(r == 0, "cannot start %s: %s", vuf_daemon_path(), strerror(-r));
}

/* GET_FEATURES, GET/SET_PROTOCOL_FEATURES with what we want (REPLY_ACK
 * unless told not to), no SET_OWNER. */
static void
negotiate_pf(struct vuf *f, uint64_t drop)
{
	uint64_t pf;

	OK(vuf_get_u64(f, VU_GET_FEATURES, &f->features));
	cr_assert(f->features & PF(VU_F_PROTOCOL_FEATURES));
	OK(vuf_get_u64(f, VU_GET_PROTOCOL_FEATURES, &pf));
	pf &= ~drop;
	OK(vuf_set_u64(f, VU_SET_PROTOCOL_FEATURES, 0, pf));
	f->protocol_features = pf;
	f->reply_ack = pf & PF(VU_PF_REPLY_ACK);
}

/* A daemon on --fd, negotiated and owned: the start of most tests. */
static void
start_owned(void)
{
	spawn_fd(NULL);
	negotiate_pf(&F, 0);
	OK(vuf_request(&F, VU_SET_OWNER, VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0));
}

/* Guest memory in three disjoint 4 MiB pieces of one 12 MiB memfd:
 * regions 0 and 1 like QEMU's RAM below and above 4 GiB, region 2 spare
 * for ADD_MEM_REG. */
static void
mem3(struct vuf *f)
{
	OK(vuf_mem_create(f, 12u << 20));
	OK(vuf_mem_add_region(f, 0, 0, 4u << 20));
	OK(vuf_mem_add_region(f, 0x100000000ull, 4u << 20, 4u << 20));
	OK(vuf_mem_add_region(f, 0x200000000ull, 8u << 20, 4u << 20));
	f->mem.n = 2;	/* region 2 is described but not in the table */
}

static int
send_mem_single(struct vuf *f, uint32_t request, struct vu_mem_region r,
		bool with_fd)
{
	struct vu_mem_single m = { .region = r };

	return vuf_request(f, request, VU_FLAG_NEED_REPLY, &m, sizeof(m),
			   with_fd ? &f->mem.fd : NULL, with_fd ? 1 : 0);
}

/* ---- the command line ---- */

TestSuite(cli, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

/* A small JSON checker: the whole text is one value. */
struct json {
	const char *p;
	int depth;
};

static void
json_ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool json_value(struct json *j);

static bool
json_string(struct json *j, char *out, size_t cap)
{
	size_t n = 0;

	if (*j->p != '"')
		return false;
	j->p++;
	while (*j->p != '"') {
		char c = *j->p;

		if ((unsigned char)c < 0x20)
			return false;
		if (c == '\\') {
			j->p++;
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", j->p[i]) ||
					    !j->p[i])
						return false;
				j->p += 4;
				c = '?';
			} else if (*j->p && strchr("\"\\/bfnrt", *j->p)) {
				c = *j->p;
			} else {
				return false;
			}
		}
		if (out && n + 1 < cap)
			out[n++] = c;
		j->p++;
	}
	j->p++;
	if (out && cap)
		out[n] = '\0';
	return true;
}

static bool
json_number(struct json *j)
{
	const char *s = j->p;

	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!(*j->p >= '0' && *j->p <= '9'))
			return false;
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!(*j->p >= '0' && *j->p <= '9'))
			return false;
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > s;
}

static bool
json_value(struct json *j)
{
	bool ok = false;

	if (++j->depth > 64)
		return false;
	json_ws(j);
	switch (*j->p) {
	case '{':
		j->p++;
		json_ws(j);
		if (*j->p == '}') {
			j->p++;
			ok = true;
			break;
		}
		for (;;) {
			json_ws(j);
			if (!json_string(j, NULL, 0))
				goto out;
			json_ws(j);
			if (*j->p++ != ':' || !json_value(j))
				goto out;
			json_ws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != '}')
				goto out;
			break;
		}
		ok = true;
		break;
	case '[':
		j->p++;
		json_ws(j);
		if (*j->p == ']') {
			j->p++;
			ok = true;
			break;
		}
		for (;;) {
			if (!json_value(j))
				goto out;
			json_ws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != ']')
				goto out;
			break;
		}
		ok = true;
		break;
	case '"':
		ok = json_string(j, NULL, 0);
		break;
	case 't':
		ok = strncmp(j->p, "true", 4) == 0 && (j->p += 4);
		break;
	case 'f':
		ok = strncmp(j->p, "false", 5) == 0 && (j->p += 5);
		break;
	case 'n':
		ok = strncmp(j->p, "null", 4) == 0 && (j->p += 4);
		break;
	default:
		ok = json_number(j);
		break;
	}
out:
	j->depth--;
	return ok;
}

static bool
json_valid(const char *text)
{
	struct json j = { .p = text };

	if (!json_value(&j))
		return false;
	json_ws(&j);
	return *j.p == '\0';
}

/* The string value of a top-level key of an object, "" when absent. */
static void
json_top_string(const char *text, const char *key, char *out, size_t cap)
{
	struct json j = { .p = text };
	char k[64];

	out[0] = '\0';
	json_ws(&j);
	if (*j.p++ != '{')
		return;
	for (;;) {
		json_ws(&j);
		if (!json_string(&j, k, sizeof(k)))
			return;
		json_ws(&j);
		if (*j.p++ != ':')
			return;
		json_ws(&j);
		if (strcmp(k, key) == 0 && *j.p == '"') {
			json_string(&j, out, cap);
			return;
		}
		if (!json_value(&j))
			return;
		json_ws(&j);
		if (*j.p++ != ',')
			return;
	}
}

Test(cli, json_checker_self_test)
{
	char v[16];

	cr_assert(json_valid("{\"type\": \"gpu\", \"features\": [\"a\", \"b\"]}\n"));
	cr_assert(json_valid("[1, -2.5e3, true, false, null, {}, []]"));
	cr_assert(!json_valid("{\"type\": \"gpu\",}"));
	cr_assert(!json_valid("{\"type\" \"gpu\"}"));
	cr_assert(!json_valid("{\"type\": \"gpu\"} x"));
	json_top_string("{\"features\": [\"x\"], \"type\": \"gpu\"}", "type", v,
			sizeof(v));
	cr_assert_str_eq(v, "gpu");
}

static void
check_capabilities(const char *opt)
{
	const char *args[] = { opt, NULL };
	char out[4096], err[4096], type[32];
	int st;

	check_binary();
	st = vuf_run(args, out, sizeof(out), err, sizeof(err), EXIT_TIMEOUT_MS);

	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "%s: %s\nstderr: %s", opt, describe_status(st), err);
	cr_assert(json_valid(out), "%s: not one JSON value: \"%s\"", opt, out);
	json_top_string(out, "type", type, sizeof(type));
	cr_assert_str_eq(type, "gpu", "%s: \"type\" should be \"gpu\": %s", opt,
			 out);
	cr_assert(strstr(out, "\"features\""), "%s: no features list: %s", opt,
		  out);
}

Test(cli, print_capabilities_is_json_of_type_gpu)
{
	check_capabilities("--print-capabilities");
	check_capabilities("-c");
}

Test(cli, version)
{
	const char *args[] = { "-V", NULL };
	char out[1024], err[1024];
	int st;

	check_binary();
	st = vuf_run(args, out, sizeof(out), err, sizeof(err), EXIT_TIMEOUT_MS);

	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "-V: %s\nstderr: %s", describe_status(st), err);
	cr_assert(strpbrk(out, "0123456789") || strpbrk(err, "0123456789"),
		  "-V printed no version: stdout \"%s\" stderr \"%s\"", out, err);
}

Test(cli, help)
{
	const char *args[] = { "-h", NULL };
	char out[8192], err[8192];
	int st;

	check_binary();
	st = vuf_run(args, out, sizeof(out), err, sizeof(err), EXIT_TIMEOUT_MS);

	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "-h: %s\nstderr: %s", describe_status(st), err);
	cr_assert(strstr(out, "--socket-path") || strstr(err, "--socket-path"),
		  "-h does not mention --socket-path");
}

static void
check_usage_error(const char *what, const char *const args[])
{
	char out[4096], err[4096];
	const char *nl;
	size_t len;
	int st;

	check_binary();
	st = vuf_run(args, out, sizeof(out), err, sizeof(err), EXIT_TIMEOUT_MS);
	len = strlen(err);
	nl = strchr(err, '\n');

	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2,
		  "%s: expected exit status 2, got %s\nstderr: %s", what,
		  describe_status(st), err);
	cr_assert(len > 1 && nl == err + len - 1,
		  "%s: expected exactly one line on stderr, got \"%s\"", what, err);
}

Test(cli, usage_errors_exit_2_with_one_line)
{
	static const char *const bad_option[] = { "--no-such-option", NULL };
	static const char *const neither[] = { "--log-level", "error", NULL };
	static const char *const nothing[] = { NULL };
	static const char *const both[] = { "--fd", "3", "--socket-path",
					    "/nonexistent/vugpu.sock", NULL };

	check_usage_error("unknown option", bad_option);
	check_usage_error("neither --fd nor --socket-path", neither);
	check_usage_error("no arguments", nothing);
	check_usage_error("both --fd and --socket-path", both);
}

/* ---- QEMU's handshakes ---- */

TestSuite(handshake, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

static void
check_negotiated(struct vuf *f)
{
	cr_assert(f->features & PF(VIRTIO_F_VERSION_1),
		  "features 0x%llx lack VERSION_1", (unsigned long long)f->features);
	cr_assert(f->features & PF(VU_F_PROTOCOL_FEATURES));
	cr_assert((f->protocol_features & WANT_PROTOCOL_FEATURES) ==
		  WANT_PROTOCOL_FEATURES,
		  "protocol features 0x%llx lack 0x%llx",
		  (unsigned long long)f->protocol_features,
		  (unsigned long long)(WANT_PROTOCOL_FEATURES &
				       ~f->protocol_features));
	cr_assert_eq(f->queue_num, 2);
	cr_assert_eq(f->max_mem_slots, 509);
	cr_assert(f->display_fd >= 0);
	cr_assert(f->backend_fd >= 0);
}

/*
 * The whole life of a vhost-user-gpu-pci device as one QEMU version sees
 * it: realize, probe, DRIVER_OK, a guest reboot (stop and start again with
 * a new display socket), then QEMU going away.
 */
static void
qemu_life(enum vuf_qemu v, bool socket_path, const char *const args[])
{
	int before, after;

	if (socket_path) {
		check_binary();
		OK(vuf_spawn_path(&F, args));
	} else {
		spawn_fd(args);
	}

	OK(vuf_qemu_handshake(&F, v));
	check_negotiated(&F);
	before = count_fds();

	OK(vuf_qemu_stop(&F, v));
	cr_assert_eq(F.vq[0].base, 0, "GET_VRING_BASE 0 answered %u", F.vq[0].base);
	cr_assert_eq(F.vq[1].base, 0, "GET_VRING_BASE 1 answered %u", F.vq[1].base);
	OK(vuf_qemu_start(&F, v));
	after = count_fds();
	cr_assert_eq(after, before,
		     "the daemon held %d fds after the first start and %d after "
		     "a stop/start cycle", before, after);
	OK(vuf_serve(&F));

	vuf_hangup(&F);
	expect_exit0(&F);
	if (socket_path) {
		struct stat st;

		cr_assert(stat(F.path, &st) < 0 && errno == ENOENT,
			  "%s still exists after the daemon exited", F.path);
	}
}

Test(handshake, qemu_7_2_over_fd)
{
	qemu_life(VUF_QEMU_7_2, false, NULL);
}

Test(handshake, qemu_10_0_over_fd)
{
	qemu_life(VUF_QEMU_10_0, false, NULL);
}

Test(handshake, qemu_7_2_over_socket_path)
{
	qemu_life(VUF_QEMU_7_2, true, NULL);
}

Test(handshake, qemu_10_0_over_socket_path)
{
	qemu_life(VUF_QEMU_10_0, true, NULL);
}

/* libvirt passes --virgl even for 2D, on hosts without a GPU too. */
Test(handshake, qemu_10_0_with_virgl_option)
{
	static const char *const args[] = { "--virgl", "--log-level", "debug",
					     NULL };

	qemu_life(VUF_QEMU_10_0, false, args);
}

Test(handshake, features_and_limits)
{
	uint64_t v;

	spawn_fd(NULL);
	OK(vuf_get_u64(&F, VU_GET_FEATURES, &v));
	cr_assert(v & PF(VIRTIO_F_VERSION_1), "GET_FEATURES 0x%llx",
		  (unsigned long long)v);
	cr_assert(v & PF(VU_F_PROTOCOL_FEATURES), "GET_FEATURES 0x%llx",
		  (unsigned long long)v);
	OK(vuf_get_u64(&F, VU_GET_PROTOCOL_FEATURES, &v));
	cr_assert((v & WANT_PROTOCOL_FEATURES) == WANT_PROTOCOL_FEATURES,
		  "GET_PROTOCOL_FEATURES 0x%llx lacks 0x%llx",
		  (unsigned long long)v,
		  (unsigned long long)(WANT_PROTOCOL_FEATURES & ~v));
	OK(vuf_set_u64(&F, VU_SET_PROTOCOL_FEATURES, 0, v));
	OK(vuf_get_u64(&F, VU_GET_QUEUE_NUM, &v));
	cr_assert_eq(v, 2);
	OK(vuf_get_u64(&F, VU_GET_MAX_MEM_SLOTS, &v));
	cr_assert_eq(v, 509);
	OK(vuf_get_u64(&F, VU_GET_STATUS, &v));
	cr_assert_eq(v, 0, "a new device has status 0, not 0x%llx",
		     (unsigned long long)v);
	OK(vuf_set_u64(&F, VU_SET_STATUS, VU_FLAG_NEED_REPLY,
		       VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK));
	OK(vuf_get_u64(&F, VU_GET_STATUS, &v));
	cr_assert_eq(v, 0xf, "GET_STATUS after SET_STATUS 0xf: 0x%llx",
		     (unsigned long long)v);
	vuf_hangup(&F);
	expect_exit0(&F);
}

/* The exact reply header: flags VERSION | REPLY, same request. */
Test(handshake, reply_headers)
{
	static const uint32_t gets[] = { VU_GET_FEATURES, VU_GET_PROTOCOL_FEATURES,
					 VU_GET_QUEUE_NUM, VU_GET_MAX_MEM_SLOTS,
					 VU_GET_STATUS };
	struct vu_hdr h;
	uint64_t v;

	spawn_fd(NULL);
	negotiate_pf(&F, 0);
	for (unsigned i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
		OK(vuf_send(&F, gets[i], 0, NULL, 0, NULL, 0));
		cr_assert_eq(vuf_recv(&F, &h, &v, sizeof(v), NULL, NULL, -1), 8);
		cr_assert_eq(h.request, gets[i]);
		cr_assert_eq(h.flags, VU_VERSION | VU_FLAG_REPLY,
			     "%s reply flags 0x%x", vuf_req_name(gets[i]), h.flags);
		cr_assert_eq(h.size, 8);
	}
}

/* ---- REPLY_ACK ---- */

TestSuite(reply_ack, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

Test(reply_ack, zero_for_good_requests)
{
	struct vu_hdr h;
	uint64_t ack = 1;

	spawn_fd(NULL);
	negotiate_pf(&F, 0);
	cr_assert(F.reply_ack);

	/* the raw reply once, then through vuf_request */
	OK(vuf_send(&F, VU_SET_OWNER, VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0));
	cr_assert_eq(vuf_recv(&F, &h, &ack, sizeof(ack), NULL, NULL, -1), 8);
	cr_assert_eq(h.request, VU_SET_OWNER);
	cr_assert_eq(h.flags, VU_VERSION | VU_FLAG_REPLY, "ack flags 0x%x", h.flags);
	cr_assert_eq(ack, 0, "SET_OWNER acked %llu", (unsigned long long)ack);

	OK(vuf_set_u64(&F, VU_SET_FEATURES, VU_FLAG_NEED_REPLY,
		       F.features & (PF(VIRTIO_F_VERSION_1) |
				     PF(VU_F_PROTOCOL_FEATURES))));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 0, 256));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 1, 16));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, 0, 0));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, -1));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, -1));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_ERR, VU_FLAG_NEED_REPLY, 0, -1));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 1));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 0));
	OK(vuf_set_u64(&F, VU_SET_STATUS, VU_FLAG_NEED_REPLY,
		       VIRTIO_CONFIG_S_ACKNOWLEDGE));
	OK(vuf_set_backend_req_fd(&F, VU_FLAG_NEED_REPLY));
	OK(vuf_gpu_set_socket(&F, VU_FLAG_NEED_REPLY));
	OK(vuf_request(&F, VU_RESET_DEVICE, VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0));
	barrier();
}

Test(reply_ack, non_zero_for_a_bad_request)
{
	struct vhost_vring_state s = { .index = 0, .num = 3 };
	struct vu_hdr h;
	uint64_t ack = 0;

	spawn_fd(NULL);
	negotiate_pf(&F, 0);
	OK(vuf_send(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, &s, sizeof(s),
		    NULL, 0));
	cr_assert_eq(vuf_recv(&F, &h, &ack, sizeof(ack), NULL, NULL, -1), 8);
	cr_assert_eq(h.request, VU_SET_VRING_NUM);
	cr_assert_eq(h.flags, VU_VERSION | VU_FLAG_REPLY, "ack flags 0x%x", h.flags);
	cr_assert_neq(ack, 0, "SET_VRING_NUM 3 was acked with 0");
	barrier();
}

/* No NEED_REPLY: no ack, good or bad; the next reply is the barrier's. */
Test(reply_ack, silent_without_need_reply)
{
	spawn_fd(NULL);
	negotiate_pf(&F, 0);
	OK(vuf_request(&F, VU_SET_OWNER, 0, NULL, 0, NULL, 0));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, 0, 0, 256));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, 0, 0, 3));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, 0, 5, 256));
	barrier();
}

/* REPLY_ACK not negotiated: NEED_REPLY is ignored. */
Test(reply_ack, silent_when_not_negotiated)
{
	spawn_fd(NULL);
	negotiate_pf(&F, PF(VU_PF_REPLY_ACK));
	OK(vuf_send(&F, VU_SET_OWNER, VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0));
	OK(vuf_send(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY,
		    &(struct vhost_vring_state){ .index = 0, .num = 3 },
		    sizeof(struct vhost_vring_state), NULL, 0));
	barrier();
}

/* ---- guest memory ---- */

TestSuite(memory, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

Test(memory, table_of_two_regions_translates_both)
{
	start_owned();
	OK(vuf_default_memory(&F));
	OK(vuf_mem_set_table(&F, VU_FLAG_NEED_REPLY));
	/* ring 0 in the region at 0, ring 1 in the one at 4 GiB */
	for (unsigned i = 0; i < 2; i++) {
		struct vuf_vq *vq = &F.vq[i];

		OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, i,
				       vq->num));
		OK(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, i,
				      vuf_gpa_to_uva(&F, vq->desc_gpa),
				      vuf_gpa_to_uva(&F, vq->avail_gpa),
				      vuf_gpa_to_uva(&F, vq->used_gpa), vq->used_gpa));
	}
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(memory, add_and_remove_a_region_with_and_without_fd)
{
	struct vu_mem_region r2;
	int base;

	start_owned();
	mem3(&F);
	OK(vuf_mem_set_table(&F, VU_FLAG_NEED_REPLY));
	F.mem.n = 3;
	r2 = vuf_mem_region_msg(&F, 2);
	base = count_fds();

	/* QEMU: REM_MEM_REG without an fd */
	OK(vuf_mem_add_reg(&F, 2, VU_FLAG_NEED_REPLY));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 0, 16));
	OK(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0, r2.userspace_addr,
			      r2.userspace_addr + 256, r2.userspace_addr + 4096,
			      r2.guest_phys_addr + 4096));
	OK(vuf_mem_rem_reg(&F, 2, VU_FLAG_NEED_REPLY, false));
	cr_assert_eq(count_fds(), base, "fds leaked by ADD/REM_MEM_REG");

	/* libvhost-user's reading: REM_MEM_REG with an fd */
	OK(vuf_mem_add_reg(&F, 2, VU_FLAG_NEED_REPLY));
	OK(vuf_mem_rem_reg(&F, 2, VU_FLAG_NEED_REPLY, true));
	cr_assert_eq(count_fds(), base, "fds leaked by REM_MEM_REG with an fd");

	/* the region is gone: a ring there is refused */
	REFUSED(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0, r2.userspace_addr,
				   r2.userspace_addr + 256,
				   r2.userspace_addr + 4096,
				   r2.guest_phys_addr + 4096));
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(memory, add_mem_reg_from_nothing_as_qemu_does)
{
	start_owned();
	OK(vuf_default_memory(&F));
	OK(vuf_mem_add_reg(&F, 0, VU_FLAG_NEED_REPLY));
	OK(vuf_mem_add_reg(&F, 1, VU_FLAG_NEED_REPLY));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 1, 16));
	OK(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 1,
			      vuf_gpa_to_uva(&F, F.vq[1].desc_gpa),
			      vuf_gpa_to_uva(&F, F.vq[1].avail_gpa),
			      vuf_gpa_to_uva(&F, F.vq[1].used_gpa),
			      F.vq[1].used_gpa));
	barrier();
}

/* Regions the daemon must refuse, offered with ADD_MEM_REG next to the
 * two-region table of mem3(). */
struct bad_region {
	const char *what;
	uint64_t gpa, size, offset;
	int64_t uva_delta;	/* added to base + offset */
};

static const struct bad_region bad_regions[] = {
	{ "zero size", 0x300000000ull, 0, 8u << 20, 0 },
	{ "gpa overlaps region 0", 0x1000, 1u << 20, 8u << 20, 0 },
	{ "gpa overlaps region 1 from below", 0xfff00000ull, 2u << 20, 8u << 20, 0 },
	{ "uva overlaps region 0", 0x300000000ull, 1u << 20, 8u << 20,
	  -(int64_t)(8u << 20) },
	{ "gpa + size wraps", 0xfffffffffffff000ull, 0x2000, 8u << 20, 0 },
	{ "uva + size wraps", 0x300000000ull, 0x2000, 8u << 20, INT64_MIN },
	{ "mmap_offset + size wraps", 0x300000000ull, 0x2000,
	  0xfffffffffffff000ull, 0 },
	{ "past the end of the memfd", 0x300000000ull, 8u << 20, 8u << 20, 0 },
	{ "offset past the end of the memfd", 0x300000000ull, 4096, 64u << 20, 0 },
};

static struct vu_mem_region
bad_region_msg(const struct bad_region *b)
{
	uint64_t uva = (uint64_t)(uintptr_t)F.mem.base + b->offset;

	if (b->uva_delta == INT64_MIN)
		uva = 0xfffffffffffff000ull;
	else
		uva += (uint64_t)b->uva_delta;
	return (struct vu_mem_region){
		.guest_phys_addr = b->gpa,
		.memory_size = b->size,
		.userspace_addr = uva,
		.mmap_offset = b->offset,
	};
}

Test(memory, bad_regions_refused_without_leaking_fds)
{
	int base;

	start_owned();
	mem3(&F);
	OK(vuf_mem_set_table(&F, VU_FLAG_NEED_REPLY));
	base = count_fds();
	for (unsigned i = 0; i < sizeof(bad_regions) / sizeof(bad_regions[0]); i++) {
		const struct bad_region *b = &bad_regions[i];
		int r = send_mem_single(&F, VU_ADD_MEM_REG, bad_region_msg(b), true);

		cr_assert_eq(r, -EREMOTEIO, "ADD_MEM_REG %s: expected a refusal, "
			     "got %d (%s)\ndaemon stderr:\n%s", b->what, r,
			     r ? strerror(-r) : "a zero ack", F.err);
		cr_assert_eq(count_fds(), base, "ADD_MEM_REG %s leaked an fd",
			     b->what);
	}
	/* the table is intact: a ring in region 1 is still fine */
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 0, 16));
	OK(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0,
			      vuf_gpa_to_uva(&F, 0x100000000ull),
			      vuf_gpa_to_uva(&F, 0x100000100ull),
			      vuf_gpa_to_uva(&F, 0x100001000ull), 0x100001000ull));
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(memory, bad_tables_refused_without_leaking_fds)
{
	struct vu_mem_table t = { .nregions = 3 };
	int fds[3];
	int base;

	start_owned();
	mem3(&F);
	fds[0] = fds[1] = fds[2] = F.mem.fd;
	base = count_fds();
	for (unsigned i = 0; i < sizeof(bad_regions) / sizeof(bad_regions[0]); i++) {
		const struct bad_region *b = &bad_regions[i];
		int r;

		/* regions 0 and 1 plus the bad one */
		t.nregions = 3;
		t.regions[0] = vuf_mem_region_msg(&F, 0);
		t.regions[1] = vuf_mem_region_msg(&F, 1);
		t.regions[2] = bad_region_msg(b);
		r = vuf_request(&F, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t,
				8 + 3 * sizeof(t.regions[0]), fds, 3);
		cr_assert_eq(r, -EREMOTEIO, "SET_MEM_TABLE with %s: expected a "
			     "refusal, got %d\ndaemon stderr:\n%s", b->what, r,
			     F.err);
		cr_assert_eq(count_fds(), base, "SET_MEM_TABLE with %s leaked",
			     b->what);
	}
	/* one region, two fds / two regions, one fd / no region */
	t.nregions = 1;
	REFUSED(vuf_request(&F, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t,
			    8 + sizeof(t.regions[0]), fds, 2));
	t.nregions = 2;
	REFUSED(vuf_request(&F, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t,
			    8 + 2 * sizeof(t.regions[0]), fds, 1));
	t.nregions = 0;
	REFUSED(vuf_request(&F, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t, 8,
			    NULL, 0));
	cr_assert_eq(count_fds(), base);
	/* and the good table still goes through */
	OK(vuf_mem_set_table(&F, VU_FLAG_NEED_REPLY));
	vuf_hangup(&F);
	expect_exit0(&F);
}

/* ---- vrings ---- */

TestSuite(vring, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

Test(vring, num)
{
	static const struct {
		unsigned index, num;
		bool ok;
	} cases[] = {
		{ 0, 256, true }, { 1, 16, true }, { 0, 1024, true }, { 0, 1, true },
		{ 0, 0, false }, { 0, 3, false }, { 0, 1000, false },
		{ 0, 2048, false }, { 0, 65536, false }, { 2, 256, false },
		{ 255, 256, false },
	};

	start_owned();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY,
					    cases[i].index, cases[i].num);

		cr_assert_eq(r, cases[i].ok ? 0 : -EREMOTEIO,
			     "SET_VRING_NUM index %u num %u: %d (%s)", cases[i].index,
			     cases[i].num, r, r ? strerror(-r) : "ack 0");
	}
	barrier();
}

Test(vring, addr_must_lie_in_mapped_memory)
{
	uint64_t top;

	start_owned();
	OK(vuf_default_memory(&F));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 0, 256));

	/* nothing mapped yet */
	REFUSED(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0,
				   vuf_gpa_to_uva(&F, F.vq[0].desc_gpa),
				   vuf_gpa_to_uva(&F, F.vq[0].avail_gpa),
				   vuf_gpa_to_uva(&F, F.vq[0].used_gpa), 0));
	OK(vuf_mem_set_table(&F, VU_FLAG_NEED_REPLY));
	/* addresses nobody mapped */
	REFUSED(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0, 0x1000, 0x2000,
				   0x3000, 0));
	/* the desc table runs past the end of region 1, the last one */
	top = vuf_gpa_to_uva(&F, VUF_REGION1_GPA) + VUF_DEFAULT_MEM / 2;
	REFUSED(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0, top - 16,
				   vuf_gpa_to_uva(&F, F.vq[0].avail_gpa),
				   vuf_gpa_to_uva(&F, F.vq[0].used_gpa), 0));
	/* the used ring starts outside */
	REFUSED(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0,
				   vuf_gpa_to_uva(&F, F.vq[0].desc_gpa),
				   vuf_gpa_to_uva(&F, F.vq[0].avail_gpa), top + 4096,
				   0));
	/* index 2 */
	REFUSED(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 2,
				   vuf_gpa_to_uva(&F, F.vq[0].desc_gpa),
				   vuf_gpa_to_uva(&F, F.vq[0].avail_gpa),
				   vuf_gpa_to_uva(&F, F.vq[0].used_gpa), 0));
	/* inside */
	OK(vuf_set_vring_addr(&F, VU_FLAG_NEED_REPLY, 0,
			      vuf_gpa_to_uva(&F, F.vq[0].desc_gpa),
			      vuf_gpa_to_uva(&F, F.vq[0].avail_gpa),
			      vuf_gpa_to_uva(&F, F.vq[0].used_gpa),
			      F.vq[0].used_gpa));
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(vring, kick_call_err_fds)
{
	uint64_t u;
	int efd, base;

	start_owned();
	base = count_fds();
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, -1));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, -1));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_ERR, VU_FLAG_NEED_REPLY, 0, -1));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 1, -1));

	/* no fd and no NOFD flag */
	u = 0;
	REFUSED(vuf_request(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, &u,
			    sizeof(u), NULL, 0));
	REFUSED(vuf_request(&F, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, &u,
			    sizeof(u), NULL, 0));

	efd = eventfd(0, EFD_CLOEXEC);
	cr_assert(efd >= 0);
	/* index 2, and an fd next to the NOFD flag */
	REFUSED(vuf_set_vring_fd(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 2, efd));
	u = VU_VRING_NOFD;
	REFUSED(vuf_request(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, &u,
			    sizeof(u), &efd, 1));
	cr_assert_eq(count_fds(), base, "refused KICK fds were kept");

	/* real eventfds are taken, and replacing them does not leak */
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, efd));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, efd));
	base = count_fds();
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, efd));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, efd));
	cr_assert_eq(count_fds(), base, "replaced KICK/CALL fds were kept");
	close(efd);
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(vring, base_round_trip)
{
	struct vhost_vring_state s = { .index = 2 };
	struct vu_hdr h;
	unsigned num;

	start_owned();
	OK(vuf_set_vring_state(&F, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, 0, 42));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, 1, 7));
	OK(vuf_get_vring_base(&F, 0, &num));
	cr_assert_eq(num, 42, "GET_VRING_BASE 0 after SET_VRING_BASE 42: %u", num);
	OK(vuf_get_vring_base(&F, 1, &num));
	cr_assert_eq(num, 7, "GET_VRING_BASE 1 after SET_VRING_BASE 7: %u", num);
	REFUSED(vuf_set_vring_state(&F, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, 2, 1));

	/* GET_VRING_BASE of index 2: an empty reply */
	OK(vuf_send(&F, VU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0));
	cr_assert_eq(vuf_recv(&F, &h, &s, sizeof(s), NULL, NULL, -1), 0,
		     "GET_VRING_BASE index 2 should get a zero-size reply");
	cr_assert_eq(h.request, VU_GET_VRING_BASE);
	cr_assert_eq(h.flags, VU_VERSION | VU_FLAG_REPLY);
	barrier();
}

Test(vring, enable)
{
	start_owned();
	OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 1));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 1, 1));
	OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 1, 0));
	REFUSED(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 2,
				    1));
	barrier();
}

/* ---- config space ---- */

TestSuite(config, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

Test(config, one_scanout_no_capsets)
{
	struct virtio_gpu_config cfg;

	start_owned();
	cr_assert_eq(vuf_get_config(&F, 0, sizeof(cfg), &cfg), (int)sizeof(cfg));
	cr_assert_eq(cfg.num_scanouts, 1, "num_scanouts %u", cfg.num_scanouts);
	cr_assert_eq(cfg.num_capsets, 0, "num_capsets %u", cfg.num_capsets);
	barrier();
}

Test(config, out_of_range_gets_an_empty_reply)
{
	static const struct {
		uint32_t offset, size;
	} cases[] = {
		{ 0, 20 }, { 8, 16 }, { 16, 4 }, { 0xfffffffc, 8 },
		{ 0xffffffff, 16 }, { 0, 256 },
	};
	struct {
		struct vu_config_hdr h;
		uint8_t data[300];
	} msg = { .h = { .offset = 0, .size = 300 } };
	struct vu_hdr h;
	uint8_t buf[512];

	start_owned();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = vuf_get_config(&F, cases[i].offset, cases[i].size, buf);

		cr_assert_eq(r, -ENODATA, "GET_CONFIG offset %u size %u: %d",
			     cases[i].offset, cases[i].size, r);
	}
	/* size above VHOST_USER_MAX_CONFIG_SIZE, payload consistent with it */
	OK(vuf_send(&F, VU_GET_CONFIG, 0, &msg, sizeof(msg), NULL, 0));
	cr_assert_eq(vuf_recv(&F, &h, buf, sizeof(buf), NULL, NULL, -1), 0,
		     "GET_CONFIG of 300 bytes should get a zero-size reply");
	cr_assert_eq(h.request, VU_GET_CONFIG);
	barrier();
}

/* ---- malformed messages: every request, three ways ---- */

enum variant {
	TOO_SHORT,
	TOO_LONG,
	EXTRA_FD,
	MISSING_FD,
};

static const char *const variant_names[] = {
	[TOO_SHORT] = "too short",
	[TOO_LONG] = "too long",
	[EXTRA_FD] = "extra fd",
	[MISSING_FD] = "missing fd",
};

/* The well-formed shape of each request the daemon handles. */
struct shape {
	uint32_t request;
	uint32_t size;
	uint8_t nfds;
};

static const struct shape shapes[] = {
	{ VU_GET_FEATURES, 0, 0 },
	{ VU_SET_FEATURES, 8, 0 },
	{ VU_GET_PROTOCOL_FEATURES, 0, 0 },
	{ VU_SET_PROTOCOL_FEATURES, 8, 0 },
	{ VU_SET_OWNER, 0, 0 },
	{ VU_RESET_OWNER, 0, 0 },
	{ VU_SET_MEM_TABLE, 8 + 32, 1 },
	{ VU_ADD_MEM_REG, 40, 1 },
	{ VU_REM_MEM_REG, 40, 0 },
	{ VU_GET_MAX_MEM_SLOTS, 0, 0 },
	{ VU_SET_VRING_NUM, 8, 0 },
	{ VU_SET_VRING_ADDR, 40, 0 },
	{ VU_SET_VRING_BASE, 8, 0 },
	{ VU_GET_VRING_BASE, 8, 0 },
	{ VU_SET_VRING_KICK, 8, 1 },
	{ VU_SET_VRING_CALL, 8, 1 },
	{ VU_SET_VRING_ERR, 8, 1 },
	{ VU_SET_VRING_ENABLE, 8, 0 },
	{ VU_GET_QUEUE_NUM, 0, 0 },
	{ VU_GET_CONFIG, 12 + 16, 0 },
	{ VU_SET_CONFIG, 12 + 16, 0 },
	{ VU_GPU_SET_SOCKET, 0, 1 },
	{ VU_SET_BACKEND_REQ_FD, 0, 1 },
	{ VU_RESET_DEVICE, 0, 0 },
	{ VU_GET_STATUS, 0, 0 },
	{ VU_SET_STATUS, 8, 0 },
};

struct bad_case {
	struct shape shape;
	enum variant v;
};

static struct bad_case bad_cases[sizeof(shapes) / sizeof(shapes[0]) * 4];

ParameterizedTestParameters(malformed, refused_and_alive)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct shape *s = &shapes[i];

		if (s->size >= 4)
			bad_cases[n++] = (struct bad_case){ *s, TOO_SHORT };
		bad_cases[n++] = (struct bad_case){ *s, TOO_LONG };
		bad_cases[n++] = (struct bad_case){ *s, EXTRA_FD };
		if (s->nfds > 0)
			bad_cases[n++] = (struct bad_case){ *s, MISSING_FD };
	}
	return cr_make_param_array(struct bad_case, bad_cases, n);
}

/* Room for any payload of the table, aligned for the structs. */
union payload {
	uint8_t bytes[512];
	struct vu_mem_table table;
	uint64_t u64;
};

/* A payload that would be fine in the shape's size. */
static void
good_payload(const struct shape *s, union payload *u)
{
	uint8_t *p = u->bytes;

	memset(u, 0, sizeof(*u));
	switch (s->request) {
	case VU_SET_MEM_TABLE: {
		struct vu_mem_table *t = (void *)p;

		t->nregions = 1;
		t->regions[0] = vuf_mem_region_msg(&F, 0);
		break;
	}
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG: {
		struct vu_mem_single *m = (void *)p;

		m->region = vuf_mem_region_msg(&F, 0);
		break;
	}
	case VU_SET_VRING_NUM: {
		struct vhost_vring_state *st = (void *)p;

		st->num = 256;
		break;
	}
	case VU_GET_CONFIG:
	case VU_SET_CONFIG: {
		struct vu_config_hdr *h = (void *)p;

		h->size = 16;
		break;
	}
	case VU_SET_FEATURES: {
		uint64_t f = PF(VIRTIO_F_VERSION_1) | PF(VU_F_PROTOCOL_FEATURES);

		memcpy(p, &f, sizeof(f));
		break;
	}
	default:
		break;
	}
}

ParameterizedTest(struct bad_case *c, malformed, refused_and_alive,
		  .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT)
{
	const struct shape *s = &c->shape;
	const char *name = vuf_req_name(s->request);
	union payload payload;
	int fds[4];
	uint32_t size = s->size;
	unsigned nfds = s->nfds;
	bool own_reply = vuf_req_has_reply(s->request);
	struct vu_hdr h;
	uint8_t reply[512];
	int base, r;

	start_owned();
	OK(vuf_mem_create(&F, 1u << 20));
	OK(vuf_mem_add_region(&F, 0, 0, 1u << 20));
	good_payload(s, &payload);

	switch (c->v) {
	case TOO_SHORT:
		size = s->size - 4;
		break;
	case TOO_LONG:
		size = s->size + 8;
		break;
	case EXTRA_FD:
		nfds = s->nfds + 1;
		break;
	case MISSING_FD:
		nfds = s->nfds - 1;
		break;
	}
	for (unsigned i = 0; i < nfds; i++) {
		/* memory requests carry the memfd, the others an eventfd */
		fds[i] = (s->request == VU_SET_MEM_TABLE ||
			  s->request == VU_ADD_MEM_REG) && i == 0 ?
			dup(F.mem.fd) : eventfd(0, EFD_CLOEXEC);
		cr_assert(fds[i] >= 0);
	}

	base = count_fds();
	OK(vuf_send(&F, s->request, own_reply ? 0 : VU_FLAG_NEED_REPLY,
		    payload.bytes, size, fds, nfds));
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);

	r = vuf_recv(&F, &h, reply, sizeof(reply), NULL, NULL, -1);
	cr_assert(r >= 0, "%s %s: no reply: %s\ndaemon stderr:\n%s", name,
		  variant_names[c->v], strerror(-r), F.err);
	cr_assert_eq(h.request, s->request, "%s %s: reply to %s", name,
		     variant_names[c->v], vuf_req_name(h.request));
	cr_assert_eq(h.flags, VU_VERSION | VU_FLAG_REPLY,
		     "%s %s: reply flags 0x%x", name, variant_names[c->v], h.flags);
	if (own_reply) {
		cr_assert_eq(r, 0, "%s %s (size %u, %u fds): expected a zero-size "
			     "reply, got %d bytes", name, variant_names[c->v], size,
			     nfds, r);
	} else {
		uint64_t ack;

		cr_assert_eq(r, 8, "%s %s: ack of %d bytes", name,
			     variant_names[c->v], r);
		memcpy(&ack, reply, sizeof(ack));
		cr_assert_neq(ack, 0, "%s %s (size %u, %u fds) was acked with 0",
			      name, variant_names[c->v], size, nfds);
	}
	/* count_fds() first makes a GET_FEATURES round trip: alive */
	r = count_fds();
	cr_assert(r <= base, "%s %s: the daemon went from %d to %d fds", name,
		  variant_names[c->v], base, r);
	vuf_hangup(&F);
	expect_exit0(&F);
}

/* ---- robustness ---- */

TestSuite(robust, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

static void
send_huge(uint32_t request, uint32_t flags, uint32_t size)
{
	struct vu_hdr h = { .request = request, .flags = VU_VERSION | flags,
			    .size = size };
	uint8_t *buf = calloc(1, sizeof(h) + size);

	cr_assert(buf);
	memcpy(buf, &h, sizeof(h));
	memset(buf + sizeof(h), 0xa5, size);
	OK(vuf_send_raw(&F, buf, sizeof(h) + size, NULL, 0));
	free(buf);
}

Test(robust, oversized_message_is_read_and_refused)
{
	struct vu_hdr h;
	uint64_t ack = 0;

	start_owned();
	send_huge(VU_SET_FEATURES, VU_FLAG_NEED_REPLY, 100000);
	cr_assert_eq(vuf_recv(&F, &h, &ack, sizeof(ack), NULL, NULL, -1), 8,
		     "SET_FEATURES of 100000 bytes: no ack\n%s", F.err);
	cr_assert_eq(h.request, VU_SET_FEATURES);
	cr_assert_neq(ack, 0);
	barrier();

	send_huge(VU_GET_FEATURES, 0, 100000);
	cr_assert_eq(vuf_recv(&F, &h, &ack, sizeof(ack), NULL, NULL, -1), 0,
		     "GET_FEATURES of 100000 bytes: expected a zero-size reply");
	cr_assert_eq(h.request, VU_GET_FEATURES);
	barrier();

	send_huge(VU_SET_FEATURES, VU_FLAG_NEED_REPLY, 4097);
	cr_assert_eq(vuf_recv(&F, &h, &ack, sizeof(ack), NULL, NULL, -1), 8);
	cr_assert_neq(ack, 0);
	barrier();
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(robust, unknown_requests)
{
	static const uint32_t unknown[] = { 0, 99, VU_REQUEST_MAX, 1000,
					    0xffffffff };
	int base, efd;

	start_owned();
	base = count_fds();
	efd = eventfd(0, EFD_CLOEXEC);
	cr_assert(efd >= 0);
	for (unsigned i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		uint64_t payload = 0x1234;
		struct vu_hdr h;
		uint64_t ack = 0;

		OK(vuf_send(&F, unknown[i], VU_FLAG_NEED_REPLY, &payload,
			    i % 2 ? sizeof(payload) : 0, &efd, i % 2));
		cr_assert_eq(vuf_recv(&F, &h, &ack, sizeof(ack), NULL, NULL, -1), 8,
			     "request %u: no ack\n%s", unknown[i], F.err);
		cr_assert_eq(h.request, unknown[i]);
		cr_assert_eq(h.flags, VU_VERSION | VU_FLAG_REPLY);
		cr_assert_neq(ack, 0, "unknown request %u acked with 0", unknown[i]);
	}
	close(efd);
	cr_assert_eq(count_fds(), base, "fds of unknown requests were kept");
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(robust, hangup_mid_header)
{
	static const uint8_t part[6] = { VU_GET_FEATURES, 0, 0, 0, 1, 0 };

	spawn_fd(NULL);
	OK(vuf_send_raw(&F, part, sizeof(part), NULL, 0));
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(robust, hangup_mid_payload)
{
	struct vu_hdr h = { .request = VU_SET_VRING_ADDR, .flags = VU_VERSION,
			    .size = 40 };
	uint8_t buf[sizeof(h) + 10] = { 0 };

	spawn_fd(NULL);
	negotiate_pf(&F, 0);
	memcpy(buf, &h, sizeof(h));
	OK(vuf_send_raw(&F, buf, sizeof(buf), NULL, 0));
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(robust, hangup_mid_handshake)
{
	spawn_fd(NULL);
	negotiate_pf(&F, 0);
	OK(vuf_request(&F, VU_SET_OWNER, 0, NULL, 0, NULL, 0));
	OK(vuf_set_backend_req_fd(&F, VU_FLAG_NEED_REPLY));
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(robust, hangup_with_rings_running)
{
	spawn_fd(NULL);
	OK(vuf_qemu_handshake(&F, VUF_QEMU_10_0));
	/* a kick with nothing in the ring must not disturb it */
	cr_assert_eq(eventfd_write(F.vq[0].kick_fd, 1), 0);
	barrier();
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(robust, sigterm_while_connected)
{
	spawn_fd(NULL);
	OK(vuf_qemu_handshake(&F, VUF_QEMU_10_0));
	OK(vuf_kill(&F, SIGTERM));
	expect_exit0(&F);
}

Test(robust, sigint_while_connected)
{
	spawn_fd(NULL);
	OK(vuf_qemu_handshake(&F, VUF_QEMU_7_2));
	OK(vuf_kill(&F, SIGINT));
	expect_exit0(&F);
}

Test(robust, sigterm_while_listening)
{
	struct stat st;

	check_binary();
	OK(vuf_spawn_path_noconnect(&F, NULL));
	OK(vuf_kill(&F, SIGTERM));
	expect_exit0(&F);
	cr_assert(stat(F.path, &st) < 0 && errno == ENOENT,
		  "%s still exists after SIGTERM", F.path);
}

Test(robust, sigterm_with_socket_path_connected)
{
	struct stat st;

	check_binary();
	OK(vuf_spawn_path(&F, NULL));
	OK(vuf_qemu_handshake(&F, VUF_QEMU_10_0));
	OK(vuf_kill(&F, SIGTERM));
	expect_exit0(&F);
	cr_assert(stat(F.path, &st) < 0 && errno == ENOENT,
		  "%s still exists after SIGTERM", F.path);
}

/* Display requests are round trips the daemon must not wait on: a
 * frontend that never answers (or drops the socket) still gets the
 * control plane served. */
Test(robust, display_socket_never_answered)
{
	spawn_fd(NULL);
	F.serve = false;
	OK(vuf_qemu_handshake(&F, VUF_QEMU_10_0));
	OK(vuf_qemu_stop(&F, VUF_QEMU_10_0));
	OK(vuf_qemu_start(&F, VUF_QEMU_10_0));
	barrier();
	vuf_hangup(&F);
	expect_exit0(&F);
}

Test(robust, display_socket_dropped)
{
	spawn_fd(NULL);
	OK(vuf_qemu_init(&F, VUF_QEMU_7_2));
	OK(vuf_gpu_set_socket(&F, VU_FLAG_NEED_REPLY));
	close(F.display_fd);
	F.display_fd = -1;
	barrier();
	OK(vuf_qemu_start(&F, VUF_QEMU_7_2));
	close(F.display_fd);
	F.display_fd = -1;
	OK(vuf_qemu_stop(&F, VUF_QEMU_7_2));
	vuf_hangup(&F);
	expect_exit0(&F);
}

/* --keep-listening: each frontend gets a fresh device. */
Test(robust, keep_listening_gives_fresh_state)
{
	static const char *const args[] = { "--keep-listening", NULL };
	struct stat st;
	uint64_t status;
	int first, second;

	check_binary();
	OK(vuf_spawn_path(&F, args));
	OK(vuf_qemu_handshake(&F, VUF_QEMU_10_0));
	OK(vuf_set_u64(&F, VU_SET_STATUS, VU_FLAG_NEED_REPLY, 0xf));
	first = count_fds();
	vuf_hangup(&F);

	/* the second frontend */
	OK(vuf_connect_path(&F));
	cr_assert(vuf_alive(&F), "the daemon exited after the first hang-up: %s",
		  describe_status(F.status));
	OK(vuf_get_u64(&F, VU_GET_STATUS, &status));
	cr_assert_eq(status, 0, "the second frontend sees status 0x%llx",
		     (unsigned long long)status);
	for (unsigned i = 0; i < VUF_MAX_VQS; i++)
		F.vq[i].base = 0;
	for (unsigned i = 0; i < F.mem.n; i++)
		F.mem.r[i].sent = false;	/* a new device maps nothing */
	OK(vuf_qemu_handshake(&F, VUF_QEMU_10_0));
	OK(vuf_set_u64(&F, VU_SET_STATUS, VU_FLAG_NEED_REPLY, 0xf));
	second = count_fds();
	cr_assert_eq(second, first, "fds after the first session %d, after the "
		     "second %d: the first one leaked", first, second);
	vuf_hangup(&F);

	/* still listening; SIGTERM ends it and removes the path */
	OK(vuf_connect_path(&F));
	barrier();
	OK(vuf_kill(&F, SIGTERM));
	expect_exit0(&F);
	cr_assert(stat(F.path, &st) < 0 && errno == ENOENT,
		  "%s still exists after SIGTERM", F.path);
}

/* The region limit: GET_MAX_MEM_SLOTS says 509, and ADD_MEM_REG holds to
 * it: 509 regions are mapped, the 510th is refused, one removed makes room
 * again, and no fd is kept for any of them. */
Test(memory, region_limit)
{
	const uint64_t page = 4096;
	struct vu_mem_region r;
	int base;

	start_owned();
	OK(vuf_mem_create(&F, 512 * page));
	base = count_fds();
	for (unsigned i = 0; i < 510; i++) {
		r = (struct vu_mem_region){
			.guest_phys_addr = 0x100000000ull + i * 2 * page,
			.memory_size = page,
			.userspace_addr = (uint64_t)(uintptr_t)F.mem.base + (i % 512) * page,
			.mmap_offset = (i % 512) * page,
		};
		/* Distinct frontend addresses too: past 512 pages, shift. */
		if (i < 509)
			OK(send_mem_single(&F, VU_ADD_MEM_REG, r, true));
		else
			REFUSED(send_mem_single(&F, VU_ADD_MEM_REG, r, true));
	}
	r.guest_phys_addr = 0x100000000ull;
	r.userspace_addr = (uint64_t)(uintptr_t)F.mem.base;
	r.mmap_offset = 0;
	OK(send_mem_single(&F, VU_REM_MEM_REG, r, false));
	r.guest_phys_addr = 0x100000000ull + 509 * 2 * page;
	r.userspace_addr = (uint64_t)(uintptr_t)F.mem.base + 509 * page;
	r.mmap_offset = 509 * page;
	OK(send_mem_single(&F, VU_ADD_MEM_REG, r, true));
	cr_assert_eq(count_fds(), base, "fds kept for mapped regions");
	vuf_hangup(&F);
	expect_exit0(&F);
}
