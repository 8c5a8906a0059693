/* pipeline.h - one consumer's per-message path, as the fuzz targets and the
 * regression test run it, with the checks that turn a wrong answer into a
 * finding.
 *
 * What it owns: making, once, what the runtime makes once (settings from
 * the tables' defaults, the decoder from a schemas folder, the handler, the
 * plan), and running one fuzz input through exactly what runtime.c
 * plan_batch() does per message: the size limit, cf_decoder_decode(), the
 * handler's handle() into the plan with a rollback on rejection, and
 * cf_plan_coalesce() at the end of the batch.  Around that path it checks:
 *   - every rejection carries a reason that starts with a known code
 *     ("undecodable: ", "unknown-schema: " from the decoder; "invalid-field:
 *     ", "unsafe-id: ", "invalid-json: ", "unknown-type: " from a handler),
 *     and a rollback leaves the plan exactly as it was;
 *   - an accepted event names one of the consumer's event types, and every
 *     operation it appended is well formed (spans laid end to end in the
 *     arena, keys starting with the prefix, guard keys inside their span);
 *   - the decoded value is what was written: the same bytes read into a
 *     value made for that message alone (resolved as the Avro
 *     specification says when a newer writer wrote them), so nothing of an
 *     earlier message leaks into it; and the handler's answer is the answer
 *     of a handler and plan made for that message alone;
 *   - coalescing keeps one survivor per identity (except fan-outs and
 *     purges split by a membership change), the highest version or latest
 *     time, at the position plan.h promises, and returns the live count.
 * What it does not own: libFuzzer (fuzz_consumer.c), files (the test and
 * the corpus tool), or any fix: a failed check is reported, never repaired.
 *
 * Input format: one fuzz input is one batch of up to CF_FUZZ_MAX_MESSAGES
 * messages separated by CF_FUZZ_MARKER (bytes after the last allowed
 * marker belong to the last message).  An input without the marker is one
 * message.
 *
 * Schemas: the main decoder reads the folder given (the project's schemas/,
 * as a consumer started with defaults would).  When an evolved folder is
 * given too, a second decoder reads both folders together (copied into a
 * temporary folder at start), and a framed message whose schema id only
 * that folder knows is decoded there: the path of a producer that moved
 * ahead of the consumer (a resolved reader), where the previous
 * message's union branch once leaked into the next.
 *
 * Settings: the tables' defaults, and a fixed environment rather than the
 * process's (so a CACHEFLEET_ variable cannot change what a reproducer
 * does): cache.max_payload_bytes is lowered to CF_FUZZ_MAX_PAYLOAD so
 * that the size limit is reachable with libFuzzer's -max_len 65536, and
 * access.revoke_sessions_on_role_revoke is on, the branch with more code.
 *
 * Thread: one thread per struct cf_fuzz.
 */
#ifndef CF_FUZZ_PIPELINE_H
#define CF_FUZZ_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime.h"

#define CF_FUZZ_MARKER       "|CF-NEXT|"
#define CF_FUZZ_MARKER_LEN   9
#define CF_FUZZ_MAX_MESSAGES 16
#define CF_FUZZ_MAX_PAYLOAD  49152

/* The five consumers' definitions by name ("products", ...); NULL if
 * unknown. */
const struct cf_consumer_def *cf_fuzz_consumer_def(const char *name);

struct cf_fuzz;

/* Makes the settings, decoder(s), handler(s) and plan of consumer def.
 * schemas_dir: the reader's folder; evolved_dir: extra writer schemas, or
 * NULL.  Returns NULL with the reason in errstr. */
struct cf_fuzz *cf_fuzz_new(const struct cf_consumer_def *def, const char *schemas_dir,
                            const char *evolved_dir, char *errstr, size_t errstr_size);
void cf_fuzz_destroy(struct cf_fuzz *fz);

/* What happened to the last message of a batch. */
struct cf_fuzz_outcome {
    int rc;           /* 0: planned; -1: rejected */
    char reason[256]; /* when rejected */
    const char *type; /* the event type the handler named, or NULL */
    size_t ops;       /* operations it appended */
    size_t messages;  /* messages in the batch */
    size_t live;      /* live operations after coalescing the batch */
};

/* Runs one fuzz input as one batch (see the input format above).
 * Returns 0 when every check held (whatever the messages' fate), or -1
 * with what went wrong in problem.  last (may be NULL) gets the outcome of
 * the last message. */
int cf_fuzz_run(struct cf_fuzz *fz, const uint8_t *data, size_t size, struct cf_fuzz_outcome *last,
                char *problem, size_t problem_size);

/* Is problem one of the known findings listed in tolerate ('|'-separated
 * pieces of the sentence; NULL or "": none)?  The first time a piece
 * matches, the problem is written to stderr.  For the fuzz targets, to go
 * on fuzzing past a finding that is not fixed yet. */
bool cf_fuzz_tolerated(const char *tolerate, const char *problem);

#endif
