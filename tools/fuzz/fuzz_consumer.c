/* fuzz_consumer.c - the libFuzzer target of one consumer's decode-and-plan
 * path.
 *
 * What it owns: the two libFuzzer entry points.  Everything they run is
 * pipeline.c, which the regression test (tests/unit/test_fuzz_regress.c)
 * runs too, so a reproducer saved from here replays there without
 * libFuzzer.
 *
 * One program per consumer, compiled from this file with CF_FUZZ_CONSUMER
 * set to the consumer's name, rather than one program choosing the
 * consumer by the input's first byte: each consumer then has its own
 * corpus and coverage map, so libFuzzer's "new coverage" means new code of
 * that consumer, a seed of one topic is not wasted on the four decoders of
 * the other topics (whose schemas would reject it at once), and a crash
 * names its consumer in the program's name.
 *
 * Made once, in LLVMFuzzerInitialize, and reused for every input, as the
 * consumer program makes them once: the settings, the decoder of
 * CF_FUZZ_SCHEMAS_DIR (the project's schemas/, compiled in), a second one
 * that also knows the evolved writers of CF_FUZZ_EVOLVED_DIR, the
 * handlers and the plan.  The pointer to them is this program's only
 * global: libFuzzer's interface leaves no other place to keep them.
 *
 * A failed check aborts with its sentence on stderr: libFuzzer records the
 * input as a crash.  To keep fuzzing past a finding that is known but not
 * fixed yet, CF_FUZZ_TOLERATE may hold '|'-separated pieces of the
 * sentences to report (on stderr, once each) instead of aborting; memory
 * errors and undefined behaviour stay fatal, sanitizers report those.
 *
 * Thread: libFuzzer's (one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline.h"

#ifndef CF_FUZZ_CONSUMER
#error "CF_FUZZ_CONSUMER must name the consumer (\"products\", ...)"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cf_fuzz *fuzz;

static void fuzz_destroy(void)
{
    cf_fuzz_destroy(fuzz);
    fuzz = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[1024];
    const struct cf_consumer_def *def = cf_fuzz_consumer_def(CF_FUZZ_CONSUMER);
    if (!def) {
        fprintf(stderr, "cachefleet-fuzz: no consumer named %s\n", CF_FUZZ_CONSUMER);
        abort();
    }
    fuzz = cf_fuzz_new(def, CF_FUZZ_SCHEMAS_DIR, CF_FUZZ_EVOLVED_DIR, err, sizeof(err));
    if (!fuzz) {
        fprintf(stderr, "cachefleet-fuzz-%s: %s\n", CF_FUZZ_CONSUMER, err);
        abort();
    }
    atexit(fuzz_destroy);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char problem[1024];
    if (cf_fuzz_run(fuzz, data, size, NULL, problem, sizeof(problem)) < 0) {
        if (cf_fuzz_tolerated(getenv("CF_FUZZ_TOLERATE"), problem))
            return 0;
        fprintf(stderr, "cachefleet-fuzz-%s: %s\n", CF_FUZZ_CONSUMER, problem);
        abort();
    }
    return 0;
}
