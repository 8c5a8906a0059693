/* rng.h - the simulator's pseudo-random numbers: xoshiro256** seeded by
 * splitmix64.
 *
 * What it owns: turning one 64-bit seed into a reproducible stream of
 * numbers, uniform integers in a range, and UUID v4 strings.  What it does
 * not: any notion of what the numbers are for (the shop model decides).
 *
 * DESIGN
 * rand() is neither reproducible across C libraries nor good enough, so the
 * simulator carries its own generator: xoshiro256** (Blackman and Vigna),
 * whose 256-bit state is filled from the seed by splitmix64 as its authors
 * recommend.  Ranges use Lemire's multiply-and-reject method, so they are
 * unbiased and the stream is the same on every platform.  A generator is a
 * plain struct owned by its user; several independent streams are just
 * several structs seeded differently.
 *
 * Thread: any, one generator per thread.
 */
#ifndef CF_SIM_RNG_H
#define CF_SIM_RNG_H

#include <stdbool.h>
#include <stdint.h>

struct sim_rng {
    uint64_t s[4];
};

/* Length of a UUID string without its terminating NUL. */
#define SIM_UUID_LEN 36

/* Seeds rng from seed (any value, 0 included) and a stream number: the
 * same (seed, stream) always gives the same sequence, different streams
 * give unrelated ones. */
void sim_rng_seed(struct sim_rng *rng, uint64_t seed, uint64_t stream);

/* The next 64 random bits. */
uint64_t sim_rng_next(struct sim_rng *rng);

/* A uniform integer in [0, n); n must be > 0. */
uint32_t sim_rng_below(struct sim_rng *rng, uint32_t n);

/* A uniform integer in [lo, hi]; lo <= hi. */
int64_t sim_rng_range(struct sim_rng *rng, int64_t lo, int64_t hi);

/* True with probability per_mille / 1000. */
bool sim_rng_chance(struct sim_rng *rng, uint32_t per_mille);

/* A uniform double in [0, 1). */
double sim_rng_unit(struct sim_rng *rng);

/* Writes a random (version 4, RFC 4122 variant) UUID in lower-case hex with
 * hyphens into out, NUL-terminated: out must hold SIM_UUID_LEN + 1 bytes. */
void sim_rng_uuid(struct sim_rng *rng, char *out);

#endif
