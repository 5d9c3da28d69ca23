/*
 * test_swap.c — the host swap device (vmm/swap.c): --swap parsing, what swap_open refuses and
 * what it leaves behind on failure, next-fit cluster allocation (against a model), page I/O with
 * checksums, injected and real I/O errors, BUGs on VMM misuse, and four threads at once.
 * Error cases first. Files live in a mkdtemp directory under $TMPDIR (or /tmp), removed at exit
 * even when a CHECK fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "faultinj.h"
#include "mvtest.h"
#include "swap.h"

#define PG   SWAP_PAGE_SIZE
#define KiB  (UINT64_C(1) << 10)
#define MiB  (UINT64_C(1) << 20)

/* ---- temporary directory, removed at exit ------------------------------------------------ */

static char tmp_dir[PATH_MAX];

static void tmp_cleanup(void)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	char p[PATH_MAX + 256];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmp_dir, e->d_name);
		if (unlink(p) != 0)
			rmdir(p);
	}
	closedir(d);
	rmdir(tmp_dir);
}

/* A path "<tmpdir>/name" (the directory is made on first use). */
static const char *tmp_path(const char *name)
{
	static char p[PATH_MAX + 64];

	if (!tmp_dir[0]) {
		const char *base = getenv("TMPDIR");

		snprintf(tmp_dir, sizeof(tmp_dir), "%s/mv-swap-XXXXXX", base && *base ? base : "/tmp");
		if (!mkdtemp(tmp_dir))
			mvt_fail(__FILE__, __LINE__, "mkdtemp %s: %s", tmp_dir, strerror(errno));
		atexit(tmp_cleanup);
	}
	snprintf(p, sizeof(p), "%s/%s", tmp_dir, name);
	return p;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static off_t file_size(const char *path)
{
	struct stat st;

	CHECK_EQ(stat(path, &st), 0);
	return st.st_size;
}

/* Make path a regular file of len bytes, every byte = fill. */
static void make_file(const char *path, size_t len, int fill)
{
	char *buf = malloc(len ? len : 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(buf != NULL);
	CHECK_GE(fd, 0);
	memset(buf, fill, len);
	CHECK_EQ(write(fd, buf, len), (long long)len);
	close(fd);
	free(buf);
}

/* Open a fresh file `name` of nr_clusters clusters; the test's device. */
static const char *open_dev(struct swap_dev *sw, const char *name, uint64_t nr_clusters,
			    unsigned cp)
{
	const char *path = tmp_path(name);

	unlink(path);
	CHECK_EQ(swap_open(sw, path, nr_clusters * cp * PG, cp), 0);
	return path;
}

/* ---- page contents: a checksum-carrying pattern per (slot, generation) ---------------------- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Fill one page: 511 words of pattern and a last word holding their sum. */
static void fill_page(void *page, uint64_t slot, uint64_t gen)
{
	uint64_t *w = page, sum = 0;

	for (unsigned i = 0; i < PG / 8 - 1; i++) {
		w[i] = mix(slot * 0x9e3779b97f4a7c15ull + gen * 4096 + i);
		sum += w[i];
	}
	w[PG / 8 - 1] = sum;
}

/* Does the page hold exactly what fill_page(slot, gen) wrote, with a matching checksum? */
static bool page_ok(const void *page, uint64_t slot, uint64_t gen)
{
	const uint64_t *w = page;
	uint64_t sum = 0;

	for (unsigned i = 0; i < PG / 8 - 1; i++) {
		if (w[i] != mix(slot * 0x9e3779b97f4a7c15ull + gen * 4096 + i))
			return false;
		sum += w[i];
	}
	return w[PG / 8 - 1] == sum;
}

/* ---- --swap parsing ------------------------------------------------------------------------ */

static void parse_rejects(const char *arg, const char *msg)
{
	struct swap_spec spec;

	mv_error_clear();
	CHECK_EQ(swap_parse_spec(arg, &spec), -EINVAL);
	CHECK_CONTAINS(mv_error(), msg);
	CHECK_CONTAINS(mv_error(), "--swap: ");
}

TEST(parse_rejects_empty)
{
	parse_rejects("", "empty value (expected FILE[,size=SIZE])");
	parse_rejects(NULL, "empty value");
}

TEST(parse_rejects_missing_file)
{
	parse_rejects(",size=1M", "no FILE before ','");
	parse_rejects(",", "no FILE before ','");
}

TEST(parse_rejects_bad_size)
{
	parse_rejects("f,size=12X", "size '12X' has an unknown suffix");
	parse_rejects("f,size=1MB", "trailing characters");
	parse_rejects("f,size=", "size '' is not a number");
	parse_rejects("f,size=-4M", "size '-4M' is not a number");
	parse_rejects("f,size=99999999999999999999", "too large");
	parse_rejects("f,size=20000000T", "too large");
	parse_rejects("f,size=0", "size=0 must be greater than 0");
	parse_rejects("f,size", "size needs a value");
	parse_rejects("f,size=1M,size=2M", "size= is given twice");
}

TEST(parse_rejects_unknown_key)
{
	parse_rejects("f,frob=1", "unknown key 'frob' (known: size)");
	parse_rejects("f,sizes=1M", "unknown key 'sizes'");
	parse_rejects("f,siz=1M", "unknown key 'siz'");
	parse_rejects("f,size=1M,", "empty option after ','");
	parse_rejects("f,,size=1M", "empty option after ','");
}

TEST(parse_rejects_long_parts)
{
	char arg[PATH_MAX + 16];

	memset(arg, 'a', PATH_MAX);
	arg[PATH_MAX] = '\0';
	parse_rejects(arg, "FILE is longer than");
	snprintf(arg, sizeof(arg), "f,size=%0300d", 1);
	parse_rejects(arg, "is too long");
}

TEST(parse_accepts)
{
	struct swap_spec spec;

	CHECK_EQ(swap_parse_spec("swapfile", &spec), 0);
	CHECK_STREQ(spec.path, "swapfile");
	CHECK_EQ_U(spec.size, 0);
	CHECK_EQ(swap_parse_spec("/var/tmp/mv.swap,size=512M", &spec), 0);
	CHECK_STREQ(spec.path, "/var/tmp/mv.swap");
	CHECK_EQ_U(spec.size, 512 * MiB);
	CHECK_EQ(swap_parse_spec("x,size=2G", &spec), 0);
	CHECK_EQ_U(spec.size, UINT64_C(2) << 30);
	CHECK_EQ(swap_parse_spec("x,size=65536K", &spec), 0);
	CHECK_EQ_U(spec.size, 64 * MiB);
	CHECK_EQ(swap_parse_spec("x,size=12345", &spec), 0);   /* bytes; swap_open rounds down */
	CHECK_EQ_U(spec.size, 12345);
}

/* ---- swap_open refusals -------------------------------------------------------------------- */

static void open_rejects(const char *path, uint64_t size, unsigned cp, int err, const char *msg)
{
	struct swap_dev sw;

	mv_error_clear();
	CHECK_EQ(swap_open(&sw, path, size, cp), err);
	CHECK_CONTAINS(mv_error(), msg);
	CHECK_EQ(sw.fd, -1);
	swap_close(&sw);                /* safe after a failed open */
}

TEST(open_rejects_bad_cluster)
{
	const char *p = tmp_path("cluster");

	open_rejects(p, MiB, 0, -EINVAL, "cluster of 0 pages is not a power of two in 1..512");
	open_rejects(p, MiB, 3, -EINVAL, "cluster of 3 pages");
	open_rejects(p, 4 * MiB, 1024, -EINVAL, "cluster of 1024 pages");
	CHECK(!exists(p));
	open_rejects("", MiB, 1, -EINVAL, "no file given");
}

TEST(open_refuses_directory)
{
	const char *p = tmp_path("dir");

	CHECK_EQ(mkdir(p, 0700), 0);
	open_rejects(p, MiB, 1, -EINVAL, "dir: is a directory, not a regular file");
	CHECK(exists(p));
	CHECK_EQ(rmdir(p), 0);
}

TEST(open_refuses_fifo)
{
	const char *p = tmp_path("fifo");

	CHECK_EQ(mkfifo(p, 0600), 0);
	open_rejects(p, MiB, 1, -EINVAL, "fifo: is a fifo, not a regular file");
	CHECK(exists(p));               /* not ours: left alone */
	CHECK_EQ(unlink(p), 0);
}

TEST(open_refuses_dev_null)
{
	open_rejects("/dev/null", MiB, 1, -EINVAL,
		     "swap /dev/null: is a character device, not a regular file");
}

TEST(open_rejects_size_below_one_cluster)
{
	const char *p = tmp_path("small");

	open_rejects(p, PG - 1, 1, -EINVAL, "size 4095 is less than one cluster (4096 bytes)");
	open_rejects(p, 15 * PG, 16, -EINVAL, "size 61440 is less than one cluster (65536 bytes)");
	CHECK(!exists(p));              /* refused before anything was created */
}

TEST(open_rejects_no_size_and_small_file)
{
	const char *p = tmp_path("nosize");

	/* A new file with no size given: made, found empty, removed again. */
	open_rejects(p, 0, 1, -EINVAL, "no size given and the file's 0 bytes are less than one");
	CHECK(!exists(p));
	/* An existing file too small for one cluster: refused and left as it was. */
	make_file(p, 3 * PG, 0x5a);
	open_rejects(p, 0, 4, -EINVAL, "file's 12288 bytes are less than one cluster (16384");
	CHECK_EQ(file_size(p), 3 * PG);
	CHECK_EQ(unlink(p), 0);
}

/*
 * posix_fallocate failing up front. RLIMIT_FSIZE makes it fail with EFBIG on any filesystem, for
 * any user (SIGXFSZ ignored so the kernel's signal does not end the test): a new file is removed,
 * an existing one keeps its length and contents.
 */
static int open_under_fsize_limit(struct swap_dev *sw, const char *path, uint64_t size,
				  rlim_t limit)
{
	struct rlimit old, lim;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
	int err;

	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = limit;
	CHECK_EQ(sigaction(SIGXFSZ, &ign, &old_sa), 0);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	err = swap_open(sw, path, size, 1);
	setrlimit(RLIMIT_FSIZE, &old);
	sigaction(SIGXFSZ, &old_sa, NULL);
	return err;
}

TEST(open_reports_no_space_up_front)
{
	const char *p = tmp_path("efbig");
	struct swap_dev sw;
	char buf[PG];
	int fd;

	mv_error_clear();
	CHECK_EQ(open_under_fsize_limit(&sw, p, 4 * MiB, 1 * MiB), -EFBIG);
	CHECK_CONTAINS(mv_error(), "efbig: cannot reserve 4194304 bytes (4 MiB): File too large");
	CHECK(!exists(p));

	make_file(p, 16 * KiB, 0x3c);
	mv_error_clear();
	CHECK_EQ(open_under_fsize_limit(&sw, p, 4 * MiB, 1 * MiB), -EFBIG);
	CHECK_CONTAINS(mv_error(), "cannot reserve 4194304 bytes");
	CHECK_EQ(file_size(p), 16 * KiB);
	fd = open(p, O_RDONLY);
	CHECK_GE(fd, 0);
	CHECK_EQ(pread(fd, buf, PG, 12 * KiB), (long long)PG);
	close(fd);
	for (unsigned i = 0; i < PG; i++)
		CHECK_EQ(buf[i], 0x3c);
	CHECK_EQ(unlink(p), 0);
}

/* ---- swap_open successes --------------------------------------------------------------------- */

TEST(open_rounds_down_and_reserves)
{
	struct swap_dev sw;
	struct swap_stats st;
	struct stat s;
	const char *p = tmp_path("round");
	int flags;

	/* 10 pages + 100 bytes with 4-page clusters: 2 clusters, 8 pages. */
	CHECK_EQ(swap_open(&sw, p, 10 * PG + 100, 4), 0);
	CHECK_EQ(stat(p, &s), 0);
	CHECK_EQ(s.st_size, 8 * PG);
	CHECK_GE((uint64_t)s.st_blocks * 512, 8 * PG);     /* reserved, not sparse */
	CHECK_EQ_U(s.st_mode & 0777, 0600);
	flags = fcntl(sw.fd, F_GETFD);
	CHECK(flags & FD_CLOEXEC);
	CHECK_EQ(fcntl(sw.fd, F_GETFL) & O_NONBLOCK, 0);
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.slots_total, 8);
	CHECK_EQ_U(st.slots_used, 0);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
	swap_close(&sw);                /* idempotent */
	CHECK(exists(p));               /* the file stays, its space reserved */
	CHECK_EQ(unlink(p), 0);
}

TEST(open_truncates_larger_file_and_keeps_smaller_size)
{
	struct swap_dev sw;
	struct swap_stats st;
	const char *p = tmp_path("trunc");

	make_file(p, MiB, 0x11);
	CHECK_EQ(swap_open(&sw, p, 64 * KiB, 1), 0);
	CHECK_EQ(file_size(p), 64 * KiB);
	swap_close(&sw);
	/* size 0: the existing file's size, rounded down to clusters (64 KiB / 8 pages = 2). */
	CHECK_EQ(swap_open(&sw, p, 0, 8), 0);
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.slots_total, 16);
	swap_close(&sw);
	/* A smaller existing file grows to the size asked for. */
	CHECK_EQ(swap_open(&sw, p, MiB, 2), 0);
	CHECK_EQ(file_size(p), MiB);
	swap_close(&sw);
	CHECK_EQ(unlink(p), 0);
}

/* ---- allocation ------------------------------------------------------------------------------ */

TEST(alloc_until_full_then_enospc)
{
	struct swap_dev sw;
	struct swap_stats st;
	uint64_t slot;
	const char *p = open_dev(&sw, "full", 16, 4);

	for (uint64_t i = 0; i < 16; i++) {
		CHECK_EQ(swap_alloc(&sw, &slot), 0);
		CHECK_EQ_U(slot, i * 4);
	}
	mv_error_clear();
	CHECK_EQ(swap_alloc(&sw, &slot), -ENOSPC);
	CHECK_CONTAINS(mv_error(), p);
	CHECK_CONTAINS(mv_error(), "full (16 clusters of 4 pages in use)");
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.slots_used, 64);
	CHECK_EQ_U(st.slots_total, 64);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

TEST(free_then_realloc_gets_the_freed_cluster)
{
	struct swap_dev sw;
	struct swap_stats st;
	uint64_t slot;

	open_dev(&sw, "realloc", 16, 4);
	for (unsigned i = 0; i < 16; i++)
		CHECK_EQ(swap_alloc(&sw, &slot), 0);
	swap_free(&sw, 20);
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.slots_used, 60);
	CHECK_EQ(swap_alloc(&sw, &slot), 0);
	CHECK_EQ_U(slot, 20);
	CHECK_EQ(swap_alloc(&sw, &slot), -ENOSPC);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

/*
 * Next-fit: the search starts after the cluster allocated last, so a freed cluster behind the
 * cursor is reused only after the search wraps.
 *
 *   alloc 0..4:        [A A A A A . . .]  cursor -> 5
 *   free 1, 3:         [A . A . A . . .]  cursor -> 5
 *   alloc x3:          [A . A . A A A A]  5, 6, 7   (not 1: next-fit, not first-fit)
 *   alloc x2:          [A A A A A A A A]  1, 3      (wrapped)
 */
TEST(next_fit_order)
{
	struct swap_dev sw;
	uint64_t slot;
	static const uint64_t want[] = { 5, 6, 7, 1, 3 };

	open_dev(&sw, "nextfit", 8, 2);
	for (uint64_t i = 0; i < 5; i++) {
		CHECK_EQ(swap_alloc(&sw, &slot), 0);
		CHECK_EQ_U(slot, i * 2);
	}
	swap_free(&sw, 1 * 2);
	swap_free(&sw, 3 * 2);
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(swap_alloc(&sw, &slot), 0);
		CHECK_EQ_U(slot, want[i] * 2);
	}
	CHECK_EQ(swap_alloc(&sw, &slot), -ENOSPC);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

/*
 * Model test: 200,000 random allocations and frees on 1000 clusters (not a multiple of 64, so
 * the last bitmap word is partial) against a model that predicts every next-fit answer.
 */
TEST(model_alloc_free)
{
	enum { NR = 1000, OPS = 200000 };
	static bool used[NR];
	static uint64_t live[NR];
	struct swap_dev sw;
	struct swap_stats st;
	struct mvt_rng rng;
	uint64_t cursor = 0, nlive = 0, slot;

	memset(used, 0, sizeof(used));
	open_dev(&sw, "model", NR, 1);
	mvt_rng_seed(&rng, 42);
	for (unsigned op = 0; op < OPS; op++) {
		/* Bias towards allocation until 3/4 full, then towards freeing, so both ends occur. */
		bool do_alloc = nlive == 0 || mvt_rng_below(&rng, 100) < (nlive < NR * 3 / 4 ? 70 : 30);

		if (do_alloc) {
			uint64_t want = NR;

			for (uint64_t k = 0; k < NR; k++)
				if (!used[(cursor + k) % NR]) {
					want = (cursor + k) % NR;
					break;
				}
			if (want == NR) {
				CHECK_EQ(swap_alloc(&sw, &slot), -ENOSPC);
				continue;
			}
			CHECK_EQ(swap_alloc(&sw, &slot), 0);
			CHECK_EQ_U(slot, want);
			used[want] = true;
			live[nlive++] = want;
			cursor = (want + 1) % NR;
		} else {
			uint64_t i = mvt_rng_below(&rng, nlive);

			swap_free(&sw, live[i]);
			used[live[i]] = false;
			live[i] = live[--nlive];
		}
		if (op % 10000 == 0)
			CHECK_EQ(swap_check(&sw), 0);
	}
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.slots_used, nlive);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

/* ---- BUGs: VMM misuse ------------------------------------------------------------------------ */

TEST(double_free_is_a_bug)
{
	struct swap_dev sw;
	uint64_t a, b;

	open_dev(&sw, "dfree", 4, 4);
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	CHECK_EQ(swap_alloc(&sw, &b), 0);
	swap_free(&sw, b);
	CHECK_BUG(swap_free(&sw, b));
	CHECK_CONTAINS(mvt_bug_what, "dfree: swap_free: slot 4 is not allocated (double free?)");
	CHECK_BUG(swap_free(&sw, 8));           /* never allocated */
	CHECK_CONTAINS(mvt_bug_what, "slot 8 is not allocated");
	/* The lock was dropped before the BUG: the device still works. */
	CHECK_EQ(swap_alloc(&sw, &b), 0);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

TEST(free_of_a_bad_slot_is_a_bug)
{
	struct swap_dev sw;
	uint64_t a;

	open_dev(&sw, "badfree", 4, 4);
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	CHECK_BUG(swap_free(&sw, a + 1));
	CHECK_CONTAINS(mvt_bug_what, "slot 1 is not the first slot of a cluster");
	CHECK_BUG(swap_free(&sw, 16));
	CHECK_CONTAINS(mvt_bug_what, "slot 16 is not the first slot of a cluster (4 clusters of 4");
	swap_free(&sw, a);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

TEST(io_outside_an_allocated_cluster_is_a_bug)
{
	static uint8_t buf[8 * PG];
	struct swap_dev sw;
	uint64_t a;
	int err = 0;

	open_dev(&sw, "badio", 4, 4);
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	CHECK_BUG(err = swap_write(&sw, 4, buf, 1));
	CHECK_CONTAINS(mvt_bug_what, "swap_write at slot 4: cluster is not allocated");
	CHECK_BUG(err = swap_read(&sw, 4, buf, 4));
	CHECK_CONTAINS(mvt_bug_what, "swap_read at slot 4: cluster is not allocated");
	CHECK_BUG(err = swap_write(&sw, a, buf, 0));
	CHECK_CONTAINS(mvt_bug_what, "swap_write of 0 pages at slot 0: not within one cluster");
	CHECK_BUG(err = swap_read(&sw, a, buf, 5));
	CHECK_CONTAINS(mvt_bug_what, "swap_read of 5 pages at slot 0");
	CHECK_BUG(err = swap_write(&sw, a + 2, buf, 3));        /* runs into the next cluster */
	CHECK_CONTAINS(mvt_bug_what, "swap_write of 3 pages at slot 2");
	CHECK_BUG(err = swap_read(&sw, 16, buf, 1));            /* past the end */
	CHECK_CONTAINS(mvt_bug_what, "swap_read of 1 pages at slot 16");
	CHECK_EQ(err, 0);
	swap_close(&sw);
}

/* ---- I/O ------------------------------------------------------------------------------------- */

/*
 * 256 clusters of 8 pages: write every cluster whole (one page pattern per slot), overwrite a
 * random sub-range of every cluster with a second generation, then read everything back — whole
 * clusters and single pages — and check every page's pattern and checksum.
 */
TEST(write_read_round_trip)
{
	enum { NR = 256, CP = 8 };
	static uint8_t buf[CP * PG];
	static uint8_t gen[NR * CP];
	struct swap_dev sw;
	struct swap_stats st;
	struct mvt_rng rng;
	uint64_t slot, wbytes = 0, rbytes = 0, nw = 0, nr = 0;

	open_dev(&sw, "rt", NR, CP);
	mvt_rng_seed(&rng, 7);
	for (uint64_t c = 0; c < NR; c++) {
		CHECK_EQ(swap_alloc(&sw, &slot), 0);
		CHECK_EQ_U(slot, c * CP);
		for (unsigned i = 0; i < CP; i++)
			fill_page(buf + i * PG, slot + i, 0);
		CHECK_EQ(swap_write(&sw, slot, buf, CP), 0);
		nw++, wbytes += CP * PG;
	}
	for (uint64_t c = 0; c < NR; c++) {
		unsigned off = (unsigned)mvt_rng_below(&rng, CP);
		unsigned n = 1 + (unsigned)mvt_rng_below(&rng, CP - off);

		for (unsigned i = 0; i < n; i++) {
			fill_page(buf + i * PG, c * CP + off + i, 1);
			gen[c * CP + off + i] = 1;
		}
		CHECK_EQ(swap_write(&sw, c * CP + off, buf, n), 0);
		nw++, wbytes += n * PG;
	}
	for (uint64_t c = 0; c < NR; c++) {
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(swap_read(&sw, c * CP, buf, CP), 0);
		nr++, rbytes += CP * PG;
		for (unsigned i = 0; i < CP; i++)
			if (!page_ok(buf + i * PG, c * CP + i, gen[c * CP + i]))
				mvt_fail(__FILE__, __LINE__, "slot %llu: bad contents after a cluster read",
					 (unsigned long long)(c * CP + i));
		for (unsigned i = 0; i < CP; i++) {
			memset(buf, 0, PG);
			CHECK_EQ(swap_read(&sw, c * CP + i, buf, 1), 0);
			nr++, rbytes += PG;
			CHECK(page_ok(buf, c * CP + i, gen[c * CP + i]));
		}
	}
	/* The checks above can fail: a page from a neighbouring slot does not pass. */
	CHECK(!page_ok(buf, 0, gen[0]));
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.writes, nw);
	CHECK_EQ_U(st.reads, nr);
	CHECK_EQ_U(st.bytes_written, wbytes);
	CHECK_EQ_U(st.bytes_read, rbytes);
	CHECK_EQ_U(st.write_errors, 0);
	CHECK_EQ_U(st.read_errors, 0);
	CHECK_EQ_U(st.slots_used, NR * CP);
	for (uint64_t c = 0; c < NR; c++)
		swap_free(&sw, c * CP);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

/* Arm site s of fi: probability 100, `times` failures, after `space` bytes have passed. */
static void arm(struct faultinj *fi, enum faultinj_site s, int64_t times, int64_t space)
{
	struct faultinj_spec spec = { .site = s, .k = { .probability = 100, .interval = 1,
							.times = times, .space = space,
							.verbose = 0 } };

	CHECK_EQ(faultinj_apply(fi, &spec), 0);
}

static void disarm(struct faultinj *fi, enum faultinj_site s)
{
	arm(fi, s, 0, 0);
}

TEST(injected_write_errors)
{
	static uint8_t buf[2 * PG];
	struct swap_dev sw;
	struct swap_stats st;
	struct faultinj fi;
	uint64_t a, calls, failures;
	const char *p = open_dev(&sw, "injw", 4, 2);

	faultinj_init(&fi, 7);
	sw.fi = &fi;
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	/* space: 2 + 1 pages pass first (Linux: while space > size), then every write fails */
	arm(&fi, FI_SWAP_WRITE_EIO, FAULT_ATTR_TIMES_UNLIMITED, 3 * PG + 1);
	CHECK_EQ(swap_write(&sw, a, buf, 2), 0);
	CHECK_EQ(swap_write(&sw, a, buf, 1), 0);
	mv_error_clear();
	CHECK_EQ(swap_write(&sw, a + 1, buf, 1), -EIO);
	CHECK_CONTAINS(mv_error(), p);
	CHECK_CONTAINS(mv_error(), "write of 1 pages at slot 1: Input/output error (injected)");
	CHECK_EQ(swap_write(&sw, a, buf, 2), -EIO);             /* until disarmed */
	CHECK_EQ(swap_read(&sw, a, buf, 2), 0);                  /* reads unaffected */
	disarm(&fi, FI_SWAP_WRITE_EIO);
	arm(&fi, FI_SWAP_WRITE_ENOSPC, 1, 0);                    /* fail once, another errno */
	CHECK_EQ(swap_write(&sw, a, buf, 2), -ENOSPC);
	CHECK_CONTAINS(mv_error(), "No space left on device (injected)");
	CHECK_EQ(swap_write(&sw, a, buf, 2), 0);                 /* times=1: spent */
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.writes, 3);
	CHECK_EQ_U(st.write_errors, 3);
	CHECK_EQ_U(st.bytes_written, 5 * PG);
	CHECK_EQ_U(st.reads, 1);
	CHECK_EQ_U(st.read_errors, 0);
	faultinj_counts(&fi, FI_SWAP_WRITE_EIO, &calls, &failures);
	CHECK_EQ_U(failures, 2);
	faultinj_counts(&fi, FI_SWAP_WRITE_ENOSPC, &calls, &failures);
	CHECK_EQ_U(failures, 1);
	swap_free(&sw, a);
	swap_close(&sw);
	faultinj_destroy(&fi);
}

/*
 * swap-write-short: the first pwrite really writes half the cluster, the continuation fails.
 * The slot's first half holds the new bytes, the second the old ones: a torn cluster, which is
 * why swap.h says a failed write's slots must not be read back (gmem frees them).
 */
TEST(injected_short_write_writes_half_then_fails)
{
	static uint8_t buf[2 * PG], back[2 * PG];
	struct swap_dev sw;
	struct swap_stats st;
	struct faultinj fi;
	uint64_t a;

	open_dev(&sw, "injs", 4, 2);
	faultinj_init(&fi, 7);
	sw.fi = &fi;
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	fill_page(buf, a, 1);
	fill_page(buf + PG, a + 1, 1);
	CHECK_EQ(swap_write(&sw, a, buf, 2), 0);                 /* generation 1 on disk */
	fill_page(buf, a, 2);
	fill_page(buf + PG, a + 1, 2);
	arm(&fi, FI_SWAP_WRITE_SHORT, 1, 0);
	mv_error_clear();
	CHECK_EQ(swap_write(&sw, a, buf, 2), -ENOSPC);
	CHECK_CONTAINS(mv_error(), "No space left on device after 4096 of 8192 bytes (injected)");
	CHECK_EQ(swap_read(&sw, a, back, 2), 0);
	CHECK(page_ok(back, a, 2));                              /* the half that was written */
	CHECK(page_ok(back + PG, a + 1, 1));                     /* the old half */
	CHECK_EQ(swap_write(&sw, a, buf, 2), 0);                 /* spent: writes whole again */
	CHECK_EQ(swap_read(&sw, a, back, 2), 0);
	CHECK(page_ok(back + PG, a + 1, 2));
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.write_errors, 1);
	CHECK_EQ_U(st.writes, 2);
	swap_free(&sw, a);
	swap_close(&sw);
	faultinj_destroy(&fi);
}

TEST(injected_read_errors)
{
	static uint8_t buf[PG];
	struct swap_dev sw;
	struct swap_stats st;
	struct faultinj fi;
	uint64_t a;
	const char *p = open_dev(&sw, "injr", 4, 1);

	faultinj_init(&fi, 7);
	sw.fi = &fi;
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	fill_page(buf, a, 3);
	CHECK_EQ(swap_write(&sw, a, buf, 1), 0);
	arm(&fi, FI_SWAP_READ_EIO, FAULT_ATTR_TIMES_UNLIMITED, PG + 1);  /* one read passes */
	CHECK_EQ(swap_read(&sw, a, buf, 1), 0);
	memset(buf, 0, sizeof(buf));
	mv_error_clear();
	CHECK_EQ(swap_read(&sw, a, buf, 1), -EIO);
	CHECK_CONTAINS(mv_error(), p);
	CHECK_CONTAINS(mv_error(), "read of 1 pages at slot 0: Input/output error (injected)");
	CHECK(!page_ok(buf, a, 3));                              /* no I/O was done */
	CHECK_EQ(swap_write(&sw, a, buf, 1), 0);                 /* writes unaffected */
	disarm(&fi, FI_SWAP_READ_EIO);
	fill_page(buf, a, 4);
	CHECK_EQ(swap_write(&sw, a, buf, 1), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(swap_read(&sw, a, buf, 1), 0);
	CHECK(page_ok(buf, a, 4));
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.reads, 2);
	CHECK_EQ_U(st.read_errors, 1);
	CHECK_EQ_U(st.write_errors, 0);
	swap_free(&sw, a);
	swap_close(&sw);
	faultinj_destroy(&fi);
}

/* A real error: someone truncates the file under the device; a read at the lost end is -EIO. */
TEST(read_past_end_of_file_is_eio)
{
	static uint8_t buf[2 * PG];
	struct swap_dev sw;
	struct swap_stats st;
	uint64_t a, b;
	const char *p = open_dev(&sw, "eof", 2, 2);

	CHECK_EQ(swap_alloc(&sw, &a), 0);
	CHECK_EQ(swap_alloc(&sw, &b), 0);
	CHECK_EQ(truncate(p, 3 * PG), 0);                       /* cuts cluster 1 in half */
	CHECK_EQ(swap_read(&sw, a, buf, 2), 0);
	mv_error_clear();
	CHECK_EQ(swap_read(&sw, b, buf, 2), -EIO);               /* short read, then EOF */
	CHECK_CONTAINS(mv_error(), p);
	CHECK_CONTAINS(mv_error(), "read of 2 pages at slot 2: Input/output error (end of file");
	CHECK_EQ(swap_read(&sw, b + 1, buf, 1), -EIO);           /* wholly past the end */
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.read_errors, 2);
	CHECK_EQ_U(st.reads, 1);
	swap_close(&sw);
}

/* A real write error: the descriptor is made read-only under the device (EBADF from pwrite). */
TEST(write_error_from_the_kernel)
{
	static uint8_t buf[PG];
	struct swap_dev sw;
	struct swap_stats st;
	uint64_t a;
	const char *p = open_dev(&sw, "ebadf", 1, 1);
	int ro = open(p, O_RDONLY | O_CLOEXEC);

	CHECK_GE(ro, 0);
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	CHECK_EQ(dup2(ro, sw.fd), sw.fd);
	close(ro);
	mv_error_clear();
	CHECK_EQ(swap_write(&sw, a, buf, 1), -EBADF);
	CHECK_CONTAINS(mv_error(), "ebadf: write of 1 pages at slot 0: Bad file descriptor");
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.write_errors, 1);
	CHECK_EQ(swap_read(&sw, a, buf, 1), 0);
	swap_free(&sw, a);
	swap_close(&sw);
}

/* ---- consistency check ----------------------------------------------------------------------- */

TEST(check_detects_corruption)
{
	struct swap_dev sw;
	uint64_t a;

	open_dev(&sw, "corrupt", 100, 1);          /* 100 clusters: words 0 and 1, 36 in the last */
	CHECK_EQ(swap_alloc(&sw, &a), 0);
	sw.bitmap[0] |= 1u << 5;                   /* marked but not counted */
	mv_error_clear();
	CHECK_EQ(swap_check(&sw), -EUCLEAN);
	CHECK_CONTAINS(mv_error(), "2 clusters marked in the bitmap but 1 counted as used");
	sw.bitmap[0] &= ~(UINT64_C(1) << 5);
	CHECK_EQ(swap_check(&sw), 0);
	sw.bitmap[1] |= UINT64_C(1) << 40;         /* cluster 104 does not exist */
	sw.used++;
	CHECK_EQ(swap_check(&sw), -EUCLEAN);
	CHECK_CONTAINS(mv_error(), "bits set past the last cluster (100)");
	sw.bitmap[1] &= ~(UINT64_C(1) << 40);
	sw.used--;
	sw.cursor = 100;
	CHECK_EQ(swap_check(&sw), -EUCLEAN);
	CHECK_CONTAINS(mv_error(), "cursor 100 is past the last cluster");
	sw.cursor = 1;
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}

/* ---- four threads ---------------------------------------------------------------------------- */

/*
 * Four threads share one device of 64 clusters of 4 pages (fewer than they try to hold, so ENOSPC
 * happens): each keeps up to 24 clusters (allocating twice as often as it frees), writes a pattern naming (slot, thread, round) to each
 * page of a new cluster, reads random held clusters back and checks them, and frees at random.
 * Afterwards the counters must add up and swap_check must pass.
 */
enum { TH = 4, TH_OPS = 3000, TH_HOLD = 24, TH_CP = 4, TH_CLUSTERS = 64 };

struct th_ctx {
	struct swap_dev *sw;
	unsigned id;
	uint64_t writes, reads, enospc, bad, errors;
	uint64_t held[TH_HOLD], held_gen[TH_HOLD];
	unsigned nheld;
};

static void *th_main(void *arg)
{
	struct th_ctx *t = arg;
	uint8_t *buf = malloc(TH_CP * PG);
	struct mvt_rng rng;

	mvt_rng_seed(&rng, 100 + t->id);
	for (uint64_t op = 0; op < TH_OPS && buf; op++) {
		unsigned what = (unsigned)mvt_rng_below(&rng, 4);  /* 0-1 alloc, 2 read, 3 free */
		uint64_t slot, gen = (uint64_t)t->id << 32 | op;

		if (what <= 1 && t->nheld < TH_HOLD) {
			int err = swap_alloc(t->sw, &slot);

			if (err == -ENOSPC) {
				t->enospc++;
				continue;
			}
			if (err) {
				t->errors++;
				continue;
			}
			for (unsigned i = 0; i < TH_CP; i++)
				fill_page(buf + i * PG, slot + i, gen);
			if (swap_write(t->sw, slot, buf, TH_CP))
				t->errors++;
			t->writes++;
			t->held[t->nheld] = slot;
			t->held_gen[t->nheld++] = gen;
		} else if (what == 2 && t->nheld) {
			unsigned k = (unsigned)mvt_rng_below(&rng, t->nheld);

			memset(buf, 0, TH_CP * PG);
			if (swap_read(t->sw, t->held[k], buf, TH_CP))
				t->errors++;
			t->reads++;
			for (unsigned i = 0; i < TH_CP; i++)
				if (!page_ok(buf + i * PG, t->held[k] + i, t->held_gen[k]))
					t->bad++;
		} else if (t->nheld) {
			unsigned k = (unsigned)mvt_rng_below(&rng, t->nheld);

			swap_free(t->sw, t->held[k]);
			t->nheld--;
			t->held[k] = t->held[t->nheld];
			t->held_gen[k] = t->held_gen[t->nheld];
		}
	}
	if (!buf)
		t->errors++;
	free(buf);
	return NULL;
}

TEST(four_threads_alloc_free_write_read)
{
	static struct th_ctx ctx[TH];
	struct swap_dev sw;
	struct swap_stats st;
	pthread_t th[TH];
	uint64_t writes = 0, reads = 0, enospc = 0, held = 0;

	open_dev(&sw, "threads", TH_CLUSTERS, TH_CP);
	for (unsigned i = 0; i < TH; i++) {
		memset(&ctx[i], 0, sizeof(ctx[i]));
		ctx[i].sw = &sw;
		ctx[i].id = i;
		CHECK_EQ(pthread_create(&th[i], NULL, th_main, &ctx[i]), 0);
	}
	for (unsigned i = 0; i < TH; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	for (unsigned i = 0; i < TH; i++) {
		CHECK_EQ_U(ctx[i].errors, 0);
		CHECK_EQ_U(ctx[i].bad, 0);
		writes += ctx[i].writes;
		reads += ctx[i].reads;
		enospc += ctx[i].enospc;
		held += ctx[i].nheld;
	}
	CHECK_GT(enospc, 0);                      /* the device did fill up */
	CHECK_GT(reads, 1000);
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.writes, writes);
	CHECK_EQ_U(st.reads, reads);
	CHECK_EQ_U(st.bytes_written, writes * TH_CP * PG);
	CHECK_EQ_U(st.slots_used, held * TH_CP);
	CHECK_EQ(swap_check(&sw), 0);
	for (unsigned i = 0; i < TH; i++)
		for (unsigned k = 0; k < ctx[i].nheld; k++)
			swap_free(&sw, ctx[i].held[k]);
	swap_get_stats(&sw, &st);
	CHECK_EQ_U(st.slots_used, 0);
	CHECK_EQ(swap_check(&sw), 0);
	swap_close(&sw);
}
