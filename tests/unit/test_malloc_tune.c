/* test_malloc_tune.c - cf_malloc_tune(): glibc's mmap threshold fixed at
 * 1 MiB, unless GLIBC_TUNABLES says the operator tuned malloc.
 *
 * Each case runs in a child process: the threshold is process-wide and a
 * case must start from glibc's defaults (the runner itself never frees a
 * block large enough to move glibc's dynamic threshold).  The effect is
 * read with mallinfo2(): hblks counts the blocks that have an mmap of their
 * own.  Sanitizer builds replace malloc (mallopt and mallinfo2 do nothing
 * there): in them cf_malloc_tune() must say so, and there is no effect to
 * read. */
#include "runtime.h"
#include "testutil.h"

#include <malloc.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB 1024
#define MIB (1024 * 1024)

/* Exit codes of a child: which check failed. */
enum {
    OK = 0,
    WRONG_DECISION = 10,
    HALF_MIB_MMAPPED,
    HALF_MIB_IN_HEAP,
    TWO_MIB_IN_HEAP,
    AFTER_FREE_IN_HEAP,
    AFTER_FREE_MMAPPED,
    OUT_OF_MEMORY,
};

static size_t mmapped_blocks(void)
{
    return mallinfo2().hblks;
}

/* Is a block of size bytes an mmap of its own?  1 yes, 0 no, -1 no memory.
 * The block is written (kept) and freed. */
static int gets_own_mmap(size_t size)
{
    size_t before = mmapped_blocks();
    char *p = malloc(size);
    if (!p)
        return -1;
    volatile char *touch = p; /* kept: the compiler may not drop the block */
    touch[0] = touch[size - 1] = 1;
    int own = mmapped_blocks() > before;
    free(p);
    return own;
}

/* The child's checks with GLIBC_TUNABLES set (operator) or not. */
static int child(int tunables)
{
    if (tunables)
        setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2", 1);
    else
        unsetenv("GLIBC_TUNABLES");
    enum cf_malloc_tuning got = cf_malloc_tune();
    enum cf_malloc_tuning want =
        tunables ? CF_MALLOC_OPERATOR
                 : (CF_TEST_SANITIZED ? CF_MALLOC_UNAVAILABLE : CF_MALLOC_FIXED);
    if (got != want)
        return WRONG_DECISION;
    if (CF_TEST_SANITIZED)
        return OK;

    /* 512 KiB: above glibc's default threshold (128 KiB), below 1 MiB. */
    int own = gets_own_mmap(512 * KIB);
    if (own < 0)
        return OUT_OF_MEMORY;
    if (!tunables && own)
        return HALF_MIB_MMAPPED;
    if (tunables && !own)
        return HALF_MIB_IN_HEAP;
    /* 2 MiB gets its own mmap either way; its free is what makes glibc's
     * dynamic threshold rise to 2 MiB... */
    own = gets_own_mmap(2 * MIB);
    if (own < 0)
        return OUT_OF_MEMORY;
    if (!own)
        return TWO_MIB_IN_HEAP;
    /* ...so that with the defaults 1.5 MiB then stays in the heap, and with
     * the fixed threshold it still gets an mmap, given back when freed. */
    own = gets_own_mmap(3 * MIB / 2);
    if (own < 0)
        return OUT_OF_MEMORY;
    if (!tunables && !own)
        return AFTER_FREE_IN_HEAP;
    if (tunables && own)
        return AFTER_FREE_MMAPPED;
    return OK;
}

static const char *what(int code)
{
    switch (code) {
    case WRONG_DECISION:
        return "cf_malloc_tune() returned the wrong decision";
    case HALF_MIB_MMAPPED:
        return "512 KiB got its own mmap under the fixed 1 MiB threshold";
    case HALF_MIB_IN_HEAP:
        return "512 KiB came from the heap: the threshold was changed despite GLIBC_TUNABLES";
    case TWO_MIB_IN_HEAP:
        return "2 MiB came from the heap";
    case AFTER_FREE_IN_HEAP:
        return "after a 2 MiB free, 1.5 MiB came from the heap: the threshold moved";
    case AFTER_FREE_MMAPPED:
        return "after a 2 MiB free, 1.5 MiB got an mmap: glibc's dynamic threshold did not "
               "move (the defaults were not glibc's)";
    case OUT_OF_MEMORY:
        return "out of memory";
    }
    return "unknown exit code";
}

static void run_child(int tunables)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child(tunables));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    if (code != OK)
        fail_msg("%s: %s", tunables ? "GLIBC_TUNABLES set" : "no GLIBC_TUNABLES", what(code));
}

static void test_threshold_fixed(void **state)
{
    (void)state;
    run_child(0);
}

static void test_tunables_left_alone(void **state)
{
    (void)state;
    run_child(1);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(cf_malloc_tuning_name(CF_MALLOC_FIXED), "mmap threshold 1 MiB");
    assert_string_equal(cf_malloc_tuning_name(CF_MALLOC_OPERATOR), "GLIBC_TUNABLES");
    assert_string_equal(cf_malloc_tuning_name(CF_MALLOC_UNAVAILABLE), "allocator defaults");
    assert_int_equal(CF_MMAP_THRESHOLD, MIB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_fixed),
        cmocka_unit_test(test_tunables_left_alone),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
