/* fbfill: paint a solid rectangle on /dev/fb0 (the fbdev/fbcon path) or print its geometry. */
/*
 *   fbfill -i                 print "FB xres=.. yres=.. bpp=.. stride=.."
 *   fbfill X Y W H RRGGBB     paint the rectangle, clipped to the screen
 *
 * Raw <linux/fb.h> ioctls, static, no libraries.  The rectangle is written through an
 * mmap of the framebuffer, which the DRM fbdev emulation tracks page by page and
 * flushes to the device shortly after.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct fb_var_screeninfo var;
	struct fb_fix_screeninfo fix;
	uint32_t x0, y0, w, h, color;
	uint8_t *map;
	int fd;

	fd = open("/dev/fb0", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0 ||
	    ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0) {
		printf("ERROR /dev/fb0: %s\n", strerror(errno));
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "-i") == 0) {
		printf("FB xres=%u yres=%u bpp=%u stride=%u id=%s\n", var.xres, var.yres,
		       var.bits_per_pixel, fix.line_length, fix.id);
		return 0;
	}
	if (argc != 6) {
		fprintf(stderr, "usage: fbfill -i | fbfill X Y W H RRGGBB\n");
		return 2;
	}
	x0 = strtoul(argv[1], NULL, 0);
	y0 = strtoul(argv[2], NULL, 0);
	w = strtoul(argv[3], NULL, 0);
	h = strtoul(argv[4], NULL, 0);
	color = strtoul(argv[5], NULL, 16) & 0xffffff;
	if (var.bits_per_pixel != 32) {
		printf("ERROR bpp %u unsupported\n", var.bits_per_pixel);
		return 1;
	}
	map = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		printf("ERROR mmap: %s\n", strerror(errno));
		return 1;
	}
	for (uint32_t y = y0; y < y0 + h && y < var.yres; y++) {
		uint32_t *row = (uint32_t *)(map + (uint64_t)(y + var.yoffset) * fix.line_length);
		for (uint32_t x = x0; x < x0 + w && x < var.xres; x++)
			row[x + var.xoffset] = color;
	}
	msync(map, fix.smem_len, MS_SYNC);
	munmap(map, fix.smem_len);
	close(fd);
	printf("FILLED x=%u y=%u w=%u h=%u color=%06x\n", x0, y0, w, h, color);
	return 0;
}
