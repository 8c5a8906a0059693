/* eventlog.c - one JSON line per produced event (see eventlog.h).
 *
 * DESIGN
 * The line is built as a jansson object and dumped compact (jansson keeps
 * insertion order, so lines are stable and diffable) with UTF-8 left as is.
 * The file is written through stdio's buffer; a write error is sticky in
 * the FILE and reported by sim_eventlog_close(), and also by each write so
 * that a full disk stops the run early.
 */
#include "eventlog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_eventlog {
    FILE *f;
    int is_stdout;
    char path[4096];
};

struct sim_eventlog *sim_eventlog_open(const char *path, char *errstr, size_t errstr_size)
{
    struct sim_eventlog *log = calloc(1, sizeof(*log));
    if (!log) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    snprintf(log->path, sizeof(log->path), "%s", path);
    if (strcmp(path, "-") == 0) {
        log->f = stdout;
        log->is_stdout = 1;
    } else {
        log->f = fopen(path, "w");
        if (!log->f) {
            snprintf(errstr, errstr_size, "--log-events %s: %s", path, strerror(errno));
            free(log);
            return NULL;
        }
    }
    return log;
}

int sim_eventlog_close(struct sim_eventlog *log, char *errstr, size_t errstr_size)
{
    if (!log)
        return 0;
    int rc = 0;
    if (fflush(log->f) != 0 || ferror(log->f))
        rc = -1;
    if (!log->is_stdout && fclose(log->f) != 0)
        rc = -1;
    if (rc < 0)
        snprintf(errstr, errstr_size, "--log-events %s: write error", log->path);
    free(log);
    return rc;
}

static json_t *hex_string(const void *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    char *s = malloc(size * 2 + 1);
    if (!s)
        return NULL;
    const unsigned char *b = buf;
    for (size_t i = 0; i < size; i++) {
        s[2 * i] = hex[b[i] >> 4];
        s[2 * i + 1] = hex[b[i] & 0xf];
    }
    s[size * 2] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* Decodes the children of a record or map into a new object. */
static json_t *object_of(avro_value_t *value, char *errstr, size_t errstr_size)
{
    size_t n = 0;
    json_t *obj = json_object();
    if (!obj || avro_value_get_size(value, &n) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        avro_value_t child;
        const char *name = NULL;
        if (avro_value_get_by_index(value, i, &child, &name) != 0 || !name)
            goto fail;
        json_t *j = sim_avro_to_json(&child, errstr, errstr_size);
        if (!j || json_object_set_new(obj, name, j) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;

fail:
    json_decref(obj);
    snprintf(errstr, errstr_size, "cannot read an Avro record or map: %s", avro_strerror());
    return NULL;
}

json_t *sim_avro_to_json(avro_value_t *value, char *errstr, size_t errstr_size)
{
    json_t *j = NULL;
    switch (avro_value_get_type(value)) {
    case AVRO_STRING: {
        const char *s = NULL;
        size_t size = 0;
        if (avro_value_get_string(value, &s, &size) != 0)
            break;
        /* size counts the terminating NUL. */
        j = json_stringn(s ? s : "", size ? size - 1 : 0);
        if (!j) {
            snprintf(errstr, errstr_size, "a string is not valid UTF-8");
            return NULL;
        }
        return j;
    }
    case AVRO_BYTES: {
        const void *b = NULL;
        size_t size = 0;
        if (avro_value_get_bytes(value, &b, &size) == 0)
            j = hex_string(b, size);
        break;
    }
    case AVRO_FIXED: {
        const void *b = NULL;
        size_t size = 0;
        if (avro_value_get_fixed(value, &b, &size) == 0)
            j = hex_string(b, size);
        break;
    }
    case AVRO_INT32: {
        int32_t v;
        if (avro_value_get_int(value, &v) == 0)
            j = json_integer(v);
        break;
    }
    case AVRO_INT64: {
        int64_t v;
        if (avro_value_get_long(value, &v) == 0)
            j = json_integer((json_int_t)v);
        break;
    }
    case AVRO_FLOAT: {
        float v;
        if (avro_value_get_float(value, &v) == 0)
            j = json_real(v);
        break;
    }
    case AVRO_DOUBLE: {
        double v;
        if (avro_value_get_double(value, &v) == 0)
            j = json_real(v);
        break;
    }
    case AVRO_BOOLEAN: {
        int v;
        if (avro_value_get_boolean(value, &v) == 0)
            j = json_boolean(v);
        break;
    }
    case AVRO_NULL:
        j = json_null();
        break;
    case AVRO_ENUM: {
        int v;
        if (avro_value_get_enum(value, &v) == 0) {
            const char *sym = avro_schema_enum_get(avro_value_get_schema(value), v);
            j = sym ? json_string(sym) : NULL;
        }
        break;
    }
    case AVRO_RECORD:
    case AVRO_MAP:
        return object_of(value, errstr, errstr_size);
    case AVRO_ARRAY: {
        size_t n = 0;
        j = json_array();
        if (!j || avro_value_get_size(value, &n) != 0)
            break;
        for (size_t i = 0; i < n; i++) {
            avro_value_t item;
            if (avro_value_get_by_index(value, i, &item, NULL) != 0) {
                json_decref(j);
                j = NULL;
                break;
            }
            json_t *ij = sim_avro_to_json(&item, errstr, errstr_size);
            if (!ij || json_array_append_new(j, ij) < 0) {
                json_decref(j);
                return NULL;
            }
        }
        break;
    }
    case AVRO_UNION: {
        avro_value_t branch;
        if (avro_value_get_current_branch(value, &branch) == 0)
            return sim_avro_to_json(&branch, errstr, errstr_size);
        break;
    }
    default:
        snprintf(errstr, errstr_size, "unsupported Avro type %d", (int)avro_value_get_type(value));
        return NULL;
    }
    if (!j)
        snprintf(errstr, errstr_size, "cannot decode an Avro value: %s", avro_strerror());
    return j;
}

json_t *sim_eventlog_line(const char *topic, const char *key, int32_t partition,
                          avro_value_t *value, char *errstr, size_t errstr_size)
{
    json_t *envelope = NULL, *line = NULL;
    avro_value_t body, branch;
    envelope = object_of(value, errstr, errstr_size);
    if (!envelope)
        goto fail;
    if (avro_value_get_by_name(value, "body", &body, NULL) != 0 ||
        avro_value_get_current_branch(&body, &branch) != 0) {
        snprintf(errstr, errstr_size, "the event has no body");
        goto fail;
    }
    const char *type = avro_schema_name(avro_value_get_schema(&branch));
    json_t *fields = json_object_get(envelope, "body");
    line = json_pack("{s:s,s:s,s:i,s:O,s:O,s:O,s:s,s:O}", "topic", topic, "key", key, "partition",
                     (int)partition, "event_id", json_object_get(envelope, "event_id"), "version",
                     json_object_get(envelope, "version"), "occurred_at",
                     json_object_get(envelope, "occurred_at"), "type", type ? type : "", "fields",
                     fields);
    if (!line) {
        snprintf(errstr, errstr_size, "cannot build the event log line");
        goto fail;
    }
    /* An envelope field beyond the four known ones is kept too, at the top. */
    const char *name;
    json_t *v;
    json_object_foreach(envelope, name, v)
    {
        if (!json_object_get(line, name) && strcmp(name, "body") != 0 &&
            json_object_set(line, name, v) < 0) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    json_decref(envelope);
    return line;

fail:
    json_decref(line);
    json_decref(envelope);
    return NULL;
}

int sim_eventlog_write(struct sim_eventlog *log, const char *topic, const char *key,
                       int32_t partition, avro_value_t *value, char *errstr, size_t errstr_size)
{
    json_t *line = sim_eventlog_line(topic, key, partition, value, errstr, errstr_size);
    if (!line)
        return -1;
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!text) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc = 0;
    if (fputs(text, log->f) == EOF || fputc('\n', log->f) == EOF || ferror(log->f)) {
        snprintf(errstr, errstr_size, "--log-events %s: write error", log->path);
        rc = -1;
    }
    free(text);
    return rc;
}
