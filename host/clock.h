/* Wall time for timings and rates: seconds on the monotonic clock (not the time of day,
 * so a clock change cannot make an interval negative). */
#ifndef SENTEMBED_CLOCK_H
#define SENTEMBED_CLOCK_H

#include <time.h>

static inline double se_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
