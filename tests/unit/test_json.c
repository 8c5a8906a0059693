/* test_json.c - cf_json_validate() and cf_json_quote().
 *
 * Tables of valid and invalid documents with the exact reason expected, the
 * depth limit at and above max_depth, every strict prefix of a document,
 * UTF-8 checked exhaustively against a reference decoder written here, the
 * reason never quoting the document, a differential run against jansson on
 * a corpus of mutated documents (the known differences are named and
 * counted, not skipped), and cf_json_quote() round trips through jansson.
 *
 * Every document is copied into a heap block of exactly its length before
 * it is validated, so AddressSanitizer sees any read past len.
 */
#include "testutil.h"

#include "json.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define DOC(s) {s, sizeof(s) - 1}
/* clang-format on */

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static void hex(const char *buf, size_t len, char *out, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < size; i++) {
        unsigned char c = (unsigned char)buf[i];
        out[o++] = digits[c >> 4];
        out[o++] = digits[c & 0xf];
        out[o++] = ' ';
    }
    out[o] = '\0';
}

/* cf_json_validate() on an exact-size heap copy of doc. */
static int validate(const char *doc, size_t len, int max_depth, char *reason, size_t reason_size)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, doc, len);
    int rc = cf_json_validate(len ? copy : NULL, len, max_depth, reason, reason_size);
    free(copy);
    return rc;
}

/* jansson's verdict: 0 accepted, -1 rejected (error text in err). */
static int jansson_check(const char *doc, size_t len, size_t flags, json_error_t *err)
{
    json_t *j = json_loadb(doc, len, JSON_DECODE_ANY | flags, err);
    if (!j)
        return -1;
    json_decref(j);
    return 0;
}

/* Deterministic PRNG (xorshift64*), state on the caller's stack. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static size_t utf8_encode(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Reference UTF-8 check, written the other way round from json.c: decode
 * by bit patterns, then reject by code point value. */
static bool ref_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + n > len)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n;
    }
    return true;
}

/* Nested containers: level i is an object when kinds[i % strlen(kinds)] is
 * 'o' ("{"k":" ... "}"), an array when 'a' ("[" ... "]"); the innermost
 * value is 1.  wrong_level >= 0 closes that level with the other bracket.
 * Returns the length. */
static size_t build_nest(char *buf, size_t size, int depth, const char *kinds, int wrong_level)
{
    size_t nk = strlen(kinds), o = 0;
    for (int i = 0; i < depth; i++) {
        const char *open = kinds[(size_t)i % nk] == 'o' ? "{\"k\":" : "[";
        size_t n = strlen(open);
        assert_true(o + n < size);
        memcpy(buf + o, open, n);
        o += n;
    }
    assert_true(o + 1 < size);
    buf[o++] = '1';
    for (int i = depth - 1; i >= 0; i--) {
        bool obj = kinds[(size_t)i % nk] == 'o';
        if (i == wrong_level)
            obj = !obj;
        assert_true(o + 1 < size);
        buf[o++] = obj ? '}' : ']';
    }
    buf[o] = '\0';
    return o;
}

/* The offset at which level `level` is opened in build_nest()'s output. */
static size_t nest_offset(int level, const char *kinds)
{
    size_t nk = strlen(kinds), o = 0;
    for (int i = 0; i < level; i++)
        o += kinds[(size_t)i % nk] == 'o' ? 5 : 1;
    return o;
}

/* ------------------------------------------------------------------------
 * Documents shared by several tests
 * ------------------------------------------------------------------------ */

/* A product's API representation, about 400 bytes. */
static const char product_doc[] =
    "{\"id\":48213,\"sku\":\"TSH-BLU-M\",\"name\":\"T-shirt \\\"Classic\\\" \xe2\x80\x93 blue\","
    "\"price\":{\"amount\":\"19.90\",\"currency\":\"EUR\",\"vat_rate\":0.2},"
    "\"stock\":37,\"active\":true,\"discontinued\":false,"
    "\"tags\":[\"cotton\",\"summer\",\"bio\"],"
    "\"images\":[{\"url\":\"https:\\/\\/cdn.example.com\\/p\\/48213\\/"
    "1.jpg\",\"w\":1200,\"h\":1600}],"
    "\"rating\":4.5e0,\"reviews\":128,\"weight_kg\":-0.0,"
    "\"description\":\"Soft \\u00e9t\\u00e9 shirt \\ud83d\\ude00\\nMachine wash 30\xc2\xb0"
    "C\",\"parent\":null,\"updated\":\"2026-11-25T19:55:01Z\"}";

/* Every feature in one document.  It must end with its closing bracket (no
 * trailing whitespace) so that no strict prefix is a JSON text. */
static const char feature_doc[] =
    "{ \"n\" : [0, -0, -0.0, 12, -3.25, 1e10, 2E+3, 5e-2, 123456789],\n"
    "  \"s\":\"plain \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0041\\u00E9\\u20ac \\ud83d\\ude00\","
    "\"raw\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\","
    "\"lit\":[true,false,null],\"o\":{\"e\":{},\"a\":[],\"d\":[[{\"k\":\"v\"}]]},"
    "\"\":\"\"}";

/* ------------------------------------------------------------------------
 * Valid documents
 * ------------------------------------------------------------------------ */

struct doc {
    const char *text;
    size_t len;
};

static void test_valid_documents(void **state)
{
    (void)state;
    static const struct doc valid[] = {
        /* containers */
        DOC("{}"),
        DOC("[]"),
        DOC("{\"a\":1}"),
        DOC(" { \"a\" : [ 1 , 2 ] , \"b\" : { } } "),
        DOC("[1,\"two\",true,false,null,{\"x\":[]},[[]]]"),
        DOC("{\"a\":{\"b\":{\"c\":[[[{}]]]}}}"),
        DOC("{\"a\":1,\"a\":2}"), /* duplicate keys: accepted, json.loads keeps the last */
        DOC("{\"\":0}"),
        DOC("\t\r\n [\t\r\n1\t\r\n]\t\r\n"),
        /* scalars at top level */
        DOC("0"),
        DOC("-0"),
        DOC("-0.0"),
        DOC("-0e0"),
        DOC("7"),
        DOC("-1"),
        DOC("1234567890"),
        DOC("1.5"),
        DOC("0.000001"),
        DOC("1e10"),
        DOC("1E10"),
        DOC("1e+10"),
        DOC("1E-10"),
        DOC("-1.25e-3"),
        DOC("0e0"),
        DOC("123456789012345678901234567890"), /* beyond 64 bits: grammar only */
        DOC("1e400"),
        DOC("\"\""),
        DOC("\"text\""),
        DOC("true"),
        DOC("false"),
        DOC("null"),
        DOC(" 42 "),
        /* escapes */
        DOC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""),
        DOC("\"\\u0041\\u00e9\\u20AC\\uFFFF\\uffFe\""),
        DOC("\"\\ud83d\\ude00\""),
        DOC("\"\\uD834\\uDD1E\""),
        DOC("\"\\ud800\\udc00\""),
        DOC("\"\\udbff\\udfff\""),
        DOC("\"\\ud7ff\\ue000\""), /* just outside the surrogate range */
        DOC("\"\\u0000\""),        /* escaped NUL: valid JSON, see json.h */
        /* raw UTF-8, including every boundary of RFC 3629's table */
        DOC("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""),
        DOC("\"\xc2\x80\xdf\xbf\""),
        DOC("\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\""),
        DOC("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""),
        DOC("{\"cl\xc3\xa9\":\"v\xc3\xa4lue\"}"),
        DOC("\"\x7f\""), /* DEL is not a JSON control character */
        {product_doc, sizeof(product_doc) - 1},
        {feature_doc, sizeof(feature_doc) - 1},
    };
    char reason[128];

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        memcpy(reason, "untouched", 10);
        int rc = validate(valid[i].text, valid[i].len, 16, reason, sizeof(reason));
        if (rc != 0)
            fail_msg("valid case %zu rejected: %s", i, reason);
        if (reason[0] != '\0')
            fail_msg("valid case %zu: reason not cleared", i);
    }
}

/* ------------------------------------------------------------------------
 * Invalid documents: exact reason, exact offset
 * ------------------------------------------------------------------------ */

struct bad {
    const char *text;
    size_t len;
    size_t offset;
    const char *why;
};

/* clang-format off */
#define BAD(s, off, why) {s, sizeof(s) - 1, off, why}
/* clang-format on */

#define R_EMPTY      "empty document"
#define R_EOF        "unexpected end of document"
#define R_TRAILING   "unexpected data after the top-level value"
#define R_NUL        "NUL byte"
#define R_VALUE      "expected a value"
#define R_KEY        "expected a string key"
#define R_COLON      "expected ':' after object key"
#define R_ARRAY      "expected ',' or ']' in array"
#define R_OBJECT     "expected ',' or '}' in object"
#define R_LITERAL    "invalid literal (true, false or null expected)"
#define R_DIGIT      "digit expected in number"
#define R_ZERO       "leading zero in number"
#define R_UNTERM     "unterminated string"
#define R_CONTROL    "raw control character in string"
#define R_ESCAPE     "invalid escape in string"
#define R_HEX        "invalid \\u escape (4 hex digits expected)"
#define R_HIGH       "high surrogate escape not followed by a low one"
#define R_LOW        "low surrogate escape without a high one before it"
#define R_BYTE       "invalid UTF-8 byte"
#define R_CONT       "UTF-8 continuation byte without a lead byte"
#define R_INCOMPLETE "incomplete UTF-8 sequence"
#define R_OVERLONG   "overlong UTF-8 encoding"
#define R_SURROGATE  "surrogate encoded in UTF-8"
#define R_RANGE      "UTF-8 code point above U+10FFFF"

static const struct bad invalid_docs[] = {
    /* empty, trailing data, two values */
    BAD("", 0, R_EMPTY),
    BAD(" \t\r\n ", 5, R_EMPTY),
    BAD("[1,2]x", 5, R_TRAILING),
    BAD("1 2", 2, R_TRAILING),
    BAD("{} {}", 3, R_TRAILING),
    BAD("\"a\"\"b\"", 3, R_TRAILING),
    BAD("[1,2]]", 5, R_TRAILING),
    BAD("{\"a\":1}}", 7, R_TRAILING),
    BAD("truex", 4, R_TRAILING),
    BAD("\xef\xbb\xbf{}", 0, R_VALUE), /* a byte order mark is not JSON */
    /* structure */
    BAD("[1,]", 3, R_VALUE),
    BAD("[,1]", 1, R_VALUE),
    BAD("{\"a\":1,}", 7, R_KEY),
    BAD("{,}", 1, R_KEY),
    BAD("{\"a\" 1}", 5, R_COLON),
    BAD("{\"a\"}", 4, R_COLON),
    BAD("{1:2}", 1, R_KEY),
    BAD("{'a':1}", 1, R_KEY),
    BAD("{a:1}", 1, R_KEY),
    BAD("[1 2]", 3, R_ARRAY),
    BAD("[1}", 2, R_ARRAY),
    BAD("{\"a\":1 \"b\":2}", 7, R_OBJECT),
    BAD("{\"a\":1]", 6, R_OBJECT),
    BAD("[}", 1, R_VALUE),
    BAD("{]", 1, R_KEY),
    BAD("[1/*c*/]", 2, R_ARRAY),
    BAD("'a'", 0, R_VALUE),
    BAD("[", 1, R_EOF),
    BAD("[1,2", 4, R_EOF),
    BAD("{\"a\":", 5, R_EOF),
    BAD("{\"a\"", 4, R_EOF),
    BAD("{", 1, R_EOF),
    /* literals */
    BAD("tru", 0, R_LITERAL),
    BAD("nul", 0, R_LITERAL),
    BAD("nan", 0, R_LITERAL),
    BAD("fals", 0, R_LITERAL),
    BAD("trux", 0, R_LITERAL),
    BAD("[nulL]", 1, R_LITERAL),
    BAD("True", 0, R_VALUE),
    BAD("NULL", 0, R_VALUE),
    BAD("undefined", 0, R_VALUE),
    /* numbers */
    BAD("01", 0, R_ZERO),
    BAD("-01", 1, R_ZERO),
    BAD("00", 0, R_ZERO),
    BAD("[007]", 1, R_ZERO),
    BAD("+1", 0, R_VALUE),
    BAD("1.", 2, R_DIGIT),
    BAD("[1.]", 3, R_DIGIT),
    BAD("1.e5", 2, R_DIGIT),
    BAD(".5", 0, R_VALUE),
    BAD("-", 1, R_DIGIT),
    BAD("-a", 1, R_DIGIT),
    BAD("- 1", 1, R_DIGIT),
    BAD("1e", 2, R_DIGIT),
    BAD("1e+", 3, R_DIGIT),
    BAD("1E-x", 3, R_DIGIT),
    BAD("1e5.5", 3, R_TRAILING),
    BAD("0x10", 1, R_TRAILING),
    BAD("NaN", 0, R_VALUE),
    BAD("Infinity", 0, R_VALUE),
    BAD("-Infinity", 1, R_DIGIT),
    BAD("[1,-NaN]", 4, R_DIGIT),
    /* strings */
    BAD("\"abc", 4, R_UNTERM),
    BAD("\"", 1, R_UNTERM),
    BAD("\"abc\\", 5, R_UNTERM),
    BAD("\"\\u00", 5, R_UNTERM),
    BAD("\"a\tb\"", 2, R_CONTROL),
    BAD("\"a\nb\"", 2, R_CONTROL),
    BAD("\"\x1f\"", 1, R_CONTROL),
    BAD("{\"k\x01\":1}", 3, R_CONTROL),
    BAD("\"\\x\"", 1, R_ESCAPE),
    BAD("\"\\U0041\"", 1, R_ESCAPE),
    BAD("\"\\'\"", 1, R_ESCAPE),
    BAD("\"\\u12\"", 1, R_HEX),
    BAD("\"\\u12G4\"", 1, R_HEX),
    BAD("\"\\u-123\"", 1, R_HEX),
    /* lone surrogate escapes, both orders */
    BAD("\"\\ud800\"", 1, R_HIGH),
    BAD("\"\\uDBFF\"", 1, R_HIGH),
    BAD("\"ab\\ud800cd\"", 3, R_HIGH),
    BAD("\"\\ud800\\ud800\"", 1, R_HIGH),
    BAD("\"\\ud800\\u0041\"", 1, R_HIGH),
    BAD("\"\\ud800\\n\"", 1, R_HIGH),
    BAD("\"\\ud800\\uzzzz\"", 7, R_HEX),
    BAD("\"\\ud800", 7, R_UNTERM),
    BAD("\"\\ud800\\", 8, R_UNTERM),
    BAD("\"\\ud800\\udc", 11, R_UNTERM),
    BAD("\"\\udc00\"", 1, R_LOW),
    BAD("\"\\uDFFF\"", 1, R_LOW),
    BAD("\"\\udc00\\ud800\"", 1, R_LOW),
    BAD("[\"ok\",\"\\ude00\\ud83d\"]", 7, R_LOW),
    /* UTF-8 */
    BAD("\"\xc0\x80\"", 1, R_OVERLONG),
    BAD("\"\xc1\xbf\"", 1, R_OVERLONG),
    BAD("\"\xe0\x80\x80\"", 1, R_OVERLONG),
    BAD("\"\xe0\x9f\xbf\"", 1, R_OVERLONG),
    BAD("\"\xf0\x80\x80\x80\"", 1, R_OVERLONG),
    BAD("\"\xf0\x8f\xbf\xbf\"", 1, R_OVERLONG),
    BAD("\"\xed\xa0\x80\"", 1, R_SURROGATE),
    BAD("\"\xed\xbf\xbf\"", 1, R_SURROGATE),
    BAD("\"\xed\xa0\xbd\xed\xb8\x80\"", 1, R_SURROGATE), /* CESU-8 pair */
    BAD("\"\xf4\x90\x80\x80\"", 1, R_RANGE),
    BAD("\"\xf4\xbf\xbf\xbf\"", 1, R_RANGE),
    BAD("\"\xf5\x80\x80\x80\"", 1, R_BYTE),
    BAD("\"\xff\"", 1, R_BYTE),
    BAD("\"\x80\"", 1, R_CONT),
    BAD("\"a\xbf\"", 2, R_CONT),
    BAD("\"\xc3\"", 2, R_INCOMPLETE),
    BAD("\"\xc3z\"", 2, R_INCOMPLETE),
    BAD("\"\xe2\x82\"", 3, R_INCOMPLETE),
    BAD("\"\xf0\x9f\x98z\"", 4, R_INCOMPLETE),
    BAD("\"\xe2\x82", 3, R_UNTERM),
    BAD("\"\xc3", 2, R_UNTERM),
    BAD("\xc3\xa9", 0, R_VALUE),
    BAD("[\xff]", 1, R_VALUE),
    /* NUL bytes, in a string and outside */
    BAD("\"a\0b\"", 2, R_NUL),
    BAD("{\"k\0\":1}", 3, R_NUL),
    BAD("\0", 0, R_NUL),
    BAD("\0 1", 0, R_NUL),
    BAD("1\0", 1, R_NUL),
    BAD(" 1 \0", 3, R_NUL),
    BAD("[1,\0]", 3, R_NUL),
    BAD("[1\0]", 2, R_NUL),
    BAD("{\0}", 1, R_NUL),
    BAD("{\"a\"\0:1}", 4, R_NUL),
    BAD("{\"a\":1\0}", 6, R_NUL),
};

static void test_invalid_documents(void **state)
{
    (void)state;
    char reason[160], want[160];

    for (size_t i = 0; i < sizeof(invalid_docs) / sizeof(invalid_docs[0]); i++) {
        const struct bad *b = &invalid_docs[i];
        snprintf(want, sizeof(want), "invalid JSON at byte %zu: %s", b->offset, b->why);
        int rc = validate(b->text, b->len, 16, reason, sizeof(reason));
        if (rc != -1)
            fail_msg("invalid case %zu accepted (want \"%s\")", i, want);
        if (strcmp(reason, want) != 0)
            fail_msg("invalid case %zu: reason \"%s\", want \"%s\"", i, reason, want);
    }
}

/* Every lead byte that can never occur in UTF-8, alone and followed by
 * continuation bytes, in a string and outside. */
static void test_utf8_impossible_bytes(void **state)
{
    (void)state;
    char reason[128], doc[8];

    for (unsigned b = 0xf5; b <= 0xff; b++) {
        memcpy(doc, "\"X\x80\x80\x80\"", 6);
        doc[1] = (char)b;
        assert_int_equal(validate(doc, 3, 16, reason, sizeof(reason)), -1);
        assert_string_equal(reason, "invalid JSON at byte 1: " R_BYTE);
        assert_int_equal(validate(doc, 6, 16, reason, sizeof(reason)), -1);
        assert_string_equal(reason, "invalid JSON at byte 1: " R_BYTE);
        assert_int_equal(validate(doc + 1, 1, 16, reason, sizeof(reason)), -1);
        assert_string_equal(reason, "invalid JSON at byte 0: " R_VALUE);
    }
}

/* The string checker against ref_utf8_valid() for every 1- and 2-byte
 * content, every 3-byte content led by a byte >= 0xc0, and 4-byte contents
 * led by 0xf0..0xff around each continuation boundary.  cf_json_quote()
 * must agree too: it rejects exactly what is not UTF-8. */
static bool json_content_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            /* Short escapes; a \u escape needs more bytes than tested here. */
            if (i + 1 < n && s[i + 1] != '\0' && strchr("\"\\/bfnrt", s[i + 1])) {
                i++;
                continue;
            }
            return false;
        }
        if (s[i] < 0x20 || s[i] == '"')
            return false;
    }
    return ref_utf8_valid(s, n);
}

static void check_utf8_content(const unsigned char *s, size_t n, uint64_t *count)
{
    char doc[8], out[32];
    doc[0] = '"';
    memcpy(doc + 1, s, n);
    doc[n + 1] = '"';
    bool want = json_content_ok(s, n);
    int rc = cf_json_validate(doc, n + 2, 1, NULL, 0);
    if ((rc == 0) != want) {
        char h[40];
        hex(doc, n + 2, h, sizeof(h));
        fail_msg("validate %s: got %d, reference says %s", h, rc, want ? "valid" : "invalid");
    }
    long q = cf_json_quote((const char *)s, n, out, sizeof(out));
    if ((q >= 0) != ref_utf8_valid(s, n)) {
        char h[40];
        hex((const char *)s, n, h, sizeof(h));
        fail_msg("quote %s: got %ld, reference disagrees", h, q);
    }
    (*count)++;
}

static void test_utf8_exhaustive(void **state)
{
    (void)state;
    static const unsigned char edges[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    unsigned char s[4];
    uint64_t count = 0;

    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        check_utf8_content(s, 1, &count);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            check_utf8_content(s, 2, &count);
        }
    }
    for (unsigned a = 0xc0; a < 256; a++) {
        s[0] = (unsigned char)a;
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                check_utf8_content(s, 3, &count);
            }
        }
    }
    for (unsigned a = 0xf0; a < 256; a++) {
        s[0] = (unsigned char)a;
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            for (size_t c = 0; c < sizeof(edges); c++) {
                s[2] = edges[c];
                for (size_t d = 0; d < sizeof(edges); d++) {
                    s[3] = edges[d];
                    check_utf8_content(s, 4, &count);
                }
            }
        }
    }
    assert_true(count > 4000000);
}

/* ------------------------------------------------------------------------
 * Depth
 * ------------------------------------------------------------------------ */

static void test_depth_limit(void **state)
{
    (void)state;
    static const int limits[] = {0, 1, 2, 3, 63, 64, 65, 127, 128, 129, 255, 256};
    static const char *const kinds[] = {"a", "o", "ao", "oaa"};
    char *buf = malloc(8192);
    char reason[128], want[128];
    assert_non_null(buf);

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
            int max = limits[i];
            size_t len = build_nest(buf, 8192, max, kinds[k], -1);
            if (validate(buf, len, max, reason, sizeof(reason)) != 0)
                fail_msg("%s depth %d at max_depth %d rejected: %s", kinds[k], max, max, reason);

            len = build_nest(buf, 8192, max + 1, kinds[k], -1);
            assert_int_equal(validate(buf, len, max, reason, sizeof(reason)), -1);
            snprintf(want, sizeof(want), "invalid JSON at byte %zu: nesting deeper than %d",
                     nest_offset(max, kinds[k]), max);
            assert_string_equal(reason, want);

            /* Far deeper than the limit: refused at the same byte. */
            len = build_nest(buf, 8192, 1000, kinds[k], -1);
            assert_int_equal(validate(buf, len, max, reason, sizeof(reason)), -1);
            assert_string_equal(reason, want);
        }
    }

    /* Empty containers count as a level too. */
    assert_int_equal(validate("[[]]", 4, 2, reason, sizeof(reason)), 0);
    assert_int_equal(validate("[[]]", 4, 1, reason, sizeof(reason)), -1);
    assert_string_equal(reason, "invalid JSON at byte 1: nesting deeper than 1");
    assert_int_equal(validate("[{}]", 4, 1, reason, sizeof(reason)), -1);
    assert_int_equal(validate("{}", 2, 0, reason, sizeof(reason)), -1);
    assert_string_equal(reason, "invalid JSON at byte 0: nesting deeper than 0");
    /* Siblings do not add up. */
    assert_int_equal(validate("[[1],[2],{\"a\":[3]}]", 19, 2, reason, sizeof(reason)), -1);
    assert_int_equal(validate("[[1],[2],{\"a\":[3]}]", 19, 3, reason, sizeof(reason)), 0);
    assert_int_equal(validate("[[1],[2],{\"a\":{}}]", 18, 2, reason, sizeof(reason)), -1);
    assert_int_equal(validate("[[1],[2],{\"a\":1}]", 17, 2, reason, sizeof(reason)), 0);
    /* max_depth 0 still allows scalars. */
    assert_int_equal(validate("\"s\"", 3, 0, reason, sizeof(reason)), 0);

    free(buf);
}

/* The bit stack must remember each level's kind across its 64-bit words:
 * closing any one level of a 256-deep mixed nest with the wrong bracket is
 * caught at that bracket. */
static void test_depth_bit_stack(void **state)
{
    (void)state;
    static const char *const kinds[] = {"ao", "oa", "aao", "ooa"};
    char *buf = malloc(4096);
    char reason[128];
    assert_non_null(buf);

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_t len = build_nest(buf, 4096, CF_JSON_DEPTH_MAX, kinds[k], -1);
        assert_int_equal(validate(buf, len, CF_JSON_DEPTH_MAX, reason, sizeof(reason)), 0);
        for (int level = 0; level < CF_JSON_DEPTH_MAX; level++) {
            len = build_nest(buf, 4096, CF_JSON_DEPTH_MAX, kinds[k], level);
            if (validate(buf, len, CF_JSON_DEPTH_MAX, reason, sizeof(reason)) != -1)
                fail_msg("%s: wrong closer at level %d accepted", kinds[k], level);
            /* the closer of level L sits at len - 1 - L */
            size_t at = len - 1 - (size_t)level;
            char want[128];
            bool obj = buf[at] == ']';
            snprintf(want, sizeof(want), "invalid JSON at byte %zu: %s", at,
                     obj ? R_OBJECT : R_ARRAY);
            assert_string_equal(reason, want);
        }
    }
    free(buf);
}

static void test_max_depth_argument(void **state)
{
    (void)state;
    char reason[128];

    assert_int_equal(validate("1", 1, -1, reason, sizeof(reason)), -1);
    assert_string_equal(reason, "max_depth -1 outside 0..256");
    assert_int_equal(validate("1", 1, CF_JSON_DEPTH_MAX + 1, reason, sizeof(reason)), -1);
    assert_string_equal(reason, "max_depth 257 outside 0..256");
    assert_int_equal(validate("1", 1, INT_MAX, reason, sizeof(reason)), -1);
    assert_int_equal(validate("1", 1, INT_MIN, reason, sizeof(reason)), -1);
    assert_int_equal(validate("1", 1, CF_JSON_DEPTH_MAX, reason, sizeof(reason)), 0);
    assert_int_equal(validate("1", 1, 0, reason, sizeof(reason)), 0);
}

/* ------------------------------------------------------------------------
 * Truncation: every strict prefix is rejected
 * ------------------------------------------------------------------------ */

static void check_prefixes(const char *doc, size_t len)
{
    char reason[160];
    json_error_t jerr;

    assert_int_equal(validate(doc, len, 16, reason, sizeof(reason)), 0);
    assert_int_equal(jansson_check(doc, len, 0, &jerr), 0);
    for (size_t n = 0; n < len; n++) {
        if (validate(doc, n, 16, reason, sizeof(reason)) != -1)
            fail_msg("prefix of %zu bytes (of %zu) accepted", n, len);
        /* Reported where the document runs out or earlier, never beyond. */
        const char *at = "invalid JSON at byte ";
        assert_memory_equal(reason, at, strlen(at));
        char *endp;
        unsigned long off = strtoul(reason + strlen(at), &endp, 10);
        assert_true(endp != reason + strlen(at));
        assert_true(off <= n);
        /* Sanity of the sample: jansson agrees it is not a document. */
        if (jansson_check(doc, n, 0, &jerr) != -1)
            fail_msg("jansson accepts a %zu-byte prefix: sample is not suitable", n);
    }
}

static void test_truncated_prefixes(void **state)
{
    (void)state;
    check_prefixes(feature_doc, sizeof(feature_doc) - 1);
    check_prefixes(product_doc, sizeof(product_doc) - 1);
}

/* ------------------------------------------------------------------------
 * Reasons never quote the document
 * ------------------------------------------------------------------------ */

#define MARKER "zqxjvMARK7f3a"

static void test_reason_never_quotes_document(void **state)
{
    (void)state;
    static const struct doc docs[] = {
        DOC("\"" MARKER),                     /* unterminated string */
        DOC("{\"" MARKER "\":1"),             /* end in an object */
        DOC("{\"" MARKER "\" 1}"),            /* missing colon */
        DOC("{\"a\":\"" MARKER "\\q\"}"),     /* bad escape */
        DOC("[\"" MARKER "\\u12\"]"),         /* bad \u escape */
        DOC("[\"" MARKER "\\ud800\"]"),       /* lone high surrogate */
        DOC("[\"" MARKER "\\udc00\"]"),       /* lone low surrogate */
        DOC("\"" MARKER "\t\""),              /* raw control character */
        DOC("\"" MARKER "\xc0\x80\""),        /* overlong */
        DOC("\"" MARKER "\xed\xa0\x80\""),    /* UTF-8 surrogate */
        DOC("\"" MARKER "\xff\""),            /* impossible byte */
        DOC("\"" MARKER "\0\""),              /* NUL */
        DOC(MARKER),                          /* bare word */
        DOC("[" MARKER "]"),                  /* bare word inside */
        DOC("{" MARKER ":1}"),                /* unquoted key */
        DOC("{\"a\":1} " MARKER),             /* trailing garbage */
        DOC("\"" MARKER "\" \"" MARKER "\""), /* two values */
        DOC("[1, 2 " MARKER "]"),             /* missing comma */
        DOC("-" MARKER),                      /* bad number */
        DOC("t" MARKER),                      /* bad literal */
        DOC("[[[[[\"" MARKER "\"]]]]]"),      /* too deep */
    };
    static const size_t reason_sizes[] = {1024, 64, 16};
    static const char marker[] = MARKER;
    char reason[1024];

    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        for (size_t r = 0; r < sizeof(reason_sizes) / sizeof(reason_sizes[0]); r++) {
            memset(reason, 'Z', sizeof(reason));
            if (validate(docs[i].text, docs[i].len, 4, reason, reason_sizes[r]) != -1)
                fail_msg("marker case %zu accepted", i);
            assert_true(strlen(reason) < reason_sizes[r]);
            /* No four consecutive bytes of the marker anywhere. */
            for (size_t k = 0; k + 4 <= strlen(marker); k++) {
                char window[5];
                memcpy(window, marker + k, 4);
                window[4] = '\0';
                if (strstr(reason, window))
                    fail_msg("marker case %zu: reason \"%s\" quotes the document", i, reason);
            }
            if (r == 0 && strncmp(reason, "invalid JSON at byte ", 21) != 0)
                fail_msg("marker case %zu: unexpected reason \"%s\"", i, reason);
        }
    }
}

static void test_reason_buffer(void **state)
{
    (void)state;
    char reason[64], full[64];

    /* No reason buffer at all. */
    assert_int_equal(cf_json_validate("[1,", 3, 4, NULL, 0), -1);
    assert_int_equal(cf_json_validate("[1]", 3, 4, NULL, 0), 0);
    assert_int_equal(cf_json_validate(NULL, 0, 4, NULL, 0), -1);
    assert_int_equal(cf_json_validate("1", 1, -5, NULL, 0), -1);

    assert_int_equal(validate("[1,", 3, 4, full, sizeof(full)), -1);
    assert_string_equal(full, "invalid JSON at byte 3: " R_EOF);
    /* Small buffers: cut, NUL-terminated, nothing written past the size. */
    for (size_t size = 1; size < 40; size++) {
        memset(reason, 'Z', sizeof(reason));
        assert_int_equal(validate("[1,", 3, 4, reason, size), -1);
        assert_int_equal(strlen(reason), size - 1);
        assert_memory_equal(reason, full, size - 1);
        assert_int_equal(reason[size], 'Z');
    }
    /* Success clears it. */
    memset(reason, 'Z', sizeof(reason));
    assert_int_equal(validate("[1]", 3, 4, reason, 5), 0);
    assert_string_equal(reason, "");
    assert_int_equal(reason[1], 'Z');
}

/* The function reads exactly len bytes: what follows is never looked at. */
static void test_reads_only_len(void **state)
{
    (void)state;
    char reason[128];

    assert_int_equal(cf_json_validate("[1]]]]", 3, 4, reason, sizeof(reason)), 0);
    assert_int_equal(cf_json_validate("truefalse", 4, 4, reason, sizeof(reason)), 0);
    assert_int_equal(cf_json_validate("12345", 2, 4, reason, sizeof(reason)), 0);
    assert_int_equal(cf_json_validate("\"ab\"", 3, 4, reason, sizeof(reason)), -1);
    assert_string_equal(reason, "invalid JSON at byte 3: " R_UNTERM);
    assert_int_equal(cf_json_validate("1.5", 2, 4, reason, sizeof(reason)), -1);
    assert_string_equal(reason, "invalid JSON at byte 2: " R_DIGIT);
}

/* ------------------------------------------------------------------------
 * Differential test against jansson
 * ------------------------------------------------------------------------ */

/* Where cf_json_validate() and jansson (JSON_DECODE_ANY, no
 * JSON_ALLOW_NUL) are known to disagree, each on purpose. */
enum known_diff {
    DIFF_NUL_ESCAPE,   /* \u0000: valid JSON, jansson needs JSON_ALLOW_NUL */
    DIFF_NUMBER_RANGE, /* valid grammar, outside jansson's long long/double */
    DIFF_DEPTH,        /* beyond our max_depth, within jansson's 2048 */
    DIFF_DROPPED_NUL,  /* jansson 2.14 skips a raw NUL right after a number or
                        * literal ("1\0" loads): its lexer ungets the NUL
                        * into a buffer where NUL means "empty" */
    DIFF_COUNT,
};

static const char *const diff_names[] = {"\\u0000 escape", "number out of jansson's range",
                                         "deeper than max_depth",
                                         "raw NUL after a token (jansson skips it)"};

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* True when deleting every NUL that follows a digit or letter, as jansson
 * does, leaves a document we accept: jansson's acceptance is then explained
 * by its skipping of those NULs and by nothing else. */
static bool explained_by_dropped_nul(const char *doc, size_t len, int max_depth)
{
    char *t = malloc(len ? len : 1);
    size_t n = 0;
    bool dropped = false;
    assert_non_null(t);
    for (size_t i = 0; i < len; i++) {
        if (doc[i] == '\0' && i > 0 && is_alnum(doc[i - 1])) {
            dropped = true;
            continue;
        }
        t[n++] = doc[i];
    }
    bool ok = dropped && cf_json_validate(t, n, max_depth, NULL, 0) == 0;
    free(t);
    return ok;
}

static bool contains(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return true;
    return false;
}

/* Returns the known difference explaining a disagreement, or -1. */
static int classify_disagreement(const char *doc, size_t len, int max_depth, int ours,
                                 const char *reason, const json_error_t *jerr)
{
    if (ours == 0) {
        if (strstr(jerr->text, "\\u0000") && contains(doc, len, "\\u0000"))
            return DIFF_NUL_ESCAPE;
        if (strstr(jerr->text, "too big") || strstr(jerr->text, "overflow"))
            return DIFF_NUMBER_RANGE;
        return -1;
    }
    if (strstr(reason, "nesting deeper than"))
        return DIFF_DEPTH;
    if (strstr(reason, ": NUL byte") && explained_by_dropped_nul(doc, len, max_depth))
        return DIFF_DROPPED_NUL;
    return -1;
}

/* clang-format off */
#define DC(s, ours, theirs, diff) {s, sizeof(s) - 1, ours, theirs, diff}
/* clang-format on */

/* Each known difference shown on purpose, plus cases one could expect to
 * differ and that do not (jansson, too, rejects lone surrogate escapes). */
static void test_jansson_known_differences(void **state)
{
    (void)state;
    struct diff_case {
        const char *text;
        size_t len;
        int ours, theirs;
        int diff; /* enum known_diff, or -1 when both agree */
    };
    static const struct diff_case cases[] = {
        DC("\"\\u0000\"", 0, -1, DIFF_NUL_ESCAPE),
        DC("{\"k\":\"a\\u0000b\"}", 0, -1, DIFF_NUL_ESCAPE),
        DC("123456789012345678901234567890", 0, -1, DIFF_NUMBER_RANGE),
        DC("[-99999999999999999999]", 0, -1, DIFF_NUMBER_RANGE),
        DC("1e400", 0, -1, DIFF_NUMBER_RANGE),
        DC("[-1.5E+999]", 0, -1, DIFF_NUMBER_RANGE),
        DC("1\0", -1, 0, DIFF_DROPPED_NUL),
        DC("[true\0]", -1, 0, DIFF_DROPPED_NUL),
        DC("{\"a\":1.5e3\0,\"b\":null\0}", -1, 0, DIFF_DROPPED_NUL),
        /* Not differences: */
        DC("1e-400", 0, 0, -1),               /* underflow is fine for both */
        DC("9223372036854775807", 0, 0, -1),  /* INT64_MAX fits */
        DC("\"\\ud800\"", -1, -1, -1),        /* jansson rejects lone high too */
        DC("\"\\udc00\"", -1, -1, -1),        /* and lone low */
        DC("\"\\udc00\\ud800\"", -1, -1, -1), /* and the wrong order */
        DC("\"\\ud800\\u0041\"", -1, -1, -1),
        DC("\"\xed\xa0\x80\"", -1, -1, -1), /* and UTF-8 encoded surrogates */
        DC("\"\xc0\x80\"", -1, -1, -1),     /* and overlongs */
        DC("{\"a\":1,\"a\":2}", 0, 0, -1),  /* duplicate keys: both accept */
        DC("\"a\0\"", -1, -1, -1),          /* raw NUL: both reject */
        DC("[1\0\0]", -1, -1, -1),          /* jansson skips one NUL only */
        DC("[1,\0 2]", -1, -1, -1),         /* and only after a token */
        DC("\"a\"\0", -1, -1, -1),
    };
    char reason[128];
    json_error_t jerr;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct diff_case *c = &cases[i];
        int ours = validate(c->text, c->len, 16, reason, sizeof(reason));
        int theirs = jansson_check(c->text, c->len, 0, &jerr);
        if (ours != c->ours || theirs != c->theirs)
            fail_msg("case %zu: ours %d (want %d), jansson %d (want %d) %s", i, ours, c->ours,
                     theirs, c->theirs, theirs ? jerr.text : "");
        if (c->diff >= 0)
            assert_int_equal(classify_disagreement(c->text, c->len, 16, ours, reason, &jerr),
                             c->diff);
    }

    /* Depth: ours stops at max_depth, jansson at JSON_PARSER_MAX_DEPTH. */
    char *buf = malloc(4096);
    assert_non_null(buf);
    size_t len = build_nest(buf, 4096, CF_JSON_DEPTH_MAX + 1, "ao", -1);
    assert_int_equal(validate(buf, len, CF_JSON_DEPTH_MAX, reason, sizeof(reason)), -1);
    assert_int_equal(jansson_check(buf, len, 0, &jerr), 0);
    assert_int_equal(classify_disagreement(buf, len, CF_JSON_DEPTH_MAX, -1, reason, &jerr),
                     DIFF_DEPTH);
    free(buf);
}

static const char *const corpus_seeds[] = {
    product_doc,
    feature_doc,
    "{\"cart\":{\"id\":\"c-81\",\"lines\":[{\"sku\":\"A1\",\"qty\":2,\"price\":\"9.90\"},"
    "{\"sku\":\"B7\",\"qty\":1,\"price\":\"120.00\",\"gift\":true}],\"total\":\"139.80\","
    "\"coupon\":null,\"note\":\"ring \\u00e0 la porte\"}}",
    "[1,-0,0.5,1e10,-2.5E-3,true,false,null,\"\",[],{}]",
    "{\"s\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\\\\\"\",\"k\":"
    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
    "[[[[[[[[0]]]]]]]]",
    "{\"a\":{\"b\":{\"c\":{\"d\":[1,2,{\"e\":null}]}}}}",
    "\"just a string\"",
    "-12.5e+3",
    " { \"x\" : [ true , false ] } ",
    /* close to the known differences, so mutations reach them */
    "[1234567890123456789,1e308,\"\\u0001\\u0100\",7,true]",
    "[[[[[[[[[]]]]]]]]]",
};

/* Bytes a mutation likes to insert: JSON's own punctuation and the edges of
 * the UTF-8 and escape rules. */
static const unsigned char interesting[] = {
    '"',  '\\', '{',  '}',  '[',  ']',  ',',  ':',  '0',  '1',  '-',  '+',  '.',
    'e',  'E',  ' ',  '\n', 'u',  'd',  'n',  't',  'f',  '/',  0x00, 0x1f, 0x7f,
    0x80, 0xbf, 0xc0, 0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
};

static size_t mutate(uint64_t *rs, char *buf, size_t len, size_t size)
{
    unsigned ops = 1 + (unsigned)(rnd(rs) % 3);
    for (unsigned o = 0; o < ops; o++) {
        unsigned char byte =
            rnd(rs) % 2 ? interesting[rnd(rs) % sizeof(interesting)] : (unsigned char)rnd(rs);
        size_t at = len ? (size_t)(rnd(rs) % len) : 0;
        switch (rnd(rs) % 4) {
        case 0: /* flip one bit */
            if (len)
                buf[at] = (char)(buf[at] ^ (1u << (rnd(rs) % 8)));
            break;
        case 1: /* overwrite */
            if (len)
                buf[at] = (char)byte;
            break;
        case 2: /* insert */
            if (len + 1 < size) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (char)byte;
                len++;
            }
            break;
        default: /* delete */
            if (len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        }
    }
    return len;
}

static void test_differential_jansson(void **state)
{
    (void)state;
    enum { CORPUS = 5000, MAX_DEPTH = 9 };
    uint64_t rs = 0x9e3779b97f4a7c15ULL;
    unsigned agree_ok = 0, agree_bad = 0, diffs[DIFF_COUNT] = {0};
    char buf[1024], reason[160];
    json_error_t jerr;
    const size_t nseeds = sizeof(corpus_seeds) / sizeof(corpus_seeds[0]);

    /* The seeds themselves: both accept. */
    for (size_t i = 0; i < nseeds; i++) {
        size_t len = strlen(corpus_seeds[i]);
        if (validate(corpus_seeds[i], len, MAX_DEPTH, reason, sizeof(reason)) != 0)
            fail_msg("seed %zu rejected: %s", i, reason);
        assert_int_equal(jansson_check(corpus_seeds[i], len, 0, &jerr), 0);
    }

    for (unsigned i = 0; i < CORPUS; i++) {
        const char *seed = corpus_seeds[rnd(&rs) % nseeds];
        size_t len = strlen(seed);
        assert_true(len < sizeof(buf) - 8);
        memcpy(buf, seed, len);
        len = mutate(&rs, buf, len, sizeof(buf));

        int ours = validate(buf, len, MAX_DEPTH, reason, sizeof(reason));
        int theirs = jansson_check(buf, len, 0, &jerr);
        if (ours == theirs) {
            if (ours == 0)
                agree_ok++;
            else
                agree_bad++;
            continue;
        }
        int d = classify_disagreement(buf, len, MAX_DEPTH, ours, reason, &jerr);
        if (d < 0) {
            char h[3 * 600];
            hex(buf, len, h, sizeof(h));
            fail_msg("document %u: ours %d (%s), jansson %d (%s)\n%s", i, ours,
                     ours ? reason : "ok", theirs, theirs ? jerr.text : "ok", h);
        }
        diffs[d]++;
    }

    print_message("differential: %u both accept, %u both reject", agree_ok, agree_bad);
    for (int d = 0; d < DIFF_COUNT; d++)
        print_message(", %u %s", diffs[d], diff_names[d]);
    print_message("\n");
    /* A corpus where one side dominates would prove little. */
    assert_true(agree_ok >= CORPUS / 10);
    assert_true(agree_bad >= CORPUS / 10);
}

/* ------------------------------------------------------------------------
 * cf_json_quote
 * ------------------------------------------------------------------------ */

struct quote_case {
    const char *in;
    size_t len;
    const char *out;
};

/* clang-format off */
#define Q(in, out) {in, sizeof(in) - 1, out}
/* clang-format on */

static void test_quote_table(void **state)
{
    (void)state;
    static const struct quote_case cases[] = {
        Q("", "\"\""),
        Q("abc", "\"abc\""),
        Q("a\"b", "\"a\\\"b\""),
        Q("back\\slash", "\"back\\\\slash\""),
        Q("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\""),
        Q("\x01\x02\x1e\x1f", "\"\\u0001\\u0002\\u001e\\u001f\""),
        Q("\x0b", "\"\\u000b\""),
        Q("a\0b", "\"a\\u0000b\""),
        Q("/", "\"/\""),
        Q("\x7f", "\"\x7f\""),
        Q(" ~", "\" ~\""),
        Q("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""),
        Q("\xef\xbb\xbf", "\"\xef\xbb\xbf\""),
        Q("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""),
        Q("\\u0041", "\"\\\\u0041\""),
        Q("\"\"", "\"\\\"\\\"\""),
    };
    char out[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(out, 'Z', sizeof(out));
        long r = cf_json_quote(cases[i].in, cases[i].len, out, sizeof(out));
        if (r != (long)strlen(cases[i].out) || strcmp(out, cases[i].out) != 0)
            fail_msg("quote case %zu: got %ld \"%s\", want \"%s\"", i, r, out, cases[i].out);
        /* Measuring alone gives the same length and writes nothing. */
        assert_int_equal(cf_json_quote(cases[i].in, cases[i].len, NULL, 0), r);
    }
}

static void test_quote_invalid_utf8(void **state)
{
    (void)state;
    static const struct doc bad[] = {
        DOC("\xc0\x80"),     DOC("\xc1\xbf"),     DOC("\xe0\x9f\xbf"),     DOC("\xf0\x8f\xbf\xbf"),
        DOC("\xed\xa0\x80"), DOC("\xed\xbf\xbf"), DOC("\xf4\x90\x80\x80"), DOC("\xf5\x80\x80\x80"),
        DOC("\xff"),         DOC("\x80"),         DOC("ok\xbf"),           DOC("\xe2\x82"),
        DOC("\xc3"),         DOC("\xc3z"),        DOC("abc\xf0\x9f\x98"),
    };
    char out[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *copy = malloc(bad[i].len);
        assert_non_null(copy);
        memcpy(copy, bad[i].text, bad[i].len);
        memset(out, 'Z', sizeof(out));
        if (cf_json_quote(copy, bad[i].len, out, sizeof(out)) != -1)
            fail_msg("invalid UTF-8 case %zu quoted", i);
        assert_int_equal(out[0], '\0');
        assert_int_equal(cf_json_quote(copy, bad[i].len, NULL, 0), -1);
        free(copy);
    }
    /* A length whose literal might not fit a long. */
    assert_int_equal(cf_json_quote("x", SIZE_MAX, out, sizeof(out)), -1);
    assert_int_equal(out[0], '\0');
}

/* Quote s, check the literal with cf_json_validate() and load it back with
 * jansson: the same bytes must come out. */
static void check_roundtrip(const char *s, size_t len)
{
    long need = cf_json_quote(s, len, NULL, 0);
    assert_true(need >= 2);
    char *out = malloc((size_t)need + 1);
    assert_non_null(out);
    assert_int_equal(cf_json_quote(s, len, out, (size_t)need + 1), need);
    assert_int_equal(out[need], '\0');
    assert_int_equal(strlen(out), (size_t)need); /* no raw NUL in a literal */

    char reason[128];
    if (validate(out, (size_t)need, 1, reason, sizeof(reason)) != 0)
        fail_msg("quoted literal rejected by cf_json_validate: %s", reason);

    /* JSON_ALLOW_NUL because s may hold NUL, which quotes as \u0000. */
    json_error_t jerr;
    json_t *j = json_loadb(out, (size_t)need, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("jansson rejects quoted literal: %s", jerr.text);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), len);
    assert_memory_equal(json_string_value(j), s, len);
    json_decref(j);
    free(out);
}

static void test_quote_roundtrip_jansson(void **state)
{
    (void)state;
    char buf[1024];
    uint64_t rs = 0x5eed5eed5eedULL;

    /* Every control character alone, then every ASCII byte in one string. */
    for (unsigned c = 0; c < 0x20; c++) {
        buf[0] = (char)c;
        check_roundtrip(buf, 1);
    }
    for (unsigned c = 0; c < 0x80; c++)
        buf[c] = (char)c;
    check_roundtrip(buf, 0x80);

    static const struct doc fixed[] = {
        DOC(""),
        DOC("\"\\\"\\\\\"\""),
        DOC("\\\\\\u0041\\n"),
        DOC("C:\\path\\to\\\"file\""),
        DOC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87 \xf4\x8f\xbf\xbf"),
        DOC("\xef\xbf\xbf\xee\x80\x80\xed\x9f\xbf\xc2\x80"),
        DOC("mixed\0\"\\\n\xc3\xa9\x1f\x7f"),
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        check_roundtrip(fixed[i].text, fixed[i].len);

    /* Random strings of random code points from every UTF-8 length. */
    for (int i = 0; i < 500; i++) {
        size_t len = 0, chars = (size_t)(rnd(&rs) % 60);
        for (size_t k = 0; k < chars; k++) {
            unsigned cp;
            switch (rnd(&rs) % 5) {
            case 0:
                cp = (unsigned)(rnd(&rs) % 0x80); /* ASCII incl. controls */
                break;
            case 1:
                cp = (unsigned)(0x80 + rnd(&rs) % 0x780);
                break;
            case 2:
                cp = (unsigned)(0x800 + rnd(&rs) % 0xf800);
                break;
            case 3:
                cp = (unsigned)(0x10000 + rnd(&rs) % 0x100000);
                break;
            default:
                cp = (unsigned char)"\"\\\n\t/"[rnd(&rs) % 5];
                break;
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd;
            len += utf8_encode(cp, buf + len);
        }
        check_roundtrip(buf, len);
    }
}

/* Units of a quoted literal, split independently of json.c: an escape
 * (\X or \uXXXX), a UTF-8 character, or one byte. */
static size_t unit_len(const char *lit, size_t at)
{
    unsigned char c = (unsigned char)lit[at];
    if (c == '\\')
        return lit[at + 1] == 'u' ? 6 : 2;
    if (c >= 0xf0)
        return 4;
    if (c >= 0xe0)
        return 3;
    if (c >= 0xc0)
        return 2;
    return 1;
}

static void check_truncation(const char *s, size_t len)
{
    char full[256];
    long need = cf_json_quote(s, len, full, sizeof(full));
    assert_true(need > 0 && (size_t)need < sizeof(full));

    for (size_t size = 0; size <= (size_t)need + 2; size++) {
        char out[256 + 8];
        memset(out, 'Z', sizeof(out));
        long r = cf_json_quote(s, len, size ? out : NULL, size);
        assert_int_equal(r, need);
        if (size == 0)
            continue;
        for (size_t k = size; k < sizeof(out); k++)
            if (out[k] != 'Z')
                fail_msg("size %zu: byte %zu written past out_size", size, k);
        size_t w = strlen(out);
        assert_true(w < size);
        assert_memory_equal(out, full, w);
        /* Expected: the longest run of whole units fitting size - 1 bytes. */
        size_t want = 0;
        while (want < (size_t)need && want + unit_len(full, want) <= size - 1)
            want += unit_len(full, want);
        if (w != want)
            fail_msg("size %zu: %zu bytes written, want %zu", size, w, want);
        /* Complete exactly when need < size. */
        assert_int_equal(w == (size_t)need, (size_t)need < size);
    }
}

static void test_quote_truncation(void **state)
{
    (void)state;
    static const struct doc cases[] = {
        DOC("plain ascii text"),
        DOC("a\nb\"c\\d\x01z"),
        DOC("\xc3\xa9t\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80!"),
        DOC("\x1f\xf0\x9f\x98\x80\x1f\xe2\x82\xac\t\xc3\xa9\0"),
        DOC(""),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_truncation(cases[i].text, cases[i].len);

    /* Spot checks of the contract, independent of unit_len(). */
    char out[8];
    assert_int_equal(cf_json_quote("\xe2\x82\xac", 3, out, 4), 5); /* "€" needs 5 */
    assert_string_equal(out, "\"");                                /* € not cut */
    assert_int_equal(cf_json_quote("\xe2\x82\xac", 3, out, 5), 5);
    assert_string_equal(out, "\"\xe2\x82\xac"); /* no closing quote */
    assert_int_equal(cf_json_quote("\xe2\x82\xac", 3, out, 6), 5);
    assert_string_equal(out, "\"\xe2\x82\xac\""); /* complete */
    assert_int_equal(cf_json_quote("\x01", 1, out, 6), 8);
    assert_string_equal(out, "\""); /* \u0001 not cut */
    assert_int_equal(cf_json_quote("ab", 2, out, 1), 4);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_documents),
        cmocka_unit_test(test_invalid_documents),
        cmocka_unit_test(test_utf8_impossible_bytes),
        cmocka_unit_test(test_utf8_exhaustive),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_bit_stack),
        cmocka_unit_test(test_max_depth_argument),
        cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_reason_never_quotes_document),
        cmocka_unit_test(test_reason_buffer),
        cmocka_unit_test(test_reads_only_len),
        cmocka_unit_test(test_jansson_known_differences),
        cmocka_unit_test(test_differential_jansson),
        cmocka_unit_test(test_quote_table),
        cmocka_unit_test(test_quote_invalid_utf8),
        cmocka_unit_test(test_quote_roundtrip_jansson),
        cmocka_unit_test(test_quote_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
