/*
 * boot.c — which boot protocol an image speaks (boot.h). Pure functions over the image bytes.
 */
#include "boot.h"

#include <memvisor/multiboot.h>

#define BZIMAGE_HDRS_OFFSET 0x202                   /* setup_header.header: "HdrS" */
#define BZIMAGE_HDRS_MAGIC  UINT32_C(0x53726448)

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum boot_protocol boot_detect(const uint8_t *image, size_t size)
{
	if (size >= BZIMAGE_HDRS_OFFSET + 4 && rd32(image + BZIMAGE_HDRS_OFFSET) == BZIMAGE_HDRS_MAGIC)
		return BOOT_LINUX;
	for (size_t off = 0; off + 12 <= size && off < MULTIBOOT_SEARCH; off += MULTIBOOT_HEADER_ALIGN)
		if (rd32(image + off) == MULTIBOOT_HEADER_MAGIC)
			return BOOT_MULTIBOOT;
	return BOOT_PVH;
}

const char *boot_protocol_name(enum boot_protocol p)
{
	switch (p) {
	case BOOT_LINUX:
		return "Linux";
	case BOOT_MULTIBOOT:
		return "multiboot";
	case BOOT_PVH:
	default:
		return "PVH";
	}
}
