/* prio: lowering the priority of the calling thread, for the threads that
 * record and print behind the proxy's event loop (store, tap). */
#ifndef KT_PRIO_H
#define KT_PRIO_H

#include <stdbool.h>

/* Set the calling thread's nice value (when nice != 0; Linux keeps it per
 * thread, setpriority(2) "BUGS") and, when idle, its policy to SCHED_IDLE.
 * Failure only costs the caller's throughput, so it is not reported. */
void prio_lower_thread(int nice, bool idle);

#endif
