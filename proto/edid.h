/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * EDID 1.4 base blocks: generating one for a display whose frontend gave
 * us none (VIRTIO_GPU_CMD_GET_EDID), and reading the preferred mode back
 * out of one (tests, and checking a frontend's EDID).
 *
 * Pure code: no syscalls, no logging, no allocation. Everything returns a
 * count, 0 or -errno and the caller decides what to say.
 */
#ifndef PROTO_EDID_H
#define PROTO_EDID_H

#include <stddef.h>
#include <stdint.h>

#define EDID_BLOCK_SIZE 128

/* A detailed timing descriptor holds 12-bit active sizes. */
#define EDID_MAX_DIM 4095

/* Requested refresh rates above this are clamped to it. */
#define EDID_MAX_REFRESH 240

/* Characters of the monitor name a name descriptor can hold. */
#define EDID_NAME_LEN 13

/*
 * Fill out[0..128) with an EDID 1.4 base block (no extensions) for a
 * digital RGB display whose preferred mode, the first detailed timing, is
 * width x height at about refresh_hz (0 means 60). The timing is CVT
 * reduced blanking v1; where its pixel clock would not fit the
 * descriptor's 16 bits of 10 kHz, or its line rate the range limits'
 * 255 kHz, the refresh is lowered until it does. The block also carries
 * the monitor name (the first 13 characters of `name`, "vugpu" when NULL
 * or empty; bytes outside printable ASCII become '?'), `serial` as the
 * ID serial number and, when non-zero, as a serial string, a ~96 dpi
 * physical size, range limits covering every mode listed, and
 * established/standard timings for the common modes no larger than
 * width x height.
 *
 * width and height: 1..EDID_MAX_DIM. Returns EDID_BLOCK_SIZE, -EINVAL
 * (bad size or NULL out) or -ENOSPC (cap < EDID_BLOCK_SIZE).
 */
int edid_generate(uint8_t *out, size_t cap, uint32_t width, uint32_t height,
		  uint32_t refresh_hz, const char *name, uint32_t serial);

/*
 * The active size of the first detailed timing descriptor of the base
 * block in edid[0..len). Returns 0, or -EINVAL when len < 128, the header
 * or checksum is wrong, or no descriptor slot holds a detailed timing with
 * a non-zero size.
 */
int edid_preferred_mode(const uint8_t *edid, size_t len, uint32_t *width,
			uint32_t *height);

#endif /* PROTO_EDID_H */
