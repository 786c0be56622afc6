/* prio: see prio.h. */
#include "config.h"
#include "util/prio.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void prio_lower_thread(int nice, bool idle)
{
	if (nice != 0)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
	if (idle) {
		struct sched_param sp = {.sched_priority = 0};
		(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	}
}
