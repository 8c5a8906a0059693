/* config.h - settings from a libconfig file and from the environment.
 *
 * What it owns: turning a settings table (a list of struct cf_setting, each
 * naming where its value lives in a plain C struct) into filled-in structs,
 * from three layers, later ones winning:
 *   1. the default written in the table;
 *   2. the libconfig file, if one is given (settings by dotted path:
 *      `kafka.batch_max` is `batch_max` inside the group `kafka`);
 *   3. the environment: CACHEFLEET_ + the path in upper case with dots as
 *      underscores (`kafka.batch_max` -> CACHEFLEET_KAFKA_BATCH_MAX), so a
 *      container needs no file.
 * A setting flagged CF_SETTING_FILE_TWIN may instead be given as the path of
 * a file holding the value (`redis.password_file`,
 * CACHEFLEET_REDIS_PASSWORD_FILE); the file's content, less one trailing
 * newline, is the value.  Secrets come that way from mounted files.
 *
 * What it does not own: which settings exist (the runtime and each consumer
 * bring their tables) and checks that span several settings (the runtime
 * does them, naming the settings).
 *
 * Errors: cf_config_load() stops at the first bad setting and writes one
 * sentence into errstr naming the setting and where it came from, e.g.
 *   /etc/cachefleet/products.conf:12: setting redis.port: 70000 is out of
 *   range 1..65535
 *   environment CACHEFLEET_KAFKA_BATCH_MAX: setting kafka.batch_max: "ten"
 *   is not an integer
 * An unknown setting in the file is an error (a typo must not be silently
 * ignored); an unknown CACHEFLEET_ variable is reported as a warning,
 * because one environment is often shared by several programs.
 *
 * Defaults: a NULL or "" default means "none": the value is "" or 0 and is
 * not held to the range or the choices.
 *
 * Thread: called once by main before any other thread starts.
 */
#ifndef CF_CONFIG_H
#define CF_CONFIG_H

#include <stddef.h>

enum cf_setting_type {
    CF_SETTING_STRING,     /* char *, owned by the struct, freed by cf_config_free */
    CF_SETTING_INT,        /* long long, within [min, max] */
    CF_SETTING_BOOL,       /* int, 0 or 1; "true"/"false"/"1"/"0"/"yes"/"no" in the environment */
    CF_SETTING_PROPERTIES, /* struct cf_properties: a group of name = value pairs passed through
                            * (librdkafka properties); in a name, '_' stands for '.'; in the
                            * environment: <PREFIX>_<NAME>, e.g. CACHEFLEET_KAFKA_PROPERTY_
                            * SECURITY_PROTOCOL for security.protocol */
};

/* flags */
#define CF_SETTING_SECRET    0x1u /* never printed: cf_config_print shows "(set)" */
#define CF_SETTING_FILE_TWIN 0x2u /* also accepted as <path>_file: the path of a file holding it */

struct cf_setting {
    const char *path;            /* dotted path, e.g. "redis.port" */
    enum cf_setting_type type;
    size_t offset;               /* offsetof() the value in the table's struct */
    const char *def;             /* default as text: "6379", "true", "" (NULL: none, empty) */
    long long min, max;          /* integer bounds, inclusive */
    const char *const *choices;  /* strings: NULL-terminated list of allowed values, or NULL */
    unsigned flags;
    const char *help;            /* one line for the configuration reference */
};

/* The pass-through pairs of a CF_SETTING_PROPERTIES setting. */
struct cf_properties {
    size_t count;
    char **names;  /* dotted names, e.g. "security.protocol" */
    char **values;
};

/* One table of settings and the struct it fills. */
struct cf_setting_table {
    const struct cf_setting *settings;
    size_t count;
    void *base;                  /* the struct the offsets point into */
};

/* Fills every table's struct (overwriting its members without freeing them:
 * a struct loaded before must go through cf_config_free() first):
 * defaults, then the file at path (NULL: no
 * file), then the environment envp (NULL-terminated "NAME=value" strings,
 * usually environ; NULL: none).  Warnings (unknown CACHEFLEET_ variables)
 * are written, one per line, into warnings (may be NULL).
 * Returns 0, or -1 with the first error in errstr.  On either result the
 * structs own what was filled so far: release it with cf_config_free(). */
int cf_config_load(const char *path, char *const *envp, const struct cf_setting_table *tables,
                   size_t ntables, char *warnings, size_t warnings_size, char *errstr,
                   size_t errstr_size);

/* Frees the strings and properties that cf_config_load() put into the
 * tables' structs and zeroes those members. */
void cf_config_free(const struct cf_setting_table *tables, size_t ntables);

/* Writes the effective configuration for people to read, one
 * "path = value;" line per setting (dotted paths: not a file libconfig can
 * read back), secrets as "(set)" or "(unset)", to out. */
void cf_config_print(const struct cf_setting_table *tables, size_t ntables, void *out /* FILE* */);

/* Writes a Markdown table (setting | environment | default | allowed |
 * meaning) of the tables to out: the README's configuration reference is
 * generated from it. */
void cf_config_reference(const struct cf_setting_table *tables, size_t ntables,
                         void *out /* FILE* */);

/* The environment variable name of a setting path, into buf.  Returns buf. */
char *cf_config_env_name(const char *path, char *buf, size_t size);

#endif
