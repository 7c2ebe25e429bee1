// SPDX-License-Identifier: GPL-2.0
/*
 * A vmclock page for a guest whose hypervisor provides none, to test the
 * ptp_vmclock feed end to end. Test only: it makes up the time it
 * publishes. Never load it where the clock matters.
 *
 * At load it registers a "vmclock" platform device whose memory resource
 * is a page of its own, which the ptp_vmclock driver probes as it would a
 * hypervisor's. The page is a synchronised TAI line of the TSC that is
 * offset_us ahead of the guest's clock at load and runs ppm faster than
 * the kernel's nominal TSC rate, so that a clock that follows it must both
 * slew and change its rate. Every second the line is re-anchored at the
 * current TSC value without changing it, as a host republishes its
 * calibration. Writing 1 to the 'migrate' parameter does what a live
 * migration does: a new disruption marker, the line jumps by
 * migrate_offset_ms, and its rate changes by migrate_ppm (the new host's
 * counter calibration differs from the old one's).
 */

#include <linux/io.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <asm/tsc.h>
#include <uapi/linux/vmclock-abi.h>

static int offset_us = 5000;
module_param(offset_us, int, 0444);
MODULE_PARM_DESC(offset_us, "Page time minus guest time at load");

static int ppm = 20;
module_param(ppm, int, 0444);
MODULE_PARM_DESC(ppm, "Page rate minus the nominal TSC rate, in ppm");

static int migrate_offset_ms = 300;
module_param(migrate_offset_ms, int, 0644);
MODULE_PARM_DESC(migrate_offset_ms, "How far a migration moves the line");

static int migrate_ppm;
module_param(migrate_ppm, int, 0644);
MODULE_PARM_DESC(migrate_ppm, "How much a migration changes the line's rate, in ppm");

/* The period is in units of 2^-(64 + PERIOD_SHIFT) s */
#define PERIOD_SHIFT	24
/* TAI - UTC */
#define TAI_OFFSET	37

static struct vmclock_abi *page;
/* The period of the nominal TSC rate, in the page's units */
static u64 nominal_period;
static struct platform_device *pdev;
static struct delayed_work republish;
static DEFINE_MUTEX(page_lock);

/* The line's time at counter value c, in units of 2^-64 s */
static unsigned __int128 line_at(u64 c)
{
	unsigned __int128 t = ((unsigned __int128)le64_to_cpu(page->time_sec) << 64) +
			      le64_to_cpu(page->time_frac_sec);
	s64 delta = c - le64_to_cpu(page->counter_value);
	unsigned __int128 d;

	d = (unsigned __int128)(delta < 0 ? -(u64)delta : delta) *
	    le64_to_cpu(page->counter_period_frac_sec) >> PERIOD_SHIFT;
	return delta < 0 ? t - d : t + d;
}

/* @ms milliseconds in units of 2^-64 s; no 128-bit division in the kernel */
static unsigned __int128 ms_frac(u64 ms)
{
	return ((unsigned __int128)(ms / MSEC_PER_SEC) << 64) +
	       mul_u64_u64_div_u64(ms % MSEC_PER_SEC, 1ULL << 63,
				   MSEC_PER_SEC / 2);
}

static void set_line(u64 c, unsigned __int128 t)
{
	page->counter_value = cpu_to_le64(c);
	page->time_sec = cpu_to_le64((u64)(t >> 64));
	page->time_frac_sec = cpu_to_le64((u64)t);
}

/* The seq_count protocol of the ABI: odd while the fields change */
static void update_begin(void)
{
	le32_add_cpu(&page->seq_count, 1);
	virt_wmb();
}

static void update_end(void)
{
	virt_wmb();
	le32_add_cpu(&page->seq_count, 1);
}

static void republish_fn(struct work_struct *work)
{
	u64 c;

	mutex_lock(&page_lock);
	update_begin();
	c = rdtsc_ordered();
	set_line(c, line_at(c));
	update_end();
	mutex_unlock(&page_lock);
	schedule_delayed_work(&republish, HZ);
}

static int migrate_set(const char *val, const struct kernel_param *kp)
{
	unsigned __int128 jump;
	bool on;
	u64 c;
	int ret = kstrtobool(val, &on);

	if (ret || !on)
		return ret;
	/* Set at load time: there is no page yet */
	if (!page)
		return -EINVAL;
	mutex_lock(&page_lock);
	update_begin();
	c = rdtsc_ordered();
	jump = ms_frac(abs(migrate_offset_ms));
	set_line(c, migrate_offset_ms < 0 ? line_at(c) - jump : line_at(c) + jump);
	/* From c on; the line's time at c was taken at the old rate */
	ppm += migrate_ppm;
	page->counter_period_frac_sec =
		cpu_to_le64(mul_u64_u64_div_u64(nominal_period, 1000000 + ppm,
						1000000));
	le64_add_cpu(&page->disruption_marker, 1);
	update_end();
	mutex_unlock(&page_lock);
	return 0;
}

static const struct kernel_param_ops migrate_ops = {
	.set = migrate_set,
};
module_param_cb(migrate, &migrate_ops, NULL, 0200);
MODULE_PARM_DESC(migrate, "Write 1 to simulate a live migration");

static int __init provider_init(void)
{
	struct resource res;
	struct timespec64 ts;
	u64 period, c;
	s64 now_ns;

	if (!boot_cpu_has(X86_FEATURE_TSC) || !tsc_khz)
		return -ENODEV;

	page = (struct vmclock_abi *)get_zeroed_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;

	/* 2^(64 + PERIOD_SHIFT) / (tsc_khz * 1000), lengthened by ppm */
	nominal_period = mul_u64_u64_div_u64(1ULL << 63,
					     1ULL << (PERIOD_SHIFT + 1),
					     (u64)tsc_khz * 1000);
	period = mul_u64_u64_div_u64(nominal_period, 1000000 + ppm, 1000000);

	page->magic = cpu_to_le32(VMCLOCK_MAGIC);
	page->size = cpu_to_le32(PAGE_SIZE);
	page->version = cpu_to_le16(1);
	page->counter_id = VMCLOCK_COUNTER_X86_TSC;
	page->time_type = VMCLOCK_TIME_TAI;
	page->disruption_marker = cpu_to_le64(1);
	page->flags = cpu_to_le64(VMCLOCK_FLAG_TAI_OFFSET_VALID |
				  VMCLOCK_FLAG_TIME_ESTERROR_VALID |
				  VMCLOCK_FLAG_TIME_MAXERROR_VALID);
	page->clock_status = VMCLOCK_STATUS_SYNCHRONIZED;
	/* The offset from TAI to UTC, as the ABI has it: UTC - TAI */
	page->tai_offset_sec = cpu_to_le16((u16)-TAI_OFFSET);
	page->counter_period_shift = PERIOD_SHIFT;
	page->counter_period_frac_sec = cpu_to_le64(period);
	page->time_esterror_nanosec = cpu_to_le64(100);
	page->time_maxerror_nanosec = cpu_to_le64(1000);

	/*
	 * TAI is UTC plus the offset the page carries: the guest's
	 * CLOCK_REALTIME keeps its value when the feed adopts that offset.
	 */
	c = rdtsc_ordered();
	ktime_get_real_ts64(&ts);
	now_ns = timespec64_to_ns(&ts) + (s64)TAI_OFFSET * NSEC_PER_SEC +
		 (s64)offset_us * NSEC_PER_USEC;
	set_line(c, ((unsigned __int128)div_u64(now_ns, NSEC_PER_SEC) << 64) +
		    mul_u64_u64_div_u64(now_ns % NSEC_PER_SEC, 1ULL << 63,
					NSEC_PER_SEC / 2));
	page->seq_count = cpu_to_le32(2);

	res = DEFINE_RES_MEM(virt_to_phys(page), PAGE_SIZE);
	pdev = platform_device_register_simple("vmclock", PLATFORM_DEVID_AUTO,
					       &res, 1);
	if (IS_ERR(pdev)) {
		free_page((unsigned long)page);
		return PTR_ERR(pdev);
	}

	INIT_DELAYED_WORK(&republish, republish_fn);
	schedule_delayed_work(&republish, HZ);
	pr_info("vmclock_test_provider: TAI line %d us ahead, %d ppm fast\n",
		offset_us, ppm);
	return 0;
}

static void __exit provider_exit(void)
{
	platform_device_unregister(pdev);
	cancel_delayed_work_sync(&republish);
	free_page((unsigned long)page);
}

module_init(provider_init);
module_exit(provider_exit);
MODULE_DESCRIPTION("Test-only vmclock page provider");
MODULE_LICENSE("GPL");
