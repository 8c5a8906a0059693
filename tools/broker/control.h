/* control.h - the broker's control channel: line commands that drive the
 * mock cluster's fault API from another process (the fault tests).
 *
 * What it owns: the command language, its framing (one command per line in,
 * exactly one reply line out: "ok" or "error <reason>", flushed), and the
 * parsing of the numbers it reads (also used by main.c for flags).  What it
 * does not: where the bytes come from or when to stop (main.c polls the
 * input and the stop flag), or the cluster itself (cluster.h).
 *
 * Commands (numbers in decimal; a broker id of -1 means every broker where
 * the mock allows it):
 *   ping                                   -> ok
 *   topic-create NAME PARTITIONS
 *   broker-down ID | broker-up ID          (refuse / accept connections)
 *   push-errors APIKEY ERR [ERR...]        (the next requests of APIKEY fail
 *                                           with ERR..., in order)
 *   clear-errors APIKEY
 *   coordinator group|transaction KEY BROKER_ID
 *   partition-leader TOPIC PARTITION BROKER_ID   (-1: leaderless)
 *   rtt BROKER_ID MS
 *
 * Threads: main thread only.
 */
#ifndef CF_BROKER_CONTROL_H
#define CF_BROKER_CONTROL_H

#include <stddef.h>
#include <stdio.h>

#include "cluster.h"
#include "log.h"

/* Longest command line accepted, newline excluded. */
#define CONTROL_LINE_MAX 1024

struct control;

/* Creates a control channel executing against bc, replying on out.  bc, lg
 * and out are borrowed and must outlive the channel.  NULL when out of
 * memory. */
struct control *control_new(struct broker_cluster *bc, struct cf_log *lg, FILE *out);
void control_destroy(struct control *ctl);

/* Reads what is available on fd (once: call it when poll() says readable),
 * executes every complete line and writes its reply.  A line longer than
 * CONTROL_LINE_MAX is answered "error line too long" and skipped.  Returns
 * 0, 1 at end of input (a last unterminated line is executed first), or -1
 * on a read error (errno set). */
int control_read(struct control *ctl, int fd);

/* Executes one command line (modified in place) and writes "ok" or
 * "error <reason>" (no newline) into reply.  Returns 0 for ok, -1 for an
 * error. */
int control_exec(struct control *ctl, char *line, char *reply, size_t reply_size);

/* Parses a whole decimal integer within [min, max].  Returns 0, or -1 when
 * text is empty, has trailing characters, or is out of range. */
int control_parse_long(const char *text, long min, long max, long *out);

#endif
