// SPDX-License-Identifier: GPL-2.0
/*
 * vmclock_track - how far the guest's clock is from a vmclock page's line,
 * sampled at a fixed interval, for tools/guest-ways.
 *
 * usage: vmclock_track DEVICE SECONDS INTERVAL_MS [MIGRATE_AT MIGRATE_FILE]
 *        vmclock_track --reset
 *
 * Maps DEVICE (/dev/vmclockN) and, every INTERVAL_MS of CLOCK_MONOTONIC_RAW
 * for SECONDS, prints one line:
 *
 *   @@ T_MS OFF_NS BRACKET_NS MONO_NS MONO_BRACKET_NS MAXERR_US ESTERR_US
 *      UNSYNC
 *
 * T_MS is CLOCK_MONOTONIC_RAW since the start: no clock being steered
 * moves it. OFF_NS is CLOCK_REALTIME minus the page's UTC at a counter
 * value read between two clock reads, taken at their midpoint;
 * BRACKET_NS is the time between those reads, the sample's uncertainty
 * (large under emulation). MONO_NS is the same for CLOCK_MONOTONIC against
 * the page's time, less its value at the first sample: its slope is
 * CLOCK_MONOTONIC's rate error, unaffected by steps of CLOCK_REALTIME;
 * MONO_BRACKET_NS is its bracket.
 * MAXERR_US, ESTERR_US and UNSYNC are what adjtimex() without modes says:
 * the error bounds and STA_UNSYNC that users of the clock are told.
 *
 * With MIGRATE_AT, "1" is written to MIGRATE_FILE (the test provider's
 * migrate parameter) once MIGRATE_AT seconds have passed, and a line
 * "@@ migrate T_MS" says when.
 *
 * --reset puts NTP's state back to what a boot leaves, so that each way
 * starts from the same clock: no adjtime() or PLL offset, frequency 0, the
 * nominal tick, unsynchronised with unknown error bounds. It prints that
 * state as '@@ reset FREQ TICK STATUS MAXERR_US'.
 *
 * Exits 1 on bad arguments or when the page cannot be mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/timex.h>
#include <unistd.h>

#include "vmclock.h"

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static bool parse_u(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return !errno && *s && !*end && *v <= max;
}

/* Clock minus page at the midpoint of the bracket, and the bracket */
static enum vmclock_sample_result sample(const struct vmclock_abi *clk,
					 clockid_t id, __int128_t *off,
					 int64_t *bracket)
{
	enum vmclock_sample_result r;
	__int128_t t, t1, t2;

	r = vmclock_sample(clk, id, &t, &t1, &t2);
	if (r != VMCLOCK_SAMPLE_OK)
		return r;
	*off = t1 + (t2 - t1) / 2 - t;
	*bracket = (int64_t)vmclock_frac_ns(t2 - t1);
	return r;
}

static int reset(void)
{
	/* A pending adjtime() slew; singleshot cannot be combined */
	struct timex single = { .modes = ADJ_OFFSET_SINGLESHOT };
	/* A pending PLL offset is cleared by an offset of 0 in PLL mode */
	struct timex pll = { .modes = ADJ_STATUS | ADJ_OFFSET,
			     .status = STA_PLL | STA_UNSYNC };
	struct timex ntp = {
		.modes = ADJ_STATUS | ADJ_FREQUENCY | ADJ_TICK |
			 ADJ_MAXERROR | ADJ_ESTERROR,
		.status = STA_UNSYNC,
		.tick = 1000000 / sysconf(_SC_CLK_TCK),
		.maxerror = 16000000,
		.esterror = 16000000,
	};
	struct timex now = { .modes = 0 };

	if (adjtimex(&single) < 0 || adjtimex(&pll) < 0 ||
	    adjtimex(&ntp) < 0 || adjtimex(&now) < 0) {
		perror("adjtimex");
		return 1;
	}
	printf("@@ reset %ld %ld %d %ld\n", now.freq, now.tick, now.status,
	       now.maxerror);
	return 0;
}

static int migrate(const char *path)
{
	int fd = open(path, O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, "1\n", 2) == 2;
	close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned long secs, interval_ms, migrate_at = 0;
	const char *migrate_file = NULL;
	struct timespec start, now;
	__int128_t mono0 = 0, off;
	const struct vmclock_abi *clk;
	bool first = true;
	int64_t next_ns;
	int fd;

	if (argc == 2 && !strcmp(argv[1], "--reset"))
		return reset();
	if ((argc != 4 && argc != 6) ||
	    !parse_u(argv[2], 86400, &secs) ||
	    !parse_u(argv[3], 60000, &interval_ms) || !interval_ms ||
	    (argc == 6 && !parse_u(argv[4], secs, &migrate_at))) {
		fprintf(stderr, "usage: %s DEVICE SECONDS INTERVAL_MS"
			" [MIGRATE_AT MIGRATE_FILE]\n       %s --reset\n",
			argv[0], argv[0]);
		return 1;
	}
	if (argc == 6)
		migrate_file = argv[5];

	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	clk = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, 0);
	if (clk == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	clock_gettime(CLOCK_MONOTONIC_RAW, &start);
	next_ns = ts_ns(&start);
	for (;;) {
		struct timex tx = { .modes = 0 };
		int64_t bracket, mono_bracket, t_ms;
		__int128_t mono;
		int state;

		clock_gettime(CLOCK_MONOTONIC_RAW, &now);
		t_ms = (ts_ns(&now) - ts_ns(&start)) / 1000000;
		if (t_ms >= (int64_t)secs * 1000)
			break;
		if (migrate_file && t_ms >= (int64_t)migrate_at * 1000) {
			if (migrate(migrate_file)) {
				perror(migrate_file);
				return 1;
			}
			printf("@@ migrate %lld\n", (long long)t_ms);
			migrate_file = NULL;
		}

		if (sample(clk, CLOCK_REALTIME, &off, &bracket) !=
		    VMCLOCK_SAMPLE_OK ||
		    sample(clk, CLOCK_MONOTONIC, &mono, &mono_bracket) !=
		    VMCLOCK_SAMPLE_OK) {
			printf("@@ noline %lld\n", (long long)t_ms);
		} else {
			if (first)
				mono0 = mono;
			first = false;
			state = adjtimex(&tx);
			printf("@@ %lld %.0f %lld %.0f %lld %ld %ld %d\n",
			       (long long)t_ms, vmclock_frac_ns(off),
			       (long long)bracket, vmclock_frac_ns(mono - mono0),
			       (long long)mono_bracket, tx.maxerror, tx.esterror,
			       state == TIME_ERROR || (tx.status & STA_UNSYNC));
		}
		fflush(stdout);

		/* No sleep on CLOCK_MONOTONIC_RAW: sleep what is left of it */
		next_ns += interval_ms * 1000000;
		clock_gettime(CLOCK_MONOTONIC_RAW, &now);
		if (next_ns > ts_ns(&now)) {
			struct timespec left = {
				.tv_sec = (next_ns - ts_ns(&now)) / 1000000000,
				.tv_nsec = (next_ns - ts_ns(&now)) % 1000000000,
			};

			nanosleep(&left, NULL);
		}
	}
	return 0;
}
