/*
 * swap.c — the host swap device (swap.h): a preallocated regular file of page slots, handed out in
 * clusters of cluster_pages slots from a next-fit bitmap, and the pwrite/pread that move guest
 * pages in and out of it.
 *
 * Owns: the file descriptor, the cluster bitmap (one bit per cluster), the used count, the
 * next-fit cursor and the I/O counters of one struct swap_dev (its fault-injection sites live in
 * the struct faultinj it points to, faultinj.h).
 *
 * Lock order: sw->lock is a leaf (nothing is taken under it). It protects bitmap, used and cursor.
 * I/O is done without it: the caller owns a cluster between swap_alloc and swap_free, so I/O on
 * different clusters needs no exclusion. The counters are updated with __atomic builtins; the
 * injection decisions are lock-free. The I/O paths take the lock only for a moment, to check
 * that the cluster is allocated (a cheap guard against a VMM bug, next to a syscall moving
 * 4 KiB..2 MiB).
 *
 * Bugs (never input from a guest or the user): freeing, or doing I/O on, a cluster that is not
 * allocated, or slots out of range. These call mm_env_bug() with a message naming the file and
 * slot — the VMM prints and aborts; the unit tests catch them with CHECK_BUG. The lock is released
 * before, since the tests' mm_env_bug longjmps.
 */
#include "swap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mm/env.h>

#include "error.h"
#include "faultinj.h"
#include "machine.h"

#define BITS_PER_WORD 64u
#define SWAP_OPT_MAX  256       /* longest ",key=value" item of --swap accepted */

/* ---- --swap FILE[,size=SIZE] ---------------------------------------------------------------- */

static int parse_option(const char *item, struct swap_spec *spec, bool *size_seen)
{
	const char *eq = strchr(item, '=');
	size_t klen = eq ? (size_t)(eq - item) : strlen(item);
	char why[256];
	int err;

	if (klen == 4 && strncmp(item, "size", 4) == 0) {
		if (!eq)
			return mv_fail(EINVAL, "--swap: size needs a value (size=SIZE)");
		if (*size_seen)
			return mv_fail(EINVAL, "--swap: size= is given twice");
		err = machine_parse_size(eq + 1, &spec->size);
		if (err) {
			snprintf(why, sizeof(why), "%s", mv_error());   /* mv_fail rewrites it */
			return mv_fail(EINVAL, "--swap: %s", why);
		}
		if (spec->size == 0)
			return mv_fail(EINVAL, "--swap: size=%s must be greater than 0", eq + 1);
		*size_seen = true;
		return 0;
	}
	return mv_fail(EINVAL, "--swap: unknown key '%.*s' (known: size)", (int)klen, item);
}

int swap_parse_spec(const char *arg, struct swap_spec *spec)
{
	const char *comma, *item;
	bool size_seen = false;
	size_t flen;
	int err;

	memset(spec, 0, sizeof(*spec));
	if (!arg || !*arg)
		return mv_fail(EINVAL, "--swap: empty value (expected FILE[,size=SIZE])");
	comma = strchr(arg, ',');
	flen = comma ? (size_t)(comma - arg) : strlen(arg);
	if (flen == 0)
		return mv_fail(EINVAL, "--swap: no FILE before ',' in '%s' (expected FILE[,size=SIZE])",
			       arg);
	if (flen >= sizeof(spec->path))
		return mv_fail(EINVAL, "--swap: FILE is longer than %zu bytes",
			       sizeof(spec->path) - 1);
	memcpy(spec->path, arg, flen);
	spec->path[flen] = '\0';

	for (item = comma; item; item = comma) {
		char buf[SWAP_OPT_MAX];
		size_t ilen;

		item++;                         /* past the ',' */
		comma = strchr(item, ',');
		ilen = comma ? (size_t)(comma - item) : strlen(item);
		if (ilen == 0)
			return mv_fail(EINVAL, "--swap: empty option after ',' in '%s'", arg);
		if (ilen >= sizeof(buf))
			return mv_fail(EINVAL, "--swap: option '%.32s...' is too long", item);
		memcpy(buf, item, ilen);
		buf[ilen] = '\0';
		err = parse_option(buf, spec, &size_seen);
		if (err)
			return err;
	}
	return 0;
}

/* ---- BUG with a message ---------------------------------------------------------------------- */

static _Thread_local char swap_bug_buf[PATH_MAX + 256];

/* Never returns. The caller must not hold sw->lock (the tests' mm_env_bug longjmps). */
__attribute__((noreturn, format(printf, 4, 5)))
static void swap_bug(const char *file, int line, const struct swap_dev *sw, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(swap_bug_buf, sizeof(swap_bug_buf), "swap %s: ", sw->path);
	if (n < 0 || (size_t)n >= sizeof(swap_bug_buf))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(swap_bug_buf + n, sizeof(swap_bug_buf) - (size_t)n, fmt, ap);
	va_end(ap);
	mm_env_bug(file, line, swap_bug_buf);
}

#define SWAP_BUG(sw, ...) swap_bug(__FILE__, __LINE__, (sw), __VA_ARGS__)

/* ---- open / close ---------------------------------------------------------------------------- */

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))  return "a directory";
	if (S_ISCHR(mode))  return "a character device";
	if (S_ISBLK(mode))  return "a block device";
	if (S_ISFIFO(mode)) return "a fifo";
	if (S_ISSOCK(mode)) return "a socket";
	return "not a plain file";
}

/*
 * Open path read-write, creating it (0600) if it does not exist; *created says whether this call
 * made it (O_EXCL decides, so a file that another process creates meanwhile is never unlinked by
 * us). O_NONBLOCK so that a fifo cannot block the open; cleared once the file is known to be
 * regular. Returns the fd (and its stat in *st) or -errno; on error nothing is left open or made.
 */
static int open_file(const char *path, bool *created, struct stat *st)
{
	const int flags = O_RDWR | O_CLOEXEC | O_NONBLOCK;
	int fd, err;

	*created = false;
	fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	if (fd >= 0)
		*created = true;
	else if (errno == EEXIST)
		fd = open(path, flags);
	if (fd < 0) {
		err = errno;
		if (err == EISDIR)
			return mv_fail(EINVAL, "swap %s: is a directory, not a regular file", path);
		return mv_fail(err, "swap %s: cannot open: %s", path, strerror(err));
	}
	if (fstat(fd, st) != 0) {
		err = mv_fail(errno, "swap %s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		err = mv_fail(EINVAL, "swap %s: is %s, not a regular file", path,
			      file_kind(st->st_mode));
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		err = mv_fail(errno, "swap %s: cannot clear O_NONBLOCK: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	if (*created)
		unlink(path);
	return err;
}

/*
 * Reserve [0, sw->size) and cut a longer file to exactly sw->size bytes: the only steps that
 * change the file, so swap_open does them last.
 */
static int reserve(struct swap_dev *sw, off_t old_size)
{
	int err;

	do
		err = posix_fallocate(sw->fd, 0, (off_t)sw->size);
	while (err == EINTR);
	if (err)
		return mv_fail(err, "swap %s: cannot reserve %llu bytes (%llu MiB): %s", sw->path,
			       (unsigned long long)sw->size, (unsigned long long)(sw->size >> 20),
			       strerror(err));
	if (old_size > (off_t)sw->size && ftruncate(sw->fd, (off_t)sw->size) != 0)
		return mv_fail(errno, "swap %s: cannot truncate to %llu bytes: %s", sw->path,
			       (unsigned long long)sw->size, strerror(errno));
	return 0;
}

/* Undo a failed swap_open: remove a file we created, else give it back its old length. */
static void open_undo(struct swap_dev *sw, bool created, bool touched, off_t old_size)
{
	if (created)
		unlink(sw->path);
	else if (touched && ftruncate(sw->fd, old_size) != 0)
		fprintf(stderr, "memvisor: swap %s: cannot restore its length of %lld bytes: %s\n",
			sw->path, (long long)old_size, strerror(errno));
	close(sw->fd);
	sw->fd = -1;
	free(sw->bitmap);
	sw->bitmap = NULL;
}

int swap_open(struct swap_dev *sw, const char *path, uint64_t size, unsigned cluster_pages)
{
	uint64_t cluster_bytes = (uint64_t)cluster_pages * SWAP_PAGE_SIZE;
	bool created, touched = false;
	struct stat st;
	size_t words;
	int fd, err;

	memset(sw, 0, sizeof(*sw));
	sw->fd = -1;
	if (!path || !*path)
		return mv_fail(EINVAL, "swap: no file given");
	if (strlen(path) >= sizeof(sw->path))
		return mv_fail(ENAMETOOLONG, "swap: file name is longer than %zu bytes",
			       sizeof(sw->path) - 1);
	snprintf(sw->path, sizeof(sw->path), "%s", path);
	if (cluster_pages == 0 || cluster_pages > SWAP_MAX_CLUSTER_PAGES ||
	    (cluster_pages & (cluster_pages - 1)))
		return mv_fail(EINVAL, "swap %s: cluster of %u pages is not a power of two in 1..%u",
			       path, cluster_pages, SWAP_MAX_CLUSTER_PAGES);
	if (size > (uint64_t)INT64_MAX)
		return mv_fail(EFBIG, "swap %s: size %llu is larger than a file can be", path,
			       (unsigned long long)size);
	if (size && size < cluster_bytes)
		return mv_fail(EINVAL, "swap %s: size %llu is less than one cluster (%llu bytes)",
			       path, (unsigned long long)size, (unsigned long long)cluster_bytes);

	fd = open_file(path, &created, &st);
	if (fd < 0)
		return fd;
	sw->fd = fd;
	if (size == 0 && (uint64_t)st.st_size < cluster_bytes) {
		err = mv_fail(EINVAL, "swap %s: no size given and the file's %llu bytes are less "
			      "than one cluster (%llu bytes)", path, (unsigned long long)st.st_size,
			      (unsigned long long)cluster_bytes);
		goto out;
	}
	if (size == 0)
		size = (uint64_t)st.st_size;
	sw->cluster_pages = cluster_pages;
	sw->nr_clusters = size / cluster_bytes;
	sw->size = sw->nr_clusters * cluster_bytes;

	/* What can fail without touching the file comes first. */
	words = (size_t)((sw->nr_clusters + BITS_PER_WORD - 1) / BITS_PER_WORD);
	sw->bitmap = calloc(words, sizeof(*sw->bitmap));
	if (!sw->bitmap) {
		err = mv_fail(ENOMEM, "swap %s: no memory for a bitmap of %llu clusters", path,
			      (unsigned long long)sw->nr_clusters);
		goto out;
	}
	err = pthread_mutex_init(&sw->lock, NULL);
	if (err) {
		err = mv_fail(err, "swap %s: pthread_mutex_init: %s", path, strerror(err));
		goto out;
	}
	touched = true;
	err = reserve(sw, st.st_size);
	if (err)
		pthread_mutex_destroy(&sw->lock);
out:
	if (err)
		open_undo(sw, created, touched, st.st_size);
	return err;
}

void swap_close(struct swap_dev *sw)
{
	if (sw->fd < 0)
		return;
	close(sw->fd);
	sw->fd = -1;
	free(sw->bitmap);
	sw->bitmap = NULL;
	pthread_mutex_destroy(&sw->lock);
}

/* ---- allocation ------------------------------------------------------------------------------ */

static bool test_bit_locked(const struct swap_dev *sw, uint64_t c)
{
	return (sw->bitmap[c / BITS_PER_WORD] >> (c % BITS_PER_WORD)) & 1;
}

/* First clear bit in [from, to), or to if none. */
static uint64_t find_free_locked(const struct swap_dev *sw, uint64_t from, uint64_t to)
{
	uint64_t i = from;

	while (i < to) {
		uint64_t w = i / BITS_PER_WORD;
		uint64_t free_bits = ~sw->bitmap[w] & (~UINT64_C(0) << (i % BITS_PER_WORD));

		if (free_bits) {
			uint64_t c = w * BITS_PER_WORD + (uint64_t)__builtin_ctzll(free_bits);

			return c < to ? c : to;
		}
		i = (w + 1) * BITS_PER_WORD;
	}
	return to;
}

int swap_alloc(struct swap_dev *sw, uint64_t *slot)
{
	uint64_t c;

	pthread_mutex_lock(&sw->lock);
	if (sw->used == sw->nr_clusters) {
		pthread_mutex_unlock(&sw->lock);
		return mv_fail(ENOSPC, "swap %s: full (%llu clusters of %u pages in use)", sw->path,
			       (unsigned long long)sw->nr_clusters, sw->cluster_pages);
	}
	/* Next-fit: from the cursor to the end, then wrap to the start. used < nr: one is free. */
	c = find_free_locked(sw, sw->cursor, sw->nr_clusters);
	if (c == sw->nr_clusters)
		c = find_free_locked(sw, 0, sw->cursor);
	MM_BUG_ON(c >= sw->nr_clusters);
	sw->bitmap[c / BITS_PER_WORD] |= UINT64_C(1) << (c % BITS_PER_WORD);
	sw->used++;
	sw->cursor = c + 1 == sw->nr_clusters ? 0 : c + 1;
	pthread_mutex_unlock(&sw->lock);
	*slot = c * sw->cluster_pages;
	return 0;
}

void swap_free(struct swap_dev *sw, uint64_t slot)
{
	uint64_t c = slot / sw->cluster_pages;

	if (slot % sw->cluster_pages || c >= sw->nr_clusters)
		SWAP_BUG(sw, "swap_free: slot %llu is not the first slot of a cluster (%llu clusters "
			 "of %u pages)", (unsigned long long)slot,
			 (unsigned long long)sw->nr_clusters, sw->cluster_pages);
	pthread_mutex_lock(&sw->lock);
	if (!test_bit_locked(sw, c)) {
		pthread_mutex_unlock(&sw->lock);
		SWAP_BUG(sw, "swap_free: slot %llu is not allocated (double free?)",
			 (unsigned long long)slot);
	}
	sw->bitmap[c / BITS_PER_WORD] &= ~(UINT64_C(1) << (c % BITS_PER_WORD));
	sw->used--;
	pthread_mutex_unlock(&sw->lock);
}

/* ---- I/O ------------------------------------------------------------------------------------- */

/* [slot, slot + npages) must lie in one allocated cluster: anything else is a VMM bug. */
static void check_io(struct swap_dev *sw, const char *op, uint64_t slot, unsigned npages)
{
	uint64_t c = slot / sw->cluster_pages;
	bool allocated;

	if (npages == 0 || npages > sw->cluster_pages || c >= sw->nr_clusters ||
	    slot % sw->cluster_pages + npages > sw->cluster_pages)
		SWAP_BUG(sw, "%s of %u pages at slot %llu: not within one cluster of %u pages "
			 "(%llu clusters)", op, npages, (unsigned long long)slot, sw->cluster_pages,
			 (unsigned long long)sw->nr_clusters);
	pthread_mutex_lock(&sw->lock);
	allocated = test_bit_locked(sw, c);
	pthread_mutex_unlock(&sw->lock);
	if (!allocated)
		SWAP_BUG(sw, "%s at slot %llu: cluster is not allocated", op,
			 (unsigned long long)slot);
}

static void count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/*
 * One pwrite (write) or pread of len bytes at off, continued after EINTR and short transfers.
 * 0 or a positive errno; EIO when the file gives no progress (end of file). short_at < len is
 * the swap-write-short site: the first pwrite is cut to short_at bytes (a real, partial write)
 * and the continuation then fails with ENOSPC, as on a file system that filled up mid-write.
 */
static int transfer(int fd, bool write, void *buf, size_t len, off_t off, size_t short_at)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = len - done;
		ssize_t n;

		if (done >= short_at)
			return ENOSPC;
		if (chunk > short_at - done)
			chunk = short_at - done;
		n = write ? pwrite(fd, (char *)buf + done, chunk, off + (off_t)done)
			  : pread(fd, (char *)buf + done, chunk, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;
		done += (size_t)n;
	}
	return 0;
}

/* The injection sites of one call: 0 to do the I/O, else the errno to fail with at once. */
static int inject(struct swap_dev *sw, bool write, uint64_t slot, size_t len, size_t *short_at)
{
	uint64_t where = slot * SWAP_PAGE_SIZE;         /* the offset in the file */

	*short_at = SIZE_MAX;
	if (!write)
		return faultinj_should_fail(sw->fi, FI_SWAP_READ_EIO, len, "swap read at offset",
					    where) ? EIO : 0;
	if (faultinj_should_fail(sw->fi, FI_SWAP_WRITE_EIO, len, "swap write at offset", where))
		return EIO;
	if (faultinj_should_fail(sw->fi, FI_SWAP_WRITE_ENOSPC, len, "swap write at offset", where))
		return ENOSPC;
	if (faultinj_should_fail(sw->fi, FI_SWAP_WRITE_SHORT, len, "short swap write at offset",
				 where))
		*short_at = len / 2;
	return 0;
}

static int swap_io(struct swap_dev *sw, bool write, uint64_t slot, void *buf, unsigned npages)
{
	const char *op = write ? "write" : "read";
	size_t len = (size_t)npages * SWAP_PAGE_SIZE, short_at;
	bool injected;
	int err;

	check_io(sw, write ? "swap_write" : "swap_read", slot, npages);
	err = inject(sw, write, slot, len, &short_at);
	injected = err || short_at < len;
	if (!err)
		err = transfer(sw->fd, write, buf, len, (off_t)(slot * SWAP_PAGE_SIZE), short_at);
	if (err) {
		count(write ? &sw->write_errors : &sw->read_errors, 1);
		if (err == EIO && !injected)            /* transfer() saw no progress */
			return mv_fail(EIO, "swap %s: %s of %u pages at slot %llu: %s (%s)", sw->path,
				       op, npages, (unsigned long long)slot, strerror(EIO),
				       write ? "the file takes no more bytes"
					     : "end of file: was the file truncated?");
		if (short_at < len)
			return mv_fail(err, "swap %s: %s of %u pages at slot %llu: %s after %zu of "
				       "%zu bytes (injected)", sw->path, op, npages,
				       (unsigned long long)slot, strerror(err), short_at, len);
		return mv_fail(err, "swap %s: %s of %u pages at slot %llu: %s%s", sw->path, op,
			       npages, (unsigned long long)slot, strerror(err),
			       injected ? " (injected)" : "");
	}
	count(write ? &sw->writes : &sw->reads, 1);
	count(write ? &sw->bytes_written : &sw->bytes_read, len);
	return 0;
}

int swap_write(struct swap_dev *sw, uint64_t slot, const void *buf, unsigned npages)
{
	return swap_io(sw, true, slot, (void *)buf, npages);    /* transfer() only reads it */
}

int swap_read(struct swap_dev *sw, uint64_t slot, void *buf, unsigned npages)
{
	return swap_io(sw, false, slot, buf, npages);
}

/* ---- statistics and consistency -------------------------------------------------------------- */

void swap_get_stats(struct swap_dev *sw, struct swap_stats *st)
{
	pthread_mutex_lock(&sw->lock);
	st->slots_total = sw->nr_clusters * sw->cluster_pages;
	st->slots_used = sw->used * sw->cluster_pages;
	pthread_mutex_unlock(&sw->lock);
	st->writes = __atomic_load_n(&sw->writes, __ATOMIC_RELAXED);
	st->reads = __atomic_load_n(&sw->reads, __ATOMIC_RELAXED);
	st->bytes_written = __atomic_load_n(&sw->bytes_written, __ATOMIC_RELAXED);
	st->bytes_read = __atomic_load_n(&sw->bytes_read, __ATOMIC_RELAXED);
	st->write_errors = __atomic_load_n(&sw->write_errors, __ATOMIC_RELAXED);
	st->read_errors = __atomic_load_n(&sw->read_errors, __ATOMIC_RELAXED);
}

static int check_locked(struct swap_dev *sw)
{
	uint64_t words = (sw->nr_clusters + BITS_PER_WORD - 1) / BITS_PER_WORD;
	unsigned tail = (unsigned)(sw->nr_clusters % BITS_PER_WORD);
	uint64_t pop = 0;

	for (uint64_t w = 0; w < words; w++)
		pop += (uint64_t)__builtin_popcountll(sw->bitmap[w]);
	if (pop != sw->used)
		return mv_fail(EUCLEAN, "swap %s: %llu clusters marked in the bitmap but %llu counted "
			       "as used", sw->path, (unsigned long long)pop,
			       (unsigned long long)sw->used);
	if (tail && (sw->bitmap[words - 1] >> tail))
		return mv_fail(EUCLEAN, "swap %s: bits set past the last cluster (%llu): %#llx",
			       sw->path, (unsigned long long)sw->nr_clusters,
			       (unsigned long long)(sw->bitmap[words - 1] >> tail));
	if (sw->cursor >= sw->nr_clusters)
		return mv_fail(EUCLEAN, "swap %s: next-fit cursor %llu is past the last cluster (%llu)",
			       sw->path, (unsigned long long)sw->cursor,
			       (unsigned long long)sw->nr_clusters);
	return 0;
}

int swap_check(struct swap_dev *sw)
{
	int err;

	pthread_mutex_lock(&sw->lock);
	err = check_locked(sw);
	pthread_mutex_unlock(&sw->lock);
	return err;
}
