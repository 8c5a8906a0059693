/* clock.h - the two clocks the fleet reads.
 *
 * Monotonic time measures durations (round trips, backoff, lingering);
 * wall-clock time is compared with timestamps that came from elsewhere
 * (Kafka message timestamps, events' occurred_at).
 */
#ifndef CF_CLOCK_H
#define CF_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t cf_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t cf_mono_ms(void)
{
    return cf_mono_us() / 1000;
}

static inline int64_t cf_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t cf_wall_ms(void)
{
    return cf_wall_us() / 1000;
}

#endif
