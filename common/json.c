/* json.c - checking and quoting JSON text without building a tree.
 *
 * What it owns: the hot-path answer to "is this event's document JSON the web
 * tier can load?" and the writing of JSON string literals.  What it does
 * not: parsing values out of a document (jansson does that, for code that
 * needs a tree: configuration, the admin endpoints, tests).
 *
 * Why it exists beside jansson: json_loadb() answers the same yes/no
 * question by building a tree, one malloc per value, then json_decref()
 * frees it all again (about 18 times the time this file takes on a 455-byte
 * product document); on a consumer applying hundreds of thousands of events
 * a second that would be most of the per-event cost.  This file reads each
 * byte once, allocates nothing, and its stack use does not grow with the
 * input.
 *
 * DESIGN
 * The validator is iterative: a loop over three states (expecting a value,
 * expecting an object key, after a value) with a bit stack recording, for
 * each open container, whether it is an object or an array.  The bit stack
 * has CF_JSON_DEPTH_MAX bits (32 bytes), and max_depth is checked before a
 * level is pushed, so no input can make it overflow.  Strings are scanned
 * with a table of bytes that need no attention (printable ASCII other than
 * '"' and '\\'); only escapes and bytes >= 0x80 leave that fast loop.
 * UTF-8 is checked with the byte ranges of RFC 3629 section 4, which exclude
 * overlong forms, surrogates and code points above U+10FFFF without
 * decoding.
 *
 * An error is an enum value mapped to fixed text, so a reason can never
 * carry bytes of the document, which may be a customer's data.
 *
 * Thread: any; the functions have no state.
 */
#include "json.h"

#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

enum json_err {
    JE_OK = 0,
    JE_EMPTY,
    JE_EOF,
    JE_TRAILING,
    JE_NUL,
    JE_VALUE_EXPECTED,
    JE_KEY_EXPECTED,
    JE_COLON_EXPECTED,
    JE_COMMA_OR_BRACKET,
    JE_COMMA_OR_BRACE,
    JE_LITERAL,
    JE_NUMBER_DIGIT,
    JE_NUMBER_LEADING_ZERO,
    JE_UNTERMINATED,
    JE_CONTROL,
    JE_ESCAPE,
    JE_ESCAPE_HEX,
    JE_LONE_HIGH,
    JE_LONE_LOW,
    JE_UTF8_BYTE,
    JE_UTF8_CONTINUATION,
    JE_UTF8_TRUNCATED,
    JE_UTF8_OVERLONG,
    JE_UTF8_SURROGATE,
    JE_UTF8_RANGE,
    JE_DEPTH,
};

static const char *const err_text[] = {
    [JE_OK] = "ok",
    [JE_EMPTY] = "empty document",
    [JE_EOF] = "unexpected end of document",
    [JE_TRAILING] = "unexpected data after the top-level value",
    [JE_NUL] = "NUL byte",
    [JE_VALUE_EXPECTED] = "expected a value",
    [JE_KEY_EXPECTED] = "expected a string key",
    [JE_COLON_EXPECTED] = "expected ':' after object key",
    [JE_COMMA_OR_BRACKET] = "expected ',' or ']' in array",
    [JE_COMMA_OR_BRACE] = "expected ',' or '}' in object",
    [JE_LITERAL] = "invalid literal (true, false or null expected)",
    [JE_NUMBER_DIGIT] = "digit expected in number",
    [JE_NUMBER_LEADING_ZERO] = "leading zero in number",
    [JE_UNTERMINATED] = "unterminated string",
    [JE_CONTROL] = "raw control character in string",
    [JE_ESCAPE] = "invalid escape in string",
    [JE_ESCAPE_HEX] = "invalid \\u escape (4 hex digits expected)",
    [JE_LONE_HIGH] = "high surrogate escape not followed by a low one",
    [JE_LONE_LOW] = "low surrogate escape without a high one before it",
    [JE_UTF8_BYTE] = "invalid UTF-8 byte",
    [JE_UTF8_CONTINUATION] = "UTF-8 continuation byte without a lead byte",
    [JE_UTF8_TRUNCATED] = "incomplete UTF-8 sequence",
    [JE_UTF8_OVERLONG] = "overlong UTF-8 encoding",
    [JE_UTF8_SURROGATE] = "surrogate encoded in UTF-8",
    [JE_UTF8_RANGE] = "UTF-8 code point above U+10FFFF",
    [JE_DEPTH] = "nesting deeper than max_depth",
};

static int reject(char *reason, size_t reason_size, size_t offset, enum json_err err, int max_depth)
{
    if (reason_size == 0)
        return -1;
    if (err == JE_DEPTH)
        snprintf(reason, reason_size, "invalid JSON at byte %zu: nesting deeper than %d", offset,
                 max_depth);
    else
        snprintf(reason, reason_size, "invalid JSON at byte %zu: %s", offset, err_text[err]);
    return -1;
}

/* ------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------ */

/* Checks the multibyte sequence starting at p (*p >= 0x80, p < end).
 * On success stores its length in *n.  On failure *n is the offset from p
 * of the byte to blame: the lead byte when the sequence as a whole is wrong
 * (overlong, surrogate, too large), else the first byte that cannot follow. */
static enum json_err utf8_check(const unsigned char *p, const unsigned char *end, size_t *n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    enum json_err below = JE_UTF8_TRUNCATED, above = JE_UTF8_TRUNCATED;

    *n = 0;
    if (c < 0xc0)
        return JE_UTF8_CONTINUATION;
    if (c < 0xc2)
        return JE_UTF8_OVERLONG; /* C0, C1: two-byte forms of ASCII */
    if (c < 0xe0) {
        len = 2;
    } else if (c < 0xf0) {
        len = 3;
        if (c == 0xe0) {
            lo = 0xa0, below = JE_UTF8_OVERLONG;
        } else if (c == 0xed) {
            hi = 0x9f, above = JE_UTF8_SURROGATE; /* ED A0..BF: U+D800..DFFF */
        }
    } else if (c < 0xf5) {
        len = 4;
        if (c == 0xf0) {
            lo = 0x90, below = JE_UTF8_OVERLONG;
        } else if (c == 0xf4) {
            hi = 0x8f, above = JE_UTF8_RANGE; /* F4 90..: above U+10FFFF */
        }
    } else {
        return JE_UTF8_BYTE; /* F5..FF never occur in UTF-8 */
    }

    if ((size_t)(end - p) < 2) {
        *n = 1;
        return JE_UTF8_TRUNCATED;
    }
    if (p[1] < lo || p[1] > hi) {
        bool continuation = p[1] >= 0x80 && p[1] <= 0xbf;
        if (!continuation) {
            *n = 1; /* the byte that should have continued the sequence */
            return JE_UTF8_TRUNCATED;
        }
        return p[1] < lo ? below : above; /* the sequence as a whole */
    }
    for (size_t i = 2; i < len; i++) {
        if (p + i == end || p[i] < 0x80 || p[i] > 0xbf) {
            *n = i;
            return JE_UTF8_TRUNCATED;
        }
    }
    *n = len;
    return JE_OK;
}

/* ------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------ */

/* 1 for the bytes a string may contain as they are: 0x20..0x7f except '"'
 * (0x22) and '\\' (0x5c).  Everything else needs a closer look. */
static const unsigned char string_plain[256] = {
    /* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20 */ 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x30 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x40 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x50 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    /* 0x60 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x70 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80..0xff: 0 */
};

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape whose backslash is at p. */
static enum json_err read_u_escape(const unsigned char *p, const unsigned char *end, unsigned *cp)
{
    unsigned v = 0;
    for (size_t i = 2; i < 6; i++) {
        if (p + i == end)
            return JE_UNTERMINATED;
        int h = hex_value(p[i]);
        if (h < 0)
            return JE_ESCAPE_HEX;
        v = v << 4 | (unsigned)h;
    }
    *cp = v;
    return JE_OK;
}

/* Checks the escape whose backslash is at *pp; on success moves *pp past
 * it.  On failure *pp is left at the backslash, or at end if the document
 * stops inside the escape. */
static enum json_err scan_escape(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    enum json_err err;
    unsigned cp;

    if (p + 1 == end) {
        *pp = end;
        return JE_UNTERMINATED;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        *pp = p + 2;
        return JE_OK;
    case 'u':
        break;
    default:
        return JE_ESCAPE;
    }

    err = read_u_escape(p, end, &cp);
    if (err != JE_OK) {
        if (err == JE_UNTERMINATED)
            *pp = end;
        return err;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return JE_LONE_LOW;
    if (cp < 0xd800 || cp > 0xdbff) {
        *pp = p + 6;
        return JE_OK;
    }

    /* A high surrogate: the next six bytes must be \u and a low one. */
    const unsigned char *q = p + 6;
    if (q == end || (q + 1 == end && *q == '\\')) {
        *pp = end;
        return JE_UNTERMINATED;
    }
    if (q[0] != '\\' || q[1] != 'u')
        return JE_LONE_HIGH;
    err = read_u_escape(q, end, &cp);
    if (err != JE_OK) {
        *pp = err == JE_UNTERMINATED ? end : q;
        return err;
    }
    if (cp < 0xdc00 || cp > 0xdfff)
        return JE_LONE_HIGH;
    *pp = q + 6;
    return JE_OK;
}

/* Checks the string whose opening quote is at *pp; on success moves *pp past
 * the closing quote, on failure to the offending byte. */
static enum json_err scan_string(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp + 1;
    enum json_err err;

    for (;;) {
        while (p < end && string_plain[*p])
            p++;
        if (p == end) {
            *pp = end;
            return JE_UNTERMINATED;
        }
        if (*p == '"') {
            *pp = p + 1;
            return JE_OK;
        }
        if (*p == '\\') {
            err = scan_escape(&p, end);
            if (err != JE_OK) {
                *pp = p;
                return err;
            }
            continue;
        }
        if (*p < 0x20) {
            *pp = p;
            return *p == 0 ? JE_NUL : JE_CONTROL;
        }
        size_t n;
        err = utf8_check(p, end, &n);
        if (err != JE_OK) {
            /* Running out of document inside a character: the string is
             * unterminated, the more useful of the two reasons. */
            *pp = p + n;
            return p + n == end ? JE_UNTERMINATED : err;
        }
        p += n;
    }
}

/* Checks the number starting at *pp ('-' or a digit); moves *pp past it,
 * or to the offending byte. */
static enum json_err scan_number(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    enum json_err err = JE_OK;

    if (*p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            p--;
            err = JE_NUMBER_LEADING_ZERO;
            goto out;
        }
    } else if (p < end && is_digit(*p)) {
        while (p < end && is_digit(*p))
            p++;
    } else {
        err = JE_NUMBER_DIGIT;
        goto out;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) {
            err = JE_NUMBER_DIGIT;
            goto out;
        }
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p)) {
            err = JE_NUMBER_DIGIT;
            goto out;
        }
        while (p < end && is_digit(*p))
            p++;
    }
out:
    *pp = p;
    return err;
}

static enum json_err scan_literal(const unsigned char **pp, const unsigned char *end)
{
    static const char *const words[] = {"true", "false", "null"};
    const unsigned char *p = *pp;

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i]);
        if (words[i][0] == (char)*p) {
            if ((size_t)(end - p) < n || memcmp(p, words[i], n) != 0)
                return JE_LITERAL;
            *pp = p + n;
            return JE_OK;
        }
    }
    return JE_LITERAL;
}

enum scan_state {
    EXPECT_VALUE,
    EXPECT_KEY,
    AFTER_VALUE,
};

/* Pushes the container opened at *p (depth < max_depth, checked by the
 * caller) and moves *p past the opener; an empty container is closed at
 * once.  Returns the state to continue in. */
static enum scan_state open_container(const unsigned char **pp, const unsigned char *end,
                                      uint64_t *is_object, int *depth)
{
    const unsigned char *p = *pp;
    bool object = *p == '{';
    int d = *depth;

    if (object)
        is_object[d / 64] |= (uint64_t)1 << (d % 64);
    else
        is_object[d / 64] &= ~((uint64_t)1 << (d % 64));
    p = skip_ws(p + 1, end);
    if (p < end && *p == (object ? '}' : ']')) {
        *pp = p + 1;
        return AFTER_VALUE;
    }
    *pp = p;
    *depth = d + 1;
    return object ? EXPECT_KEY : EXPECT_VALUE;
}

int cf_json_validate(const char *buf, size_t len, int max_depth, char *reason, size_t reason_size)
{
    assert(buf || len == 0);
    assert(reason || reason_size == 0);

    if (max_depth < 0 || max_depth > CF_JSON_DEPTH_MAX) {
        if (reason_size > 0)
            snprintf(reason, reason_size, "max_depth %d outside 0..%d", max_depth,
                     CF_JSON_DEPTH_MAX);
        return -1;
    }
    if (len == 0)
        return reject(reason, reason_size, 0, JE_EMPTY, max_depth);

    const unsigned char *start = (const unsigned char *)buf;
    const unsigned char *end = start + len;
    const unsigned char *p = skip_ws(start, end);
    if (p == end)
        return reject(reason, reason_size, len, JE_EMPTY, max_depth);

    /* Bit d is set when open container d (0 = outermost) is an object. */
    uint64_t is_object[CF_JSON_DEPTH_MAX / 64] = {0};
    int depth = 0;
    enum scan_state state = EXPECT_VALUE;
    enum json_err err = JE_OK;

    for (;;) {
        p = skip_ws(p, end);
        switch (state) {
        case EXPECT_VALUE:
            if (p == end) {
                err = JE_EOF;
                goto out;
            }
            switch (*p) {
            case '{':
            case '[':
                /* The limit is checked before the level is pushed: the bit
                 * stack can never overflow. */
                if (depth == max_depth) {
                    err = JE_DEPTH;
                    goto out;
                }
                state = open_container(&p, end, is_object, &depth);
                continue;
            case '"':
                err = scan_string(&p, end);
                break;
            case '-':
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                err = scan_number(&p, end);
                break;
            case 't':
            case 'f':
            case 'n':
                err = scan_literal(&p, end);
                break;
            case '\0':
                err = JE_NUL;
                break;
            default:
                err = JE_VALUE_EXPECTED;
                break;
            }
            if (err != JE_OK)
                goto out;
            state = AFTER_VALUE;
            continue;

        case EXPECT_KEY:
            if (p == end) {
                err = JE_EOF;
                goto out;
            }
            if (*p != '"') {
                err = *p == '\0' ? JE_NUL : JE_KEY_EXPECTED;
                goto out;
            }
            err = scan_string(&p, end);
            if (err != JE_OK)
                goto out;
            p = skip_ws(p, end);
            if (p == end) {
                err = JE_EOF;
                goto out;
            }
            if (*p != ':') {
                err = *p == '\0' ? JE_NUL : JE_COLON_EXPECTED;
                goto out;
            }
            p++;
            state = EXPECT_VALUE;
            continue;

        case AFTER_VALUE:
            if (depth == 0) {
                if (p != end)
                    err = *p == '\0' ? JE_NUL : JE_TRAILING;
                goto out;
            }
            if (p == end) {
                err = JE_EOF;
                goto out;
            }
            bool in_object = (is_object[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
            if (*p == ',') {
                p++;
                state = in_object ? EXPECT_KEY : EXPECT_VALUE;
            } else if (*p == (in_object ? '}' : ']')) {
                p++;
                depth--;
            } else if (*p == '\0') {
                err = JE_NUL;
                goto out;
            } else {
                err = in_object ? JE_COMMA_OR_BRACE : JE_COMMA_OR_BRACKET;
                goto out;
            }
            continue;
        }
    }

out:
    if (err != JE_OK)
        return reject(reason, reason_size, (size_t)(p - start), err, max_depth);
    if (reason_size > 0)
        reason[0] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------
 * Quoting
 * ------------------------------------------------------------------------ */

/* Where quoted output goes: written only while every unit so far fit. */
struct sink {
    char *out;
    size_t size;    /* out_size */
    size_t written; /* bytes in out, always < size once size > 0 */
    size_t need;    /* bytes the whole literal needs so far */
    bool stopped;   /* a unit did not fit; nothing more is written */
};

/* Adds one unit that must not be cut. */
static void sink_unit(struct sink *k, const char *unit, size_t n)
{
    if (!k->stopped && k->size > 0 && k->written + n < k->size) {
        memcpy(k->out + k->written, unit, n);
        k->written += n;
    } else {
        k->stopped = true;
    }
    k->need += n;
}

/* Adds n ASCII bytes, each a unit of its own. */
static void sink_run(struct sink *k, const char *run, size_t n)
{
    if (!k->stopped && k->size > 0) {
        size_t room = k->size - 1 - k->written;
        size_t take = n < room ? n : room;
        memcpy(k->out + k->written, run, take);
        k->written += take;
        if (take < n)
            k->stopped = true;
    } else {
        k->stopped = true;
    }
    k->need += n;
}

long cf_json_quote(const char *s, size_t len, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    assert(s || len == 0);
    assert(out || out_size == 0);

    /* Each input byte needs at most 6 output bytes, plus the two quotes. */
    if (len > ((size_t)LONG_MAX - 2) / 6)
        goto invalid;

    struct sink k = {.out = out, .size = out_size};
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;

    sink_unit(&k, "\"", 1);
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && string_plain[*p])
            p++;
        if (p > run)
            sink_run(&k, (const char *)run, (size_t)(p - run));
        if (p == end)
            break;

        unsigned char c = *p;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xf];
                n = 6;
            } else {
                /* c >= 0x80: one whole UTF-8 character is one unit. */
                if (utf8_check(p, end, &n) != JE_OK)
                    goto invalid;
                sink_unit(&k, (const char *)p, n);
                p += n;
                continue;
            }
        }
        sink_unit(&k, esc, n);
        p++;
    }
    sink_unit(&k, "\"", 1);

    if (out_size > 0)
        out[k.written] = '\0';
    return (long)k.need;

invalid:
    if (out_size > 0)
        out[0] = '\0';
    return -1;
}
