/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>

#include "tests/integ/integ.h"

struct vuf F;

void
integ_setup(void)
{
	vuf_init(&F);
}

void
integ_teardown(void)
{
	if (vuf_alive(&F)) {
		int st;

		vuf_hangup(&F);
		st = vuf_wait_exit(&F, VUF_TIMEOUT_MS);
		cr_expect(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "the daemon did not exit 0 after the hang-up "
			  "(wait status %d)\nstderr:\n%s", st, F.err);
	}
	vuf_finish(&F);
}

const char *
resp_name(int t)
{
	static char buf[48];

	switch (t) {
	case VIRTIO_GPU_RESP_OK_NODATA: return "OK_NODATA";
	case VIRTIO_GPU_RESP_OK_DISPLAY_INFO: return "OK_DISPLAY_INFO";
	case VIRTIO_GPU_RESP_OK_CAPSET_INFO: return "OK_CAPSET_INFO";
	case VIRTIO_GPU_RESP_OK_CAPSET: return "OK_CAPSET";
	case VIRTIO_GPU_RESP_OK_EDID: return "OK_EDID";
	case VIRTIO_GPU_RESP_OK_RESOURCE_UUID: return "OK_RESOURCE_UUID";
	case VIRTIO_GPU_RESP_ERR_UNSPEC: return "ERR_UNSPEC";
	case VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY: return "ERR_OUT_OF_MEMORY";
	case VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID: return "ERR_INVALID_SCANOUT_ID";
	case VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID: return "ERR_INVALID_RESOURCE_ID";
	case VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID: return "ERR_INVALID_CONTEXT_ID";
	case VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER: return "ERR_INVALID_PARAMETER";
	}
	if (t < 0)
		snprintf(buf, sizeof(buf), "error %s", strerror(-t));
	else
		snprintf(buf, sizeof(buf), "type 0x%x", (unsigned)t);
	return buf;
}

void
check_binary(void)
{
	const char *bin = vuf_daemon_path();

	cr_assert(strchr(bin, '/') == NULL || access(bin, X_OK) == 0,
		  "%s is not an executable (set VUGPU_BIN)", bin);
}

void
barrier(void)
{
	uint64_t features;

	OK(vuf_get_u64(&F, VU_GET_FEATURES, &features));
	cr_assert(features & PF(VIRTIO_F_VERSION_1));
}

void
expect_alive(void)
{
	cr_assert(vuf_alive(&F), "the daemon died (status 0x%x)\nstderr:\n%s",
		  F.status, F.err);
	barrier();
}
