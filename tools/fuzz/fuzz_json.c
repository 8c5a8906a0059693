/* fuzz_json.c - the libFuzzer target of common/json.c: cf_json_validate()
 * and cf_json_quote() on the raw bytes of the input, with the checks of
 * jsoncheck.c (which the regression test runs too).
 *
 * The consumers reach json.c only through a decoded event's string (a
 * representation, a cart, a category name, a permission), behind the
 * decoder and the envelope checks; here every byte of the input reaches it
 * directly, so the fuzzer spends its time in the validator's states.
 *
 * A failed check aborts with its sentence on stderr: libFuzzer records the
 * input as a crash (CF_FUZZ_TOLERATE: as in fuzz_consumer.c).
 *
 * Thread: libFuzzer's (one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jsoncheck.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char problem[1024];
    if (cf_fuzz_json_check(data, size, problem, sizeof(problem)) < 0) {
        if (cf_fuzz_tolerated(getenv("CF_FUZZ_TOLERATE"), problem))
            return 0;
        fprintf(stderr, "cachefleet-fuzz-json: %s\n", problem);
        abort();
    }
    return 0;
}
