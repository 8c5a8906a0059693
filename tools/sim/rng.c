/* rng.c - xoshiro256** seeded by splitmix64 (see rng.h).
 *
 * DESIGN
 * Straight from the reference implementations at prng.di.unimi.it, which
 * are public domain; nothing here allocates or fails.
 */
#include "rng.h"

#include <assert.h>
#include <stddef.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void sim_rng_seed(struct sim_rng *rng, uint64_t seed, uint64_t stream)
{
    /* Mix the stream number in first, so (seed, stream) pairs that differ
     * only in the stream do not share a splitmix64 sequence shifted by one. */
    uint64_t x = seed;
    uint64_t mix = stream * 0xd1b54a32d192ed03ULL;
    x ^= splitmix64(&mix);
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    /* An all-zero state would stay zero; splitmix64 never yields four zeros
     * in a row, but keep the invariant explicit. */
    assert(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]);
}

uint64_t sim_rng_next(struct sim_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t sim_rng_below(struct sim_rng *rng, uint32_t n)
{
    assert(n > 0);
    uint32_t x = (uint32_t)(sim_rng_next(rng) >> 32);
    uint64_t m = (uint64_t)x * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            x = (uint32_t)(sim_rng_next(rng) >> 32);
            m = (uint64_t)x * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

int64_t sim_rng_range(struct sim_rng *rng, int64_t lo, int64_t hi)
{
    assert(lo <= hi);
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0) /* the whole int64 range */
        return (int64_t)sim_rng_next(rng);
    if (span <= UINT32_MAX)
        return lo + (int64_t)sim_rng_below(rng, (uint32_t)span);
    /* Wide ranges are not used by the model; plain rejection keeps them
     * unbiased anyway. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % span);
    uint64_t x;
    do {
        x = sim_rng_next(rng);
    } while (x >= limit);
    return (int64_t)((uint64_t)lo + x % span);
}

bool sim_rng_chance(struct sim_rng *rng, uint32_t per_mille)
{
    return sim_rng_below(rng, 1000) < per_mille;
}

double sim_rng_unit(struct sim_rng *rng)
{
    return (double)(sim_rng_next(rng) >> 11) * 0x1.0p-53;
}

void sim_rng_uuid(struct sim_rng *rng, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t hi = sim_rng_next(rng), lo = sim_rng_next(rng);
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(hi >> (56 - 8 * i));
        b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0xf];
    }
    out[o] = '\0';
    assert(o == SIM_UUID_LEN);
}
