/* words.h - the word lists the shop is written with, and the two text
 * normalisations the shop's contract depends on (search terms and slugs).
 *
 * What it owns: constant vocabularies (adjectives, materials, product
 * nouns, model designations, brands, category words, description phrases)
 * and the rules that turn display text into search terms and slugs.  What it
 * does not: choosing words (the shop model does, with its generator).
 *
 * DESIGN
 * The lists are fixed tables, so a seed names the same shop in every build
 * as long as the tables are unchanged: appending to a list changes the
 * shops that every seed produces, which is fine, but keep that in mind when
 * a test pins an expected value.  A few entries carry non-ASCII letters
 * (UTF-8), so the consumers see real UTF-8 in names and representations;
 * the normalisations fold the Latin-1 letters among them to ASCII ("Crème"
 * -> "creme") and drop any other non-ASCII byte, because search terms and
 * slugs are lower-case ASCII letters and digits only.
 *
 * Thread: any (no state).
 */
#ifndef CF_SIM_WORDS_H
#define CF_SIM_WORDS_H

#include <stddef.h>
#include <stdint.h>

enum sim_wordlist {
    SIM_WORDS_ADJECTIVE,     /* "Classic", first word of a product name */
    SIM_WORDS_MATERIAL,      /* "Leather", optional second word */
    SIM_WORDS_NOUN,          /* "Boots", the product's kind */
    SIM_WORDS_MODEL,         /* "Pro", "240", an optional last word */
    SIM_WORDS_BRAND,         /* "Nordlys", may contain spaces and punctuation */
    SIM_WORDS_CAT_QUALIFIER, /* "Outdoor", first word of a category name */
    SIM_WORDS_CAT_NOUN,      /* "Footwear", last word of a category name */
    SIM_WORDS_PHRASE,        /* one sentence of a product description */
    SIM_WORDS_LIST_COUNT
};

/* Number of entries of a list (> 0). */
uint32_t sim_words_count(enum sim_wordlist list);

/* Entry i (< sim_words_count(list)) of a list: a static UTF-8 string. */
const char *sim_words_get(enum sim_wordlist list, uint32_t i);

/* Normalises one word into a search term: ASCII letters lower-cased, ASCII
 * digits kept, Latin-1 letters folded to their ASCII base letter, everything
 * else dropped ("Café" -> "cafe", "X-200" -> "x200", "&" -> "").  Writes at
 * most size - 1 bytes and a NUL into out (size > 0).  Returns the length
 * written (0 when nothing of the word is left). */
size_t sim_words_normalise(const char *word, char *out, size_t size);

/* Makes a URL slug of a text: its words normalised as above, joined by '-',
 * empty words skipped ("Home & Décor" -> "home-decor").  Writes at most
 * size - 1 bytes and a NUL (size > 0); a slug that does not fit is cut at
 * a word boundary.  Returns the length written. */
size_t sim_words_slug(const char *text, char *out, size_t size);

#endif
