/* keys.c - what may be part of a cache key, and rejection reasons. */
#include "keys.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool ascii_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static const char *byte_class(unsigned char c)
{
    if (c == ' ')
        return "a space";
    if (c == '\n' || c == '\r')
        return "a line break";
    if (c < 0x20 || c == 0x7f)
        return "a control byte";
    if (c == '*' || c == '?' || c == '[' || c == ']')
        return "a glob character";
    if (c == '{' || c == '}')
        return "a brace";
    if (c == ':')
        return "a colon";
    if (c >= 0x80)
        return "not ASCII";
    return "not allowed";
}

/* Length of the well-formed UTF-8 sequence at s (above ASCII), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* Well-formed, but invisible in a key: C1 controls, no-break and other
     * spaces, zero-width and direction marks, line separators, BOM. */
    if (cp <= 0xa0 || cp == 0xad || (cp >= 0x2000 && cp <= 0x200f) ||
        (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 ||
        cp == 0xfeff)
        return 0;
    return len;
}

int cf_key_part_check(const char *field, const char *s, size_t len, size_t max_len, unsigned flags,
                      char *reason, size_t reason_size)
{
    if (len == 0)
        return cf_reason(reason, reason_size, CF_REASON_UNSAFE_ID, "%s is empty", field);
    if (len > max_len)
        return cf_reason(reason, reason_size, CF_REASON_UNSAFE_ID,
                         "%s is %zu bytes, longer than %zu", field, len, max_len);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (ascii_safe(p[i])) {
            i++;
            continue;
        }
        size_t seq = (flags & CF_KEY_UTF8) && p[i] >= 0x80 ? utf8_seq(p + i, len - i) : 0;
        if (seq) {
            i += seq;
            continue;
        }
        return cf_reason(reason, reason_size, CF_REASON_UNSAFE_ID, "%s has %s at byte %zu", field,
                         p[i] >= 0x80 && (flags & CF_KEY_UTF8) ? "invalid or invisible UTF-8"
                                                                : byte_class(p[i]),
                         i);
    }
    return 0;
}

int cf_reason(char *reason, size_t reason_size, const char *code, const char *fmt, ...)
{
    if (!reason || !reason_size)
        return -1;
    int n = snprintf(reason, reason_size, "%s: ", code);
    if (n >= 0 && (size_t)n < reason_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason + n, reason_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *cf_reason_code(const char *reason, char *buf, size_t size)
{
    size_t n = strcspn(reason, ":");
    if (n >= size)
        n = size - 1;
    memcpy(buf, reason, n);
    buf[n] = '\0';
    return buf;
}
