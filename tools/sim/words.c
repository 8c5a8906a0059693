/* words.c - the shop's vocabulary and text normalisations (see words.h).
 *
 * DESIGN
 * Word lists are static const tables indexed by enum sim_wordlist; nothing
 * here is mutable.  Folding only knows the Latin-1 Supplement letters
 * (U+00C0..U+00FF, encoded C3 80..C3 BF in UTF-8), which covers every
 * accented letter in the lists; any other multi-byte sequence is dropped
 * whole.
 */
#include "words.h"

#include <assert.h>
#include <string.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const adjectives[] = {
    "Classic", "Urban",    "Essential", "Premium", "Vintage", "Modern",   "Compact", "Deluxe",
    "Rustic",  "Everyday", "Nordic",    "Summit",  "Coastal", "Heritage", "Smart",   "Silent",
    "Rapid",   "Ultra",    "Soft",      "Bold",    "Tiny",    "Grand",    "Breezy",  "Sturdy",
    "Sleek",   "Cozy",     "Wild",      "Pure",    "Lunar",   "Solar",    "Alpine",  "Metro",
    "Royal",   "Crisp",    "Gentle",    "Rugged",  "Vivid",   "Quiet",    "Swift",   "Élégant",
};

static const char *const materials[] = {
    "Leather",  "Cotton", "Wool",     "Linen", "Bamboo", "Oak",    "Walnut",
    "Steel",    "Copper", "Ceramic",  "Glass", "Canvas", "Denim",  "Suède",
    "Cashmere", "Silk",   "Titanium", "Cork",  "Marble", "Velvet",
};

static const char *const nouns[] = {
    "Boots",    "Sneakers",      "Sandals", "Jacket",   "Hoodie",     "Scarf",
    "Backpack", "Wallet",        "Watch",   "Lamp",     "Chair",      "Table",
    "Mug",      "Teapot",        "Blender", "Kettle",   "Headphones", "Speaker",
    "Keyboard", "Mouse",         "Monitor", "Tent",     "Bottle",     "Blanket",
    "Pillow",   "Towel",         "Candle",  "Vase",     "Notebook",   "Pen",
    "Umbrella", "Sunglasses",    "Belt",    "Gloves",   "Beanie",     "Skillet",
    "Knife",    "Cutting Board", "Bicycle", "Helmet",   "Yoga Mat",   "Dumbbell",
    "Shirt",    "Trousers",      "Dress",   "Raincoat", "Duvet",      "Crème Brûlée Set",
};

static const char *const models[] = {
    "Pro", "Lite", "Max", "Mini", "Plus", "Air", "2", "3", "X", "240", "500", "S", "Go", "One",
};

static const char *const brands[] = {
    "Nordlys",     "Atelier Solène", "Müllerhaus", "Kestrel & Co.", "Brightwater",
    "Oakhurst",    "Fjordline",      "Copperleaf", "Halden",        "Ironbark",
    "Bluepeak",    "Maison Léa",     "Tidewell",   "Northwind",     "Greyfox",
    "Lumen Works", "Stonebridge",    "Vela",       "Quill & Ash",   "Riverstone",
    "Kōbō",        "Sundial",        "Peregrine",  "Ember",         "Hollow Pine",
};

static const char *const cat_qualifiers[] = {
    "Outdoor", "Indoor", "Kids'", "Men's",  "Women's", "Kitchen", "Garden",
    "Office",  "Travel", "Sport", "Home",   "Winter",  "Summer",  "Vintage",
    "Eco",     "Gift",   "Bath",  "Living", "Party",   "Café",
};

static const char *const cat_nouns[] = {
    "Footwear",    "Clothing",  "Accessories", "Furniture", "Lighting", "Décor",
    "Electronics", "Audio",     "Cookware",    "Tableware", "Textiles", "Stationery",
    "Bags",        "Jewellery", "Tools",       "Fitness",   "Camping",  "Storage",
    "Essentials",  "Deals",     "Classics",    "Basics",    "Gadgets",  "Care",
};

static const char *const phrases[] = {
    "Made to last, with a two-year warranty.",
    "Designed in Zürich — built for everyday use.",
    "Carefully finished by hand in small batches.",
    "Lightweight, durable and easy to clean.",
    "A customer favourite since its first season.",
    "Ships in recyclable packaging within 24 hours.",
    "Pairs well with the rest of the collection.",
    "Tested in the field by our own team.",
    "Available while stocks last – order early.",
    "Soft to the touch and kind to the planet.",
    "Fits most needs; see the size guide for details.",
    "Winner of the 2024 design award « Objet de l’année ».",
};

struct list {
    const char *const *words;
    uint32_t count;
};

static const struct list lists[SIM_WORDS_LIST_COUNT] = {
    [SIM_WORDS_ADJECTIVE] = {adjectives, N_OF(adjectives)},
    [SIM_WORDS_MATERIAL] = {materials, N_OF(materials)},
    [SIM_WORDS_NOUN] = {nouns, N_OF(nouns)},
    [SIM_WORDS_MODEL] = {models, N_OF(models)},
    [SIM_WORDS_BRAND] = {brands, N_OF(brands)},
    [SIM_WORDS_CAT_QUALIFIER] = {cat_qualifiers, N_OF(cat_qualifiers)},
    [SIM_WORDS_CAT_NOUN] = {cat_nouns, N_OF(cat_nouns)},
    [SIM_WORDS_PHRASE] = {phrases, N_OF(phrases)},
};

uint32_t sim_words_count(enum sim_wordlist list)
{
    assert(list < SIM_WORDS_LIST_COUNT);
    return lists[list].count;
}

const char *sim_words_get(enum sim_wordlist list, uint32_t i)
{
    assert(list < SIM_WORDS_LIST_COUNT && i < lists[list].count);
    return lists[list].words[i];
}

/* ASCII base letters of U+00C0..U+00FF; '-' drops the character (x, /). */
static const char latin1_fold[64 + 1] = "aaaaaaaceeeeiiii"
                                        "dnooooo-ouuuuyts"
                                        "aaaaaaaceeeeiiii"
                                        "dnooooo-ouuuuyty";

/* Length of the UTF-8 sequence led by byte c (1 for a stray byte). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xf0)
        return 4;
    if (c >= 0xe0)
        return 3;
    if (c >= 0xc0)
        return 2;
    return 1;
}

/* Normalises the bytes [p, end) into out; returns the length written. */
static size_t normalise_span(const char *p, const char *end, char *out, size_t size)
{
    size_t n = 0;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        char folded = 0;
        size_t step = 1;
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z')
                folded = (char)(c - 'A' + 'a');
            else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                folded = (char)c;
        } else {
            step = utf8_len(c);
            if (step == 2 && c == 0xc3 && p + 1 < end) {
                unsigned char c2 = (unsigned char)p[1];
                if (c2 >= 0x80 && c2 <= 0xbf && latin1_fold[c2 - 0x80] != '-')
                    folded = latin1_fold[c2 - 0x80];
            }
            if ((size_t)(end - p) < step)
                step = (size_t)(end - p);
        }
        if (folded && n + 1 < size)
            out[n++] = folded;
        p += step;
    }
    out[n] = '\0';
    return n;
}

size_t sim_words_normalise(const char *word, char *out, size_t size)
{
    assert(size > 0);
    return normalise_span(word, word + strlen(word), out, size);
}

size_t sim_words_slug(const char *text, char *out, size_t size)
{
    assert(size > 0);
    size_t n = 0;
    out[0] = '\0';
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        if (p == start)
            break;
        char word[64];
        size_t len = normalise_span(start, p, word, sizeof(word));
        if (len == 0)
            continue;
        size_t need = len + (n ? 1 : 0);
        if (n + need + 1 > size)
            break; /* cut at a word boundary */
        if (n)
            out[n++] = '-';
        memcpy(out + n, word, len);
        n += len;
        out[n] = '\0';
    }
    return n;
}
