/* decimal.h - integers as decimal text, without printf.
 *
 * The hot path writes several numbers per event (versions, times and TTLs
 * into the Redis call, a stock count into its value); snprintf costs about
 * 600 instructions a number (tools/bench/profile.sh), these a few dozen.
 * Neither writes a terminating NUL: the length is returned.
 */
#ifndef CF_DECIMAL_H
#define CF_DECIMAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CF_DECIMAL_MAX 20 /* digits of UINT64_MAX; a sign makes 20 for int64 too */

/* Writes n in decimal at out (CF_DECIMAL_MAX bytes of room). */
static inline size_t cf_fmt_u64(char *out, uint64_t n)
{
    static const char pairs[201] = "00010203040506070809"
                                   "10111213141516171819"
                                   "20212223242526272829"
                                   "30313233343536373839"
                                   "40414243444546474849"
                                   "50515253545556575859"
                                   "60616263646566676869"
                                   "70717273747576777879"
                                   "80818283848586878889"
                                   "90919293949596979899";
    char tmp[CF_DECIMAL_MAX];
    size_t i = sizeof(tmp);
    while (n >= 100) {
        unsigned k = (unsigned)(n % 100) * 2;
        n /= 100;
        tmp[--i] = pairs[k + 1];
        tmp[--i] = pairs[k];
    }
    if (n >= 10) {
        unsigned k = (unsigned)n * 2;
        tmp[--i] = pairs[k + 1];
        tmp[--i] = pairs[k];
    } else {
        tmp[--i] = (char)('0' + n);
    }
    size_t len = sizeof(tmp) - i;
    memcpy(out, tmp + i, len);
    return len;
}

/* Writes n in decimal at out (CF_DECIMAL_MAX bytes of room: INT64_MIN is
 * a sign and 19 digits). */
static inline size_t cf_fmt_i64(char *out, int64_t n)
{
    if (n >= 0)
        return cf_fmt_u64(out, (uint64_t)n);
    out[0] = '-';
    return 1 + cf_fmt_u64(out + 1, (uint64_t)0 - (uint64_t)n);
}

#endif
