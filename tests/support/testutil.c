/* testutil.c - small helpers shared by the cmocka programs. */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cf_test_schemas_dir(void)
{
    return CF_SOURCE_DIR "/schemas";
}

char *cf_test_program(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", CF_BUILD_DIR, name);
    return buf;
}

char *cf_test_tmpdir(const char *tag, char *buf, size_t size)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(buf, size, "%s/cachefleet-%s-XXXXXX", base, tag);
    if (!mkdtemp(buf))
        fail_msg("mkdtemp %s: %s", buf, strerror(errno));
    return buf;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void cf_test_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
