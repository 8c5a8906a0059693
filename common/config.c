/* config.c - settings from defaults, a libconfig file and the environment.
 *
 * What it owns: filling the structs that settings tables describe
 * (config.h), the one-sentence errors that name a bad setting and where it
 * came from, the printed effective configuration and the Markdown
 * configuration reference.  What it does not own: which settings exist
 * (the tables belong to the runtime and the consumers) and checks that span
 * several settings (the runtime's).
 *
 * DESIGN
 * cf_config_load() runs in fixed steps:
 *   1. zero every member the tables name, so that whatever happens next the
 *      structs can be handed to cf_config_free() (the members are taken as
 *      uninitialised: a struct loaded before must be freed first);
 *   2. check the tables themselves (duplicate paths, min > max, ...): those
 *      are programming errors, reported as "settings table: ...";
 *   3. warn about unknown CACHEFLEET_ variables, first, so the warnings are
 *      there even when a later step fails;
 *   4. the defaults, 5. the file, 6. the environment, later ones winning.
 * Every value is parsed and checked (type, range, choices) by the layer that
 * sets it, so the error names that layer, and a bad value is an error even
 * when a later layer replaces it: a broken file is broken whatever the
 * environment says.
 *
 * The file is walked node by node rather than looked up setting by setting:
 * that is how a setting nobody asked for (a typo) is found, and errors come
 * in file order.  Only groups that lead to a known setting are entered, so
 * the walk is no deeper than the deepest path in the tables.
 *
 * A NULL or "" default means "none": the member is "" or 0 and is not held
 * to the setting's range or choices, so the runtime can tell that a required
 * setting was not given.
 *
 * Secrets: a value reaches an error message only through value_show(),
 * which writes "the value" for a CF_SETTING_SECRET setting, and
 * cf_config_print() writes "(set)" for them.  Twin files are named in
 * errors (a path is not a secret), their content never is.
 *
 * libconfig 1.5 stores an integer literal without the L suffix in 32 bits
 * and silently wraps larger ones (4294967297 reads as 1).  Since such a
 * value could pass a range check, every file libconfig read is scanned for
 * those literals first (section "32-bit literals"), and one is an error.
 *
 * Thread: main, once, before any other thread starts.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define ENV_PREFIX      "CACHEFLEET_"
#define TWIN_SUFFIX     "_file"
#define ENV_TWIN_SUFFIX "_FILE"

/* Longest setting path a table may use; the fixed buffers below hold a path
 * with the env prefix and the twin suffix. */
#define PATH_MAX_BYTES 192
#define NAME_BUF       (PATH_MAX_BYTES + 32)

/* A twin file holds one value, not a document: the bound keeps a wrong path
 * (a log file, /dev/zero) from eating memory. */
#define TWIN_MAX_BYTES (1024 * 1024)

/* How many bytes of a bad value an error quotes, and the room they need
 * once escaped (\xNN) and quoted. */
#define SHOW_MAX 64
#define SHOW_BUF (SHOW_MAX * 4 + 8)

#define LIST_BUF 512

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Property names that hold credentials: cf_config_print() hides their
 * values.  Matched case-insensitively anywhere in the name.  "key.pem"
 * (ssl.key.pem) is a private key and sasl.oauthbearer.config may carry a
 * client secret, so they are hidden too. */
static const char *const secret_property_words[] = {"password", "secret", "key.pem",
                                                    "oauthbearer.config", NULL};

struct loader {
    const struct cf_setting_table *tables;
    size_t ntables;
    const char *file; /* the configuration file while the file layer runs */
    char *warnings;
    size_t warnings_size;
    size_t warnings_len;
    char *errstr;
    size_t errstr_size;
};

/* A setting and the member it fills. */
struct slot {
    const struct cf_setting *s;
    void *member;
};

/* Where a value came from; all NULL: the table's default. */
struct origin {
    const char *file; /* the file layer: file and line of the node */
    unsigned line;
    const char *env;  /* the environment layer: the "NAME=value" entry */
    const char *twin; /* the value was read from this file */
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

static struct slot slot_of(const struct cf_setting_table *t, size_t i)
{
    struct slot sl;
    sl.s = &t->settings[i];
    sl.member = (char *)t->base + t->settings[i].offset;
    return sl;
}

static bool setting_is_secret(const struct cf_setting *s)
{
    return (s->flags & CF_SETTING_SECRET) != 0;
}

static bool setting_has_twin(const struct cf_setting *s)
{
    return (s->flags & CF_SETTING_FILE_TWIN) != 0;
}

/* Writes the environment name of path into buf (truncated to size) and
 * returns the length of the whole name. */
static size_t env_name_write(const char *path, char *buf, size_t size)
{
    size_t prefix_len = strlen(ENV_PREFIX);
    size_t n = 0;
    for (size_t i = 0; i < prefix_len; i++, n++) {
        if (n + 1 < size)
            buf[n] = ENV_PREFIX[i];
    }
    for (const char *p = path; *p; p++, n++) {
        if (n + 1 < size)
            buf[n] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    }
    if (size > 0)
        buf[n < size ? n : size - 1] = '\0';
    return n;
}

/* The first "name=value" entry of envp for name (as getenv finds it), or
 * NULL. */
static const char *env_find(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (char *const *e = envp; *e; e++) {
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e;
    }
    return NULL;
}

static const char *env_value(const char *entry)
{
    return strchr(entry, '=') + 1;
}

static bool contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return true;
    }
    return false;
}

static bool property_is_secret(const char *name)
{
    for (const char *const *w = secret_property_words; *w; w++) {
        if (contains_nocase(name, *w))
            return true;
    }
    return false;
}

/* How an error message names the kind of a file node. */
static const char *node_kind(const config_setting_t *node)
{
    switch (config_setting_type(node)) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a floating-point number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "an unknown kind of value";
    }
}

/* ------------------------------------------------------------------------
 * Errors and warnings
 * ------------------------------------------------------------------------ */

static int errorf(struct loader *ld, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int errorf(struct loader *ld, const char *fmt, ...)
{
    if (ld->errstr && ld->errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->errstr, ld->errstr_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Writes "<where>: setting <path>: <message>" into errstr and returns -1.
 * where is "file:line", "environment NAME" or "default", followed by
 * " (file F)" when the value was read from a twin file. */
static int setting_error(struct loader *ld, const struct origin *o, const char *path,
                         const char *fmt, ...) PRINTF_LIKE(4, 5);
static int setting_error(struct loader *ld, const struct origin *o, const char *path,
                         const char *fmt, ...)
{
    char *buf = ld->errstr;
    size_t size = ld->errstr_size;
    if (!buf || size == 0)
        return -1;

    int n;
    if (o->file)
        n = snprintf(buf, size, "%s:%u", o->file, o->line);
    else if (o->env)
        n = snprintf(buf, size, "environment %.*s", (int)strcspn(o->env, "="), o->env);
    else
        n = snprintf(buf, size, "default");
    size_t len = n < 0 ? 0 : (size_t)n;

    if (o->twin && len < size) {
        n = snprintf(buf + len, size - len, " (file %s)", o->twin);
        len += n < 0 ? 0 : (size_t)n;
    }
    if (len < size) {
        n = snprintf(buf + len, size - len, ": setting %s: ", path);
        len += n < 0 ? 0 : (size_t)n;
    }
    if (len < size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Writes how an error shows a value into buf: "the value" for a secret,
 * otherwise the text (quoted when quote is set), cut after SHOW_MAX bytes,
 * with control and non-ASCII bytes as \xNN so the error stays one line. */
static const char *value_show(const struct cf_setting *s, const char *text, bool quote, char *buf,
                              size_t size)
{
    static const char hex[] = "0123456789abcdef";
    if (setting_is_secret(s)) {
        snprintf(buf, size, "the value");
        return buf;
    }
    size_t n = 0;
    /* Every step below writes at most 4 bytes, and the end at most 5. */
    if (quote && n + 1 < size)
        buf[n++] = '"';
    size_t i;
    for (i = 0; text[i] && i < SHOW_MAX && n + 10 < size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 0xf];
        } else {
            buf[n++] = (char)c;
        }
    }
    if (text[i] && n + 4 < size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    if (quote && n + 1 < size)
        buf[n++] = '"';
    buf[n < size ? n : size - 1] = '\0';
    return buf;
}

/* Writes "a, b, c" into buf, cut with "..." when it does not fit. */
static const char *choices_list(const char *const *choices, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (const char *const *c = choices; *c; c++) {
        int n = snprintf(buf + len, size - len, "%s%s", c == choices ? "" : ", ", *c);
        if (n < 0 || (size_t)n >= size - len) {
            if (size > 4)
                memcpy(buf + size - 4, "...", 4);
            break;
        }
        len += (size_t)n;
    }
    return buf;
}

/* Appends one warning line; a line that does not fit is dropped whole. */
static void warning_add_env(struct loader *ld, const char *entry)
{
    if (!ld->warnings || ld->warnings_size == 0)
        return;
    size_t room = ld->warnings_size - ld->warnings_len;
    int n =
        snprintf(ld->warnings + ld->warnings_len, room,
                 "unknown environment variable %.*s ignored\n", (int)strcspn(entry, "="), entry);
    if (n < 0 || (size_t)n >= room)
        ld->warnings[ld->warnings_len] = '\0';
    else
        ld->warnings_len += (size_t)n;
}

/* ------------------------------------------------------------------------
 * Tables: zeroing, checking, finding settings by path
 * ------------------------------------------------------------------------ */

static bool table_usable(const struct cf_setting_table *t)
{
    return t->base && (t->settings || t->count == 0);
}

static void tables_zero(const struct cf_setting_table *tables, size_t ntables)
{
    for (size_t t = 0; tables && t < ntables; t++) {
        if (!table_usable(&tables[t]))
            continue;
        for (size_t i = 0; i < tables[t].count; i++) {
            struct slot sl = slot_of(&tables[t], i);
            switch (sl.s->type) {
            case CF_SETTING_STRING:
                *(char **)sl.member = NULL;
                break;
            case CF_SETTING_INT:
                *(long long *)sl.member = 0;
                break;
            case CF_SETTING_BOOL:
                *(int *)sl.member = 0;
                break;
            case CF_SETTING_PROPERTIES:
                memset(sl.member, 0, sizeof(struct cf_properties));
                break;
            }
        }
    }
}

/* A path is dot-separated names of letters, digits and '_', each starting
 * with a letter: what libconfig accepts as a name and a shell as a variable. */
static bool path_valid(const char *path)
{
    bool at_start = true;
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (at_start)
                return false;
            at_start = true;
        } else if (at_start) {
            if (!isalpha(c))
                return false;
            at_start = false;
        } else if (!isalnum(c) && c != '_') {
            return false;
        }
    }
    return !at_start;
}

/* True if a's path, as a group, holds b ("redis" holds "redis.port"). */
static bool path_holds(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && b[n] == '.';
}

/* True if b is a's twin "<a>_file". */
static bool path_is_twin_of(const char *b, const char *a)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && strcmp(b + n, TWIN_SUFFIX) == 0;
}

static int setting_check(struct loader *ld, const struct cf_setting *s)
{
    if (!s->path || !path_valid(s->path) || strlen(s->path) >= PATH_MAX_BYTES)
        return errorf(ld,
                      "settings table: setting \"%s\": a path is dot-separated names of "
                      "letters, digits and '_', shorter than %d bytes",
                      s->path ? s->path : "(null)", PATH_MAX_BYTES);
    switch (s->type) {
    case CF_SETTING_STRING:
        break;
    case CF_SETTING_INT:
        if (s->min > s->max)
            return errorf(ld, "settings table: setting %s: min %lld is above max %lld", s->path,
                          s->min, s->max);
        break;
    case CF_SETTING_BOOL:
        break;
    case CF_SETTING_PROPERTIES:
        if (setting_has_twin(s) || (s->def && *s->def))
            return errorf(ld,
                          "settings table: setting %s: a properties setting has no default "
                          "and no file twin",
                          s->path);
        break;
    default:
        return errorf(ld, "settings table: setting %s: unknown type %d", s->path, (int)s->type);
    }
    if (s->choices && s->type != CF_SETTING_STRING)
        return errorf(ld, "settings table: setting %s: only a string setting has choices", s->path);
    return 0;
}

/* Two settings must not share a path, an environment name, a group/value
 * position or a twin name: each would make one of them unreachable. */
static int setting_pair_check(struct loader *ld, const struct cf_setting *a,
                              const struct cf_setting *b)
{
    char ea[NAME_BUF], eb[NAME_BUF];
    if (strcmp(a->path, b->path) == 0)
        return errorf(ld, "settings table: setting %s is defined twice", a->path);
    env_name_write(a->path, ea, sizeof(ea));
    env_name_write(b->path, eb, sizeof(eb));
    if (strcmp(ea, eb) == 0)
        return errorf(ld, "settings table: settings %s and %s share the environment variable %s",
                      a->path, b->path, ea);
    if (path_holds(a->path, b->path) || path_holds(b->path, a->path))
        return errorf(ld, "settings table: settings %s and %s: one is inside the other", a->path,
                      b->path);
    if ((setting_has_twin(a) && path_is_twin_of(b->path, a->path)) ||
        (setting_has_twin(b) && path_is_twin_of(a->path, b->path)))
        return errorf(ld, "settings table: settings %s and %s: one is the other's file twin",
                      a->path, b->path);
    return 0;
}

static int tables_check(struct loader *ld)
{
    if (ld->ntables > 0 && !ld->tables)
        return errorf(ld, "settings table: no tables given");
    for (size_t t = 0; t < ld->ntables; t++) {
        if (!table_usable(&ld->tables[t]))
            return errorf(ld, "settings table %zu: no settings or no struct to fill", t);
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            if (setting_check(ld, &ld->tables[t].settings[i]) != 0)
                return -1;
        }
    }
    /* Quadratic, on a few dozen settings, once per program start. */
    for (size_t t = 0; t < ld->ntables; t++) {
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            for (size_t u = t; u < ld->ntables; u++) {
                for (size_t j = (u == t ? i + 1 : 0); j < ld->tables[u].count; j++) {
                    if (setting_pair_check(ld, &ld->tables[t].settings[i],
                                           &ld->tables[u].settings[j]) != 0)
                        return -1;
                }
            }
        }
    }
    return 0;
}

static bool slot_find(const struct loader *ld, const char *path, struct slot *out)
{
    for (size_t t = 0; t < ld->ntables; t++) {
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            if (strcmp(ld->tables[t].settings[i].path, path) == 0) {
                *out = slot_of(&ld->tables[t], i);
                return true;
            }
        }
    }
    return false;
}

/* Finds the FILE_TWIN setting whose twin path is path. */
static bool twin_find(const struct loader *ld, const char *path, struct slot *out)
{
    for (size_t t = 0; t < ld->ntables; t++) {
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            const struct cf_setting *s = &ld->tables[t].settings[i];
            if (setting_has_twin(s) && path_is_twin_of(path, s->path)) {
                *out = slot_of(&ld->tables[t], i);
                return true;
            }
        }
    }
    return false;
}

/* True if path is a group that holds a known setting. */
static bool group_find(const struct loader *ld, const char *path)
{
    for (size_t t = 0; t < ld->ntables; t++) {
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            if (path_holds(path, ld->tables[t].settings[i].path))
                return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------
 * Values: parsing text, checking, storing
 * ------------------------------------------------------------------------ */

enum int_parse_result { INT_OK, INT_SYNTAX, INT_OVERFLOW };

/* Decimal only ("010" is ten, not eight), an optional sign, nothing around
 * it: strtoll alone would take " 12", "12abc" and "". */
static enum int_parse_result int_parse(const char *text, long long *out)
{
    const char *digits = (text[0] == '-' || text[0] == '+') ? text + 1 : text;
    if (!isdigit((unsigned char)digits[0]))
        return INT_SYNTAX;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end != '\0')
        return INT_SYNTAX;
    if (errno == ERANGE)
        return INT_OVERFLOW;
    *out = v;
    return INT_OK;
}

static int bool_parse(const char *text, int *out)
{
    static const char *const yes[] = {"true", "1", "yes"};
    static const char *const no[] = {"false", "0", "no"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int string_store(struct loader *ld, const struct slot *sl, const char *text,
                        const struct origin *o)
{
    char *copy = strdup(text);
    if (!copy)
        return setting_error(ld, o, sl->s->path, "out of memory");
    char **member = sl->member;
    free(*member);
    *member = copy;
    return 0;
}

static int int_store(struct loader *ld, const struct slot *sl, long long v, const struct origin *o)
{
    const struct cf_setting *s = sl->s;
    if (v < s->min || v > s->max) {
        char num[32], shown[SHOW_BUF];
        snprintf(num, sizeof(num), "%lld", v);
        return setting_error(ld, o, s->path, "%s is out of range %lld..%lld",
                             value_show(s, num, false, shown, sizeof(shown)), s->min, s->max);
    }
    *(long long *)sl->member = v;
    return 0;
}

/* Sets a string, integer or boolean from text: a default, an environment
 * variable or a twin file's content. */
static int text_apply(struct loader *ld, const struct slot *sl, const char *text,
                      const struct origin *o)
{
    const struct cf_setting *s = sl->s;
    char shown[SHOW_BUF];
    switch (s->type) {
    case CF_SETTING_STRING:
        if (s->choices) {
            const char *const *c = s->choices;
            while (*c && strcmp(*c, text) != 0)
                c++;
            if (!*c) {
                char list[LIST_BUF];
                return setting_error(ld, o, s->path, "%s is not one of: %s",
                                     value_show(s, text, true, shown, sizeof(shown)),
                                     choices_list(s->choices, list, sizeof(list)));
            }
        }
        return string_store(ld, sl, text, o);
    case CF_SETTING_INT: {
        long long v = 0;
        switch (int_parse(text, &v)) {
        case INT_OK:
            return int_store(ld, sl, v, o);
        case INT_SYNTAX:
            return setting_error(ld, o, s->path, "%s is not an integer",
                                 value_show(s, text, true, shown, sizeof(shown)));
        case INT_OVERFLOW:
            return setting_error(ld, o, s->path, "%s is out of range %lld..%lld",
                                 value_show(s, text, true, shown, sizeof(shown)), s->min, s->max);
        }
        break;
    }
    case CF_SETTING_BOOL: {
        int b;
        if (bool_parse(text, &b) != 0)
            return setting_error(ld, o, s->path,
                                 "%s is not a boolean (true, false, yes, no, 1 or 0)",
                                 value_show(s, text, true, shown, sizeof(shown)));
        *(int *)sl->member = b;
        return 0;
    }
    case CF_SETTING_PROPERTIES:
        break;
    }
    /* Not reached: tables_check() and the callers keep properties away. */
    return setting_error(ld, o, s->path, "cannot be set from a single value");
}

/* Sets name (copied) to value (copied), replacing the value of a name that
 * is there already.  Returns 0, or -1 when out of memory (props unchanged). */
static int properties_set(struct cf_properties *props, const char *name, const char *value)
{
    for (size_t i = 0; i < props->count; i++) {
        if (strcmp(props->names[i], name) == 0) {
            char *v = strdup(value);
            if (!v)
                return -1;
            free(props->values[i]);
            props->values[i] = v;
            return 0;
        }
    }
    char *n = strdup(name);
    char *v = strdup(value);
    if (!n || !v)
        goto fail;
    /* Grown one at a time: a handful of properties per program.  If the
     * second realloc fails, names is merely larger than count says. */
    char **names = realloc(props->names, (props->count + 1) * sizeof(*names));
    if (!names)
        goto fail;
    props->names = names;
    char **values = realloc(props->values, (props->count + 1) * sizeof(*values));
    if (!values)
        goto fail;
    props->values = values;
    props->names[props->count] = n;
    props->values[props->count] = v;
    props->count++;
    return 0;

fail:
    free(n);
    free(v);
    return -1;
}

enum twin_read_result { TWIN_OK, TWIN_ERRNO, TWIN_TOO_BIG, TWIN_NUL };

/* Reads a twin file into *text (malloc'd, the caller frees it), less one
 * trailing "\n" or "\r\n".  On TWIN_ERRNO, *err is the errno. */
static enum twin_read_result twin_read(const char *file, char **text, int *err)
{
    enum twin_read_result rc = TWIN_ERRNO;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    FILE *f = fopen(file, "rb");
    if (!f) {
        *err = errno;
        return TWIN_ERRNO;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                *err = ENOMEM;
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        errno = 0;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len > TWIN_MAX_BYTES) {
            rc = TWIN_TOO_BIG;
            goto fail;
        }
        if (got == 0) {
            if (ferror(f)) {
                *err = errno ? errno : EIO;
                goto fail;
            }
            break;
        }
    }
    if (len >= 2 && buf[len - 2] == '\r' && buf[len - 1] == '\n')
        len -= 2;
    else if (len >= 1 && buf[len - 1] == '\n')
        len -= 1;
    if (memchr(buf, '\0', len)) {
        rc = TWIN_NUL;
        goto fail;
    }
    buf[len] = '\0';
    fclose(f);
    *text = buf;
    return TWIN_OK;

fail:
    free(buf);
    fclose(f);
    return rc;
}

/* Sets a setting from the content of the twin file named by origin o. */
static int twin_apply(struct loader *ld, const struct slot *sl, const char *file,
                      const struct origin *o)
{
    char *text = NULL;
    int err = 0;
    switch (twin_read(file, &text, &err)) {
    case TWIN_OK:
        break;
    case TWIN_ERRNO:
        return setting_error(ld, o, sl->s->path, "cannot read the file %s: %s", file,
                             strerror(err));
    case TWIN_TOO_BIG:
        return setting_error(ld, o, sl->s->path, "the file %s is larger than %d bytes", file,
                             TWIN_MAX_BYTES);
    case TWIN_NUL:
        return setting_error(ld, o, sl->s->path, "the file %s contains a NUL byte", file);
    }
    struct origin from_twin = *o;
    from_twin.twin = file;
    int rc = text_apply(ld, sl, text, &from_twin);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------------
 * Layer 1: defaults
 * ------------------------------------------------------------------------ */

static int defaults_apply(struct loader *ld)
{
    const struct origin o = {0};
    for (size_t t = 0; t < ld->ntables; t++) {
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            struct slot sl = slot_of(&ld->tables[t], i);
            if (sl.s->type == CF_SETTING_PROPERTIES)
                continue;
            if (!sl.s->def || !*sl.s->def) {
                /* None: "" or the 0 tables_zero() left, unchecked. */
                if (sl.s->type == CF_SETTING_STRING && string_store(ld, &sl, "", &o) != 0)
                    return -1;
                continue;
            }
            if (text_apply(ld, &sl, sl.s->def, &o) != 0)
                return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Layer 2: the libconfig file
 * ------------------------------------------------------------------------ */

static struct origin node_origin(const struct loader *ld, const config_setting_t *node)
{
    struct origin o = {0};
    o.file = config_setting_source_file(node) ? config_setting_source_file(node) : ld->file;
    o.line = config_setting_source_line(node);
    return o;
}

/* The sibling of node named name + suffix, or name less suffix (strip). */
static const config_setting_t *sibling_find(const config_setting_t *node, const char *suffix,
                                            bool strip)
{
    char name[NAME_BUF];
    const char *own = config_setting_name(node);
    size_t len = strlen(own);
    int n;
    if (strip)
        n = snprintf(name, sizeof(name), "%.*s", (int)(len - strlen(suffix)), own);
    else
        n = snprintf(name, sizeof(name), "%s%s", own, suffix);
    if (n < 0 || (size_t)n >= sizeof(name))
        return NULL;
    return config_setting_get_member(config_setting_parent(node), name);
}

static int file_properties(struct loader *ld, const struct slot *sl, const config_setting_t *node,
                           const struct origin *o)
{
    if (!config_setting_is_group(node))
        return setting_error(ld, o, sl->s->path, "expected a group of name = value pairs, not %s",
                             node_kind(node));
    unsigned count = (unsigned)config_setting_length(node);
    for (unsigned i = 0; i < count; i++) {
        const config_setting_t *child = config_setting_get_elem(node, i);
        struct origin co = node_origin(ld, child);
        char path[NAME_BUF + 64];
        snprintf(path, sizeof(path), "%s.%s", sl->s->path, config_setting_name(child));

        char num[32];
        const char *value;
        switch (config_setting_type(child)) {
        case CONFIG_TYPE_STRING:
            value = config_setting_get_string(child);
            break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
            snprintf(num, sizeof(num), "%lld", config_setting_get_int64(child));
            value = num;
            break;
        case CONFIG_TYPE_BOOL:
            value = config_setting_get_bool(child) ? "true" : "false";
            break;
        default:
            return setting_error(ld, &co, path,
                                 "expected a string, an integer or a boolean, not %s",
                                 node_kind(child));
        }

        char *name = strdup(config_setting_name(child));
        if (!name)
            return setting_error(ld, &co, path, "out of memory");
        for (char *p = name; *p; p++) {
            if (*p == '_')
                *p = '.';
        }
        int rc = properties_set(sl->member, name, value);
        free(name);
        if (rc != 0)
            return setting_error(ld, &co, path, "out of memory");
    }
    return 0;
}

/* A node at the path of a known setting. */
static int file_value(struct loader *ld, const struct slot *sl, const config_setting_t *node)
{
    const struct cf_setting *s = sl->s;
    struct origin o = node_origin(ld, node);
    if (setting_has_twin(s) && sibling_find(node, TWIN_SUFFIX, false))
        return setting_error(ld, &o, s->path, "both %s and %s" TWIN_SUFFIX " are given; give one",
                             s->path, s->path);

    switch (s->type) {
    case CF_SETTING_STRING:
        if (config_setting_type(node) != CONFIG_TYPE_STRING)
            return setting_error(ld, &o, s->path, "expected a string, not %s", node_kind(node));
        return text_apply(ld, sl, config_setting_get_string(node), &o);
    case CF_SETTING_INT:
        if (config_setting_type(node) != CONFIG_TYPE_INT &&
            config_setting_type(node) != CONFIG_TYPE_INT64)
            return setting_error(ld, &o, s->path, "expected an integer, not %s", node_kind(node));
        return int_store(ld, sl, config_setting_get_int64(node), &o);
    case CF_SETTING_BOOL:
        if (config_setting_type(node) != CONFIG_TYPE_BOOL)
            return setting_error(ld, &o, s->path, "expected a boolean (true or false), not %s",
                                 node_kind(node));
        *(int *)sl->member = config_setting_get_bool(node) ? 1 : 0;
        return 0;
    case CF_SETTING_PROPERTIES:
        return file_properties(ld, sl, node, &o);
    }
    return setting_error(ld, &o, s->path, "unknown setting type");
}

/* A node at "<path>_file" of a FILE_TWIN setting. */
static int file_twin(struct loader *ld, const struct slot *sl, const config_setting_t *node,
                     const char *twin_path)
{
    struct origin o = node_origin(ld, node);
    if (sibling_find(node, TWIN_SUFFIX, true))
        return setting_error(ld, &o, sl->s->path, "both %s and %s are given; give one", sl->s->path,
                             twin_path);
    if (config_setting_type(node) != CONFIG_TYPE_STRING)
        return setting_error(ld, &o, twin_path, "expected a string (the path of a file), not %s",
                             node_kind(node));
    return twin_apply(ld, sl, config_setting_get_string(node), &o);
}

static int file_group_walk(struct loader *ld, const config_setting_t *group, const char *prefix);

static int file_node(struct loader *ld, const config_setting_t *node, const char *path)
{
    struct slot sl;
    if (slot_find(ld, path, &sl))
        return file_value(ld, &sl, node);
    if (twin_find(ld, path, &sl))
        return file_twin(ld, &sl, node, path);
    struct origin o = node_origin(ld, node);
    if (group_find(ld, path)) {
        if (!config_setting_is_group(node))
            return setting_error(ld, &o, path, "expected a group of settings, not %s",
                                 node_kind(node));
        return file_group_walk(ld, node, path);
    }
    return errorf(ld, "%s:%u: unknown setting %s", o.file, o.line, path);
}

static int file_group_walk(struct loader *ld, const config_setting_t *group, const char *prefix)
{
    unsigned count = (unsigned)config_setting_length(group);
    for (unsigned i = 0; i < count; i++) {
        const config_setting_t *node = config_setting_get_elem(group, i);
        const char *name = config_setting_name(node);
        char path[NAME_BUF];
        int n = *prefix ? snprintf(path, sizeof(path), "%s.%s", prefix, name)
                        : snprintf(path, sizeof(path), "%s", name);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            /* Longer than any path a table may hold. */
            struct origin o = node_origin(ld, node);
            return errorf(ld, "%s:%u: unknown setting %s%s%s", o.file, o.line, prefix,
                          *prefix ? "." : "", name);
        }
        if (file_node(ld, node, path) != 0)
            return -1;
    }
    return 0;
}

/* ---- 32-bit literals ----
 * A small lexer over libconfig's syntax (comments #, // and block, strings
 * with backslash escapes, names, numbers) that finds integer literals
 * libconfig 1.5 would wrap: decimal outside int, hex above 0xffffffff, both
 * without the L suffix.  It only has to tell numbers from everything else. */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

/* Checks one token that starts like a number.  Tokens that are not
 * integers (floats, the L-suffixed, a lone sign) pass: libconfig judges
 * those itself. */
static bool literal_fits(const char *token)
{
    size_t len = strlen(token);
    const char *digits = (token[0] == '-' || token[0] == '+') ? token + 1 : token;
    bool hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    if (!isdigit((unsigned char)digits[0]) || token[len - 1] == 'L')
        return true;
    if (!hex && strpbrk(token, ".eE"))
        return true;
    char *end;
    errno = 0;
    if (hex) {
        unsigned long long v = strtoull(digits + 2, &end, 16);
        return errno != ERANGE && v <= 0xffffffffULL;
    }
    long long v = strtoll(token, &end, 10);
    return errno != ERANGE && v >= INT_MIN && v <= INT_MAX;
}

static int literal_error(struct loader *ld, const char *file, unsigned line, const char *token)
{
    return errorf(ld,
                  "%s:%u: integer %s does not fit in 32 bits and libconfig 1.5 would wrap it; "
                  "write %sL",
                  file, line, token, token);
}

static int literals_check(struct loader *ld, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return 0; /* libconfig has just read it; nothing to add */
    int rc = 0;
    unsigned line = 1;
    char token[64];
    size_t len = 0;
    bool in_number = false, overlong = false;
    int c, prev = '\n';
    enum { CODE, NAME, LINE_COMMENT, BLOCK_COMMENT, STRING, STRING_ESCAPE } state = CODE;

    while ((c = getc(f)) != EOF) {
        if (in_number) {
            bool hex = len > 1 && (token[1] == 'x' || token[1] == 'X');
            bool exp_sign = (c == '+' || c == '-') && (prev == 'e' || prev == 'E') && !hex;
            if (isalnum(c) || c == '.' || exp_sign) {
                if (len < sizeof(token) - 1)
                    token[len++] = (char)c;
                else
                    overlong = true;
                prev = c;
                continue;
            }
            in_number = false;
            token[len] = '\0';
            /* An overlong token is not judged: its end (an L?) is lost. */
            if (!overlong && !literal_fits(token)) {
                rc = literal_error(ld, file, line, token);
                break;
            }
        }
        /* The character that ends a name is code: '#' may start a comment. */
        if (state == NAME && !name_char((char)c))
            state = CODE;
        switch (state) {
        case NAME:
            break;
        case CODE:
            if (c == '#' || (c == '/' && prev == '/')) {
                state = LINE_COMMENT;
            } else if (c == '*' && prev == '/') {
                state = BLOCK_COMMENT;
                c = 0; /* the '*' of the opening does not close it */
            } else if (c == '"') {
                state = STRING;
            } else if (isalpha(c) || c == '*') {
                state = NAME;
            } else if (isdigit(c) || c == '-' || c == '+' || c == '.') {
                in_number = true;
                overlong = false;
                token[0] = (char)c;
                len = 1;
            }
            break;
        case LINE_COMMENT:
            if (c == '\n')
                state = CODE;
            break;
        case BLOCK_COMMENT:
            if (c == '/' && prev == '*')
                state = CODE;
            break;
        case STRING:
            if (c == '\\')
                state = STRING_ESCAPE;
            else if (c == '"')
                state = CODE;
            break;
        case STRING_ESCAPE:
            state = STRING;
            break;
        }
        if (c == '\n')
            line++;
        prev = c;
    }
    if (rc == 0 && in_number) {
        token[len] = '\0';
        if (!overlong && !literal_fits(token))
            rc = literal_error(ld, file, line, token);
    }
    fclose(f);
    return rc;
}

static int file_load(struct loader *ld, const char *path)
{
    /* libconfig reports a missing file as "file I/O error" without the
     * reason; opening it first gives the reason, and catches a directory. */
    FILE *f = fopen(path, "r");
    if (!f)
        return errorf(ld, "%s: cannot open the configuration file: %s", path, strerror(errno));
    struct stat st;
    bool is_dir = fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode);
    fclose(f);
    if (is_dir)
        return errorf(ld, "%s: cannot read the configuration file: %s", path, strerror(EISDIR));

    int rc = -1;
    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            errorf(ld, "%s: cannot read the configuration file", path);
        else
            errorf(ld, "%s:%d: %s", config_error_file(&cfg) ? config_error_file(&cfg) : path,
                   config_error_line(&cfg), config_error_text(&cfg));
        goto done;
    }
    /* filenames: the file and every file it @include'd. */
    for (unsigned i = 0; i < cfg.num_filenames; i++) {
        if (literals_check(ld, cfg.filenames[i]) != 0)
            goto done;
    }
    ld->file = path;
    rc = file_group_walk(ld, config_root_setting(&cfg), "");

done:
    ld->file = NULL;
    config_destroy(&cfg);
    return rc;
}

/* ------------------------------------------------------------------------
 * Layer 3: the environment
 * ------------------------------------------------------------------------ */

/* True if entry ("NAME=value") is a variable some setting reads. */
static bool env_known(const struct loader *ld, const char *entry)
{
    size_t len = strcspn(entry, "=");
    size_t suffix_len = strlen(ENV_TWIN_SUFFIX);
    for (size_t t = 0; t < ld->ntables; t++) {
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            const struct cf_setting *s = &ld->tables[t].settings[i];
            char name[NAME_BUF];
            size_t n = env_name_write(s->path, name, sizeof(name));
            if (strncmp(entry, name, n) != 0)
                continue;
            if (s->type == CF_SETTING_PROPERTIES) {
                if (len > n + 1 && entry[n] == '_')
                    return true;
            } else if (len == n) {
                return true;
            } else if (setting_has_twin(s) && len == n + suffix_len &&
                       strncmp(entry + n, ENV_TWIN_SUFFIX, suffix_len) == 0) {
                return true;
            }
        }
    }
    return false;
}

static void env_warn_unknown(struct loader *ld, char *const *envp)
{
    size_t prefix_len = strlen(ENV_PREFIX);
    for (char *const *e = envp; *e; e++) {
        if (strncmp(*e, ENV_PREFIX, prefix_len) == 0 && strchr(*e, '=') && !env_known(ld, *e))
            warning_add_env(ld, *e);
    }
}

/* <ENV>_<NAME>=value: NAME lower-cased, '_' as '.'. */
static int env_properties(struct loader *ld, const struct slot *sl, char *const *envp,
                          const char *env_name)
{
    size_t n = strlen(env_name);
    for (char *const *e = envp; *e; e++) {
        if (strncmp(*e, env_name, n) != 0 || (*e)[n] != '_')
            continue;
        const char *rest = *e + n + 1;
        size_t len = strcspn(rest, "=");
        if (len == 0 || rest[len] != '=')
            continue;
        struct origin o = {0};
        o.env = *e;
        char *name = strndup(rest, len);
        if (!name)
            return setting_error(ld, &o, sl->s->path, "out of memory");
        for (char *p = name; *p; p++)
            *p = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        int rc = properties_set(sl->member, name, rest + len + 1);
        free(name);
        if (rc != 0)
            return setting_error(ld, &o, sl->s->path, "out of memory");
    }
    return 0;
}

static int env_apply(struct loader *ld, char *const *envp)
{
    for (size_t t = 0; t < ld->ntables; t++) {
        for (size_t i = 0; i < ld->tables[t].count; i++) {
            struct slot sl = slot_of(&ld->tables[t], i);
            char name[NAME_BUF], twin_name[NAME_BUF + sizeof(ENV_TWIN_SUFFIX)];
            env_name_write(sl.s->path, name, sizeof(name));
            if (sl.s->type == CF_SETTING_PROPERTIES) {
                if (env_properties(ld, &sl, envp, name) != 0)
                    return -1;
                continue;
            }
            const char *value = env_find(envp, name);
            const char *twin = NULL;
            if (setting_has_twin(sl.s)) {
                snprintf(twin_name, sizeof(twin_name), "%s%s", name, ENV_TWIN_SUFFIX);
                twin = env_find(envp, twin_name);
            }
            if (value && twin)
                return errorf(ld, "environment %s and %s: setting %s: both are set; set one", name,
                              twin_name, sl.s->path);
            struct origin o = {0};
            if (value) {
                o.env = value;
                if (text_apply(ld, &sl, env_value(value), &o) != 0)
                    return -1;
            } else if (twin) {
                o.env = twin;
                if (twin_apply(ld, &sl, env_value(twin), &o) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Public functions
 * ------------------------------------------------------------------------ */

int cf_config_load(const char *path, char *const *envp, const struct cf_setting_table *tables,
                   size_t ntables, char *warnings, size_t warnings_size, char *errstr,
                   size_t errstr_size)
{
    struct loader ld = {0};
    ld.tables = tables;
    ld.ntables = ntables;
    ld.warnings = warnings;
    ld.warnings_size = warnings_size;
    ld.errstr = errstr;
    ld.errstr_size = errstr_size;
    if (errstr && errstr_size > 0)
        errstr[0] = '\0';
    if (warnings && warnings_size > 0)
        warnings[0] = '\0';

    tables_zero(tables, ntables);
    if (tables_check(&ld) != 0)
        return -1;
    if (envp)
        env_warn_unknown(&ld, envp);
    if (defaults_apply(&ld) != 0)
        return -1;
    if (path && file_load(&ld, path) != 0)
        return -1;
    if (envp && env_apply(&ld, envp) != 0)
        return -1;
    return 0;
}

void cf_config_free(const struct cf_setting_table *tables, size_t ntables)
{
    for (size_t t = 0; tables && t < ntables; t++) {
        if (!table_usable(&tables[t]))
            continue;
        for (size_t i = 0; i < tables[t].count; i++) {
            struct slot sl = slot_of(&tables[t], i);
            if (sl.s->type == CF_SETTING_STRING) {
                char **member = sl.member;
                free(*member);
                *member = NULL;
            } else if (sl.s->type == CF_SETTING_PROPERTIES) {
                struct cf_properties *props = sl.member;
                for (size_t j = 0; j < props->count; j++) {
                    free(props->names[j]);
                    free(props->values[j]);
                }
                free(props->names);
                free(props->values);
                memset(props, 0, sizeof(*props));
            }
        }
    }
}

char *cf_config_env_name(const char *path, char *buf, size_t size)
{
    env_name_write(path, buf, size);
    return buf;
}

/* ---- printing ---- */

/* Writes s as a libconfig string literal. */
static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void cf_config_print(const struct cf_setting_table *tables, size_t ntables, void *out)
{
    FILE *f = out;
    for (size_t t = 0; tables && t < ntables; t++) {
        if (!table_usable(&tables[t]))
            continue;
        for (size_t i = 0; i < tables[t].count; i++) {
            struct slot sl = slot_of(&tables[t], i);
            const struct cf_setting *s = sl.s;
            bool secret = setting_is_secret(s);
            switch (s->type) {
            case CF_SETTING_STRING: {
                const char *v = *(char **)sl.member;
                fprintf(f, "%s = ", s->path);
                if (secret)
                    fputs(v && *v ? "(set)" : "(unset)", f);
                else
                    print_quoted(f, v ? v : "");
                fputs(";\n", f);
                break;
            }
            case CF_SETTING_INT: {
                long long v = *(long long *)sl.member;
                if (secret)
                    fprintf(f, "%s = (set);\n", s->path);
                else /* libconfig needs the L beyond 32 bits */
                    fprintf(f, "%s = %lld%s;\n", s->path, v, v < INT_MIN || v > INT_MAX ? "L" : "");
                break;
            }
            case CF_SETTING_BOOL:
                fprintf(f, "%s = %s;\n", s->path,
                        secret ? "(set)" : (*(int *)sl.member ? "true" : "false"));
                break;
            case CF_SETTING_PROPERTIES: {
                const struct cf_properties *props = sl.member;
                for (size_t j = 0; j < props->count; j++) {
                    fprintf(f, "%s.%s = ", s->path, props->names[j]);
                    if (secret || property_is_secret(props->names[j]))
                        fputs("(set)", f);
                    else
                        print_quoted(f, props->values[j]);
                    fputs(";\n", f);
                }
                break;
            }
            }
        }
    }
}

/* ---- the configuration reference ---- */

/* Writes text into a Markdown table cell: '|' escaped, line breaks as
 * spaces, and in prose (not code) '<', '>' and '&' as entities, or a help
 * text's "cachefleet-<consumer>" would vanish as an unknown HTML tag. */
static void cell_put(FILE *f, const char *text, bool code)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            fputs("\\|", f);
        else if (*p == '\n' || *p == '\r')
            fputc(' ', f);
        else if (!code && *p == '<')
            fputs("&lt;", f);
        else if (!code && *p == '>')
            fputs("&gt;", f);
        else if (!code && *p == '&')
            fputs("&amp;", f);
        else
            fputc(*p, f);
    }
}

/* Writes text and suffix as one code span: `textsuffix`. */
static void cell_code(FILE *f, const char *text, const char *suffix)
{
    fputc('`', f);
    cell_put(f, text, true);
    cell_put(f, suffix, true);
    fputc('`', f);
}

static void reference_default(FILE *f, const struct cf_setting *s)
{
    int b;
    if (s->type == CF_SETTING_PROPERTIES) {
        fputs("(none)", f);
    } else if (!s->def || !*s->def) {
        fputs(s->type == CF_SETTING_STRING ? "(empty)"
              : s->type == CF_SETTING_BOOL ? "`false`"
                                           : "(none)",
              f);
    } else if (s->type == CF_SETTING_BOOL && bool_parse(s->def, &b) == 0) {
        fputs(b ? "`true`" : "`false`", f);
    } else {
        cell_code(f, s->def, "");
    }
}

static void reference_allowed(FILE *f, const struct cf_setting *s)
{
    switch (s->type) {
    case CF_SETTING_STRING:
        if (!s->choices) {
            fputs("a string", f);
            break;
        }
        for (const char *const *c = s->choices; *c; c++) {
            if (c != s->choices)
                fputs(", ", f);
            cell_code(f, *c, "");
        }
        break;
    case CF_SETTING_INT:
        fprintf(f, "%lld..%lld", s->min, s->max);
        break;
    case CF_SETTING_BOOL:
        fputs("`true`, `false`", f);
        break;
    case CF_SETTING_PROPERTIES:
        fputs("`name = value` pairs; `_` in a name stands for `.`", f);
        break;
    }
}

void cf_config_reference(const struct cf_setting_table *tables, size_t ntables, void *out)
{
    FILE *f = out;
    fputs("| setting | environment | default | allowed | meaning |\n", f);
    fputs("|---|---|---|---|---|\n", f);
    for (size_t t = 0; tables && t < ntables; t++) {
        if (!table_usable(&tables[t]))
            continue;
        for (size_t i = 0; i < tables[t].count; i++) {
            const struct cf_setting *s = &tables[t].settings[i];
            char env[NAME_BUF];
            env_name_write(s->path, env, sizeof(env));

            fputs("| ", f);
            if (s->type == CF_SETTING_PROPERTIES) {
                cell_code(f, s->path, ".<name>");
            } else {
                cell_code(f, s->path, "");
                if (setting_has_twin(s)) {
                    fputs(" or ", f);
                    cell_code(f, s->path, TWIN_SUFFIX);
                }
            }
            fputs(" | ", f);
            if (s->type == CF_SETTING_PROPERTIES) {
                cell_code(f, env, "_<NAME>");
            } else {
                cell_code(f, env, "");
                if (setting_has_twin(s)) {
                    fputs(" or ", f);
                    cell_code(f, env, ENV_TWIN_SUFFIX);
                }
            }
            fputs(" | ", f);
            reference_default(f, s);
            fputs(" | ", f);
            reference_allowed(f, s);
            fputs(" | ", f);
            cell_put(f, s->help ? s->help : "", false);
            if (setting_has_twin(s))
                fputs(" The `_file` form names a file holding the value.", f);
            if (setting_is_secret(s))
                fputs(" Secret: never printed.", f);
            fputs(" |\n", f);
        }
    }
}
