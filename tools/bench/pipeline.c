/* pipeline.c - a consumer's own stages in the benchmark's process (see
 * pipeline.h).
 *
 * DESIGN
 * Settings come from cf_config_load() with no file and an empty
 * environment, so they are the defaults of the tables every consumer
 * program starts from; then cf_settings_finish() fills the
 * consumer-dependent ones, as the runtime does.  Only the Redis port
 * differs.
 *
 * Thread: the main thread (one pipeline per thread).
 */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "decode.h"
#include "log.h"
#include "plan.h"
#include "settings.h"

struct bench_pipeline {
    const struct cf_consumer_def *def;
    struct cf_settings s;
    void *cs; /* the consumer's settings */
    struct cf_setting_table tables[2];
    int tables_loaded;
    struct cf_log *lg;
    struct cf_decoder *dec;
    void *handler;
    struct cf_plan *plan;
    struct cf_apply *ap;
};

void bench_pipeline_destroy(struct bench_pipeline *p)
{
    if (!p)
        return;
    cf_apply_destroy(p->ap);
    cf_plan_destroy(p->plan);
    if (p->handler)
        p->def->handler_destroy(p->handler);
    cf_decoder_destroy(p->dec);
    if (p->tables_loaded)
        cf_config_free(p->tables, 2);
    free(p->cs);
    cf_log_destroy(p->lg);
    free(p);
}

struct bench_pipeline *bench_pipeline_new(const struct cf_consumer_def *def,
                                          const char *schemas_dir, int redis_port, char *errstr,
                                          size_t errstr_size)
{
    char err[1024];
    struct bench_pipeline *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "pipeline: out of memory");
        return NULL;
    }
    p->def = def;
    p->cs = calloc(1, def->settings_size ? def->settings_size : 1);
    p->lg = cf_log_new("bench", CF_LOG_WARN, stderr);
    if (!p->cs || !p->lg) {
        snprintf(errstr, errstr_size, "pipeline: out of memory");
        goto fail;
    }
    p->tables[0] = (struct cf_setting_table){cf_settings_table, cf_settings_count, &p->s};
    p->tables[1] = (struct cf_setting_table){def->settings, def->nsettings, p->cs};
    char *const no_env[] = {NULL};
    p->tables_loaded = 1;
    if (cf_config_load(NULL, no_env, p->tables, 2, NULL, 0, err, sizeof(err)) < 0 ||
        cf_settings_finish(&p->s, def->name, def->topic, err, sizeof(err)) < 0 ||
        (def->check_settings && def->check_settings(p->cs, err, sizeof(err)) < 0)) {
        snprintf(errstr, errstr_size, "pipeline %s: settings: %s", def->name, err);
        goto fail;
    }
    enum cf_framing framing = CF_FRAMING_AUTO;
    cf_framing_parse(p->s.schemas_framing, &framing);
    p->dec = cf_decoder_new(schemas_dir, def->schema_file, framing, err, sizeof(err));
    if (!p->dec) {
        snprintf(errstr, errstr_size, "pipeline %s: schemas: %s", def->name, err);
        goto fail;
    }
    p->handler = def->handler_new(p->cs, cf_decoder_schema(p->dec), err, sizeof(err));
    if (!p->handler) {
        snprintf(errstr, errstr_size, "pipeline %s: handler: %s", def->name, err);
        goto fail;
    }
    p->plan = cf_plan_new(p->s.cache_prefix);
    struct cf_apply_settings as = {
        .host = "127.0.0.1",
        .port = redis_port,
        .unix_socket = "",
        .db = (int)p->s.redis_db,
        .user = "",
        .password = "",
        .client_name = "cachefleet-bench",
        .connect_timeout_ms = (int)p->s.redis_connect_timeout_ms,
        .command_timeout_ms = (int)p->s.redis_command_timeout_ms,
        .ops_per_call = (int)p->s.redis_ops_per_call,
        .tombstone_ttl_ms = p->s.cache_tombstone_ttl_s * 1000,
        .max_value_ttl_ms = def->max_ttl_ms ? def->max_ttl_ms(p->cs) : 0,
        .load_functions = 1,
    };
    if (redis_port <= 0)
        return p; /* planning only (the sample check's model) */
    p->ap = cf_apply_new(&as, p->lg);
    if (cf_apply_connect(p->ap) < 0) {
        snprintf(errstr, errstr_size, "pipeline %s: redis: %s", def->name, cf_apply_error(p->ap));
        goto fail;
    }
    return p;

fail:
    bench_pipeline_destroy(p);
    return NULL;
}

void bench_pipeline_clear(struct bench_pipeline *p)
{
    cf_plan_clear(p->plan);
}

int bench_pipeline_plan(struct bench_pipeline *p, const void *payload, size_t len,
                        int64_t kafka_ts_ms, char *reason, size_t reason_size)
{
    struct cf_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kafka_ts_ms = kafka_ts_ms;
    ev.max_id_bytes = (size_t)p->s.cache_max_id_bytes;
    if (len > (size_t)p->s.cache_max_payload_bytes) {
        snprintf(reason, reason_size, "too-large: %zu bytes", len);
        return -1;
    }
    avro_value_t *value;
    if (cf_decoder_decode(p->dec, payload, len, &value, reason, reason_size) < 0)
        return -1;
    size_t mark = cf_plan_mark(p->plan);
    if (p->def->handle(p->handler, value, &ev, p->plan) < 0) {
        cf_plan_rollback(p->plan, mark);
        snprintf(reason, reason_size, "%s", ev.reason[0] ? ev.reason : "rejected by the planner");
        return -1;
    }
    return 0;
}

size_t bench_pipeline_coalesce(struct bench_pipeline *p, size_t *live)
{
    size_t planned = cf_plan_count(p->plan);
    *live = cf_plan_coalesce(p->plan);
    return planned;
}

const struct cf_plan *bench_pipeline_plan_of(const struct bench_pipeline *p)
{
    return p->plan;
}

int bench_pipeline_apply(struct bench_pipeline *p, struct cf_apply_result *res, char *errstr,
                         size_t errstr_size)
{
    if (cf_apply_plan(p->ap, p->plan, res) < 0) {
        snprintf(errstr, errstr_size, "apply: %s", cf_apply_error(p->ap));
        return -1;
    }
    return 0;
}
