/*
 * engine/generator.c - typed generators: keyed pairs, YSB events and the
 * NEXMark person/auction/bid streams, made in memory, deterministic from a
 * seed.
 *
 * Invariants: a row is a pure function of (options, event number): event n
 * draws from its own random state (the seed mixed with n), so
 * spate_generator_fill can make any range of events and a stream makes the
 * very same rows in order. The NEXMark ids follow Beam's GeneratorConfig:
 * event n is a person, auction or bid by n mod 50 (1 : 3 : 46), and the last
 * person and auction ids made up to event n are arithmetic in n, so sellers,
 * bidders and auctions are picked among ids that exist by then (Beam's small
 * look-ahead of 10 ids is left out: every reference points backwards).
 *
 * The stream side is a receiver stream with a thread of its own: rows are
 * written straight into the chunks of queue items (one item a partition of
 * the batch that takes it), 16,384 events of the sequence an item; the
 * memory of the items made and not yet processed is bounded by ring_bytes
 * (backpressure: the thread waits); lines_per_second is an open-loop schedule
 * (the due events gathered into an item at least every 5 ms); max_lines ends
 * the stream.
 */
#include "engine/generator.h"
#include "engine/context.h"
#include "engine/dstream.h"
#include "engine/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

/* ---- The model ---- */

enum {
    NX_PERSON_PROP = 1, /* Beam's proportions of persons, auctions and bids */
    NX_AUCTION_PROP = 3,
    NX_BID_PROP = 46,
    NX_DENOM = 50,
    NX_FIRST_PERSON_ID = 1000,
    NX_FIRST_AUCTION_ID = 1000,
    NX_FIRST_CATEGORY_ID = 10,
    NX_CATEGORIES = 5,
    NX_ACTIVE_PEOPLE = 1000,     /* bidders and sellers not hot: among the latest 1000 persons */
    NX_IN_FLIGHT_AUCTIONS = 100, /* bids not hot: among the latest 100 auctions */
    NX_HOT_AUCTION_RATIO = 2,    /* 1 of 2 bids on a hot auction */
    NX_HOT_SELLER_RATIO = 4,     /* 3 of 4 auctions by a hot seller */
    NX_HOT_BIDDER_RATIO = 4,     /* 3 of 4 bids by a hot bidder */
    NX_HOT_SPACING = 100,        /* hot ids are multiples of 100 */
    NX_PERSON_BYTES = 64,        /* string bytes a person may need: name, email, card */
    NX_AUCTION_BYTES = 80,       /* item name (up to 20) and description (up to 60) */
    NX_CHANNELS = 10000,         /* "channel-N" of the bids not on a hot channel */
    YSB_USERS = 1000000,
    YSB_PAGES = 100000,
};

static const struct spate_column_def keyed_cols[] = {{"key", SPATE_TYPE_I64},
                                                     {"value", SPATE_TYPE_I64}};
static const struct spate_column_def ysb_cols[] = {{"user_id", SPATE_TYPE_I64},
                                                   {"page_id", SPATE_TYPE_I64},
                                                   {"ad_id", SPATE_TYPE_I64},
                                                   {"ad_type", SPATE_TYPE_STRING},
                                                   {"event_type", SPATE_TYPE_STRING},
                                                   {"event_time", SPATE_TYPE_TIMESTAMP},
                                                   {"ip", SPATE_TYPE_I64}};
static const struct spate_column_def person_cols[] = {{"id", SPATE_TYPE_I64},
                                                      {"name", SPATE_TYPE_STRING},
                                                      {"email", SPATE_TYPE_STRING},
                                                      {"credit_card", SPATE_TYPE_STRING},
                                                      {"city", SPATE_TYPE_STRING},
                                                      {"state", SPATE_TYPE_STRING},
                                                      {"date_time", SPATE_TYPE_TIMESTAMP}};
static const struct spate_column_def auction_cols[] = {{"id", SPATE_TYPE_I64},
                                                       {"item_name", SPATE_TYPE_STRING},
                                                       {"description", SPATE_TYPE_STRING},
                                                       {"initial_bid", SPATE_TYPE_I64},
                                                       {"reserve", SPATE_TYPE_I64},
                                                       {"date_time", SPATE_TYPE_TIMESTAMP},
                                                       {"expires", SPATE_TYPE_TIMESTAMP},
                                                       {"seller", SPATE_TYPE_I64},
                                                       {"category", SPATE_TYPE_I64}};
static const struct spate_column_def bid_cols[] = {{"auction", SPATE_TYPE_I64},
                                                   {"bidder", SPATE_TYPE_I64},
                                                   {"price", SPATE_TYPE_I64},
                                                   {"channel", SPATE_TYPE_STRING},
                                                   {"date_time", SPATE_TYPE_TIMESTAMP}};

static const char *const first_names[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const last_names[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith",  "Jones",   "Noris"};
/* Words of the static tables, with their lengths (no strlen per row). */
struct word {
    const char *s;
    uint32_t len;
};
#define W(lit)                                                                                     \
    { lit, sizeof(lit) - 1 }
static const struct word cities[] = {
    W("Phoenix"), W("Los Angeles"), W("San Francisco"), W("Boise"), W("Portland"),
    W("Bend"),    W("Redmond"),     W("Seattle"),       W("Kent"),  W("Cheyenne")};
static const struct word states[] = {W("AZ"), W("CA"), W("ID"), W("OR"), W("WA"), W("WY")};
static const struct word hot_channels[] = {W("Google"), W("Facebook"), W("Baidu"), W("Apple")};
static const struct word ad_types[] = {W("banner"), W("modal"), W("sponsored-search"), W("mail"),
                                       W("mobile")};
static const struct word event_types[] = {W("view"), W("click"), W("purchase")};
#undef W

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t next_rng(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The random state of event n: the seed and n mixed, so that any event can be made alone. */
static uint64_t event_rng(const struct spate_generator_opts *o, uint64_t n) {
    uint64_t s = o->seed * 0xd1b54a32d192ed03ull ^ (n + 1) * 0x9e3779b97f4a7c15ull;
    return next_rng(&s);
}

static bool is_nexmark(enum spate_generator_kind k) {
    return k == SPATE_GENERATOR_NEXMARK_PERSON || k == SPATE_GENERATOR_NEXMARK_AUCTION ||
           k == SPATE_GENERATOR_NEXMARK_BID;
}

/* First offset (within the 50 events of an epoch) and proportion of kind k. */
static void kind_span(enum spate_generator_kind k, uint64_t *lo, uint64_t *prop) {
    if (k == SPATE_GENERATOR_NEXMARK_PERSON)
        *lo = 0, *prop = NX_PERSON_PROP;
    else if (k == SPATE_GENERATOR_NEXMARK_AUCTION)
        *lo = NX_PERSON_PROP, *prop = NX_AUCTION_PROP;
    else if (k == SPATE_GENERATOR_NEXMARK_BID)
        *lo = NX_PERSON_PROP + NX_AUCTION_PROP, *prop = NX_BID_PROP;
    else
        *lo = 0, *prop = NX_DENOM; /* every event is a row */
}

/* Rows of kind k among events [0, x). */
static uint64_t rows_below(enum spate_generator_kind k, uint64_t x) {
    uint64_t lo, prop;
    kind_span(k, &lo, &prop);
    uint64_t off = x % NX_DENOM;
    uint64_t part = off <= lo ? 0 : SP_MIN(off - lo, prop);
    return x / NX_DENOM * prop + part;
}

/* Base-0 id of the last person made up to event n (event 0 is a person). */
static int64_t last_person(uint64_t n) {
    uint64_t epoch = n / NX_DENOM, off = n % NX_DENOM;
    if (off >= NX_PERSON_PROP)
        off = NX_PERSON_PROP - 1;
    return (int64_t)(epoch * NX_PERSON_PROP + off);
}

/* Base-0 id of the last auction made up to event n; -1 before the first. */
static int64_t last_auction(uint64_t n) {
    int64_t epoch = (int64_t)(n / NX_DENOM), off = (int64_t)(n % NX_DENOM);
    if (off < NX_PERSON_PROP) {
        epoch--;
        off = NX_AUCTION_PROP - 1;
    } else if (off >= NX_PERSON_PROP + NX_AUCTION_PROP) {
        off = NX_AUCTION_PROP - 1;
    } else {
        off -= NX_PERSON_PROP;
    }
    return epoch * NX_AUCTION_PROP + off;
}

/* A base-0 person among the latest NX_ACTIVE_PEOPLE made up to event n. */
static int64_t pick_person(uint64_t n, uint64_t *rng) {
    uint64_t people = (uint64_t)last_person(n) + 1;
    uint64_t active = SP_MIN(people, (uint64_t)NX_ACTIVE_PEOPLE);
    return (int64_t)(people - active + next_rng(rng) % active);
}

/* A base-0 auction among the latest NX_IN_FLIGHT_AUCTIONS made up to event n (n a bid). */
static int64_t pick_auction(uint64_t n, uint64_t *rng) {
    int64_t max = last_auction(n), min = SP_MAX(max - NX_IN_FLIGHT_AUCTIONS, (int64_t)0);
    return min + (int64_t)(next_rng(rng) % (uint64_t)(max - min + 1));
}

/* A price in cents, log-uniform by decade from $1 to $1M (NEXMark: 10^(6u) dollars): decade
 * d (0..5) given, the value within it drawn. */
static int64_t pick_price(uint64_t *rng, uint64_t d) {
    int64_t decade = 100;
    for (; d > 0; d--)
        decade *= 10;
    return decade + (int64_t)(next_rng(rng) % (uint64_t)(9 * decade));
}

/* ---- Rows ---- */

/* Where fill writes: column arrays and the string bytes. */
struct out {
    void *const *cols;
    uint64_t row;
    char *bytes;
    uint64_t used;
};

static void put_i64(struct out *w, uint32_t col, int64_t v) {
    ((int64_t *)w->cols[col])[w->row] = v;
}

/* A string of len bytes at s: inline when short (set here, as sp_string_view would), else a
 * view of s (static storage, or bytes the caller keeps). */
static void put_view(struct out *w, uint32_t col, const char *s, uint32_t len) {
    struct spate_string *v = &((struct spate_string *)w->cols[col])[w->row];
    if (len > SPATE_STRING_INLINE) {
        sp_string_view(v, s, len);
        return;
    }
    memset(v, 0, sizeof(*v));
    v->len = len;
    memcpy((char *)v + offsetof(struct spate_string, prefix), s, len);
}

/* A word of a static table. */
static void put_static(struct out *w, uint32_t col, const struct word *word) {
    put_view(w, col, word->s, word->len);
}

/* A string written at w->bytes + w->used by the caller, len bytes: inline or kept there. */
static void put_made(struct out *w, uint32_t col, uint32_t len) {
    sp_string_view(&((struct spate_string *)w->cols[col])[w->row], w->bytes + w->used, len);
    if (len > SPATE_STRING_INLINE)
        w->used += len;
}

static uint32_t append(char *dst, const char *s) {
    uint32_t len = (uint32_t)strlen(s);
    memcpy(dst, s, len);
    return len;
}

static uint32_t letters(char *dst, uint32_t len, uint64_t *rng, bool spaces) {
    for (uint32_t i = 0; i < len; i++) {
        uint64_t r = next_rng(rng);
        dst[i] = spaces && i > 0 && i + 1 < len && r % 8 == 0 ? ' ' : (char)('a' + (r >> 8) % 26);
    }
    return len;
}

static void make_person(const struct spate_generator_opts *o, uint64_t n, int64_t t,
                        struct out *w) {
    uint64_t rng = event_rng(o, n);
    put_i64(w, 0, last_person(n) + NX_FIRST_PERSON_ID);
    char *p = w->bytes + w->used;
    uint32_t len = append(p, first_names[next_rng(&rng) % COUNT_OF(first_names)]);
    p[len++] = ' ';
    len += append(p + len, last_names[next_rng(&rng) % COUNT_OF(last_names)]);
    put_made(w, 1, len);
    p = w->bytes + w->used;
    len = letters(p, 7, &rng, false);
    p[len++] = '@';
    len += letters(p + len, 5, &rng, false);
    len += append(p + len, ".com");
    put_made(w, 2, len);
    p = w->bytes + w->used;
    len = 0;
    for (int group = 0; group < 4; group++) {
        uint64_t digits = next_rng(&rng) % 10000;
        if (group > 0)
            p[len++] = ' ';
        for (uint64_t div = 1000; div > 0; div /= 10)
            p[len++] = (char)('0' + digits / div % 10);
    }
    put_made(w, 3, len);
    put_static(w, 4, &cities[next_rng(&rng) % COUNT_OF(cities)]);
    put_static(w, 5, &states[next_rng(&rng) % COUNT_OF(states)]);
    put_i64(w, 6, t);
}

static void make_auction(const struct spate_generator_opts *o, uint64_t n, int64_t t,
                         struct out *w) {
    uint64_t rng = event_rng(o, n);
    put_i64(w, 0, last_auction(n) + NX_FIRST_AUCTION_ID);
    char *p = w->bytes + w->used;
    put_made(w, 1, letters(p, 5 + (uint32_t)(next_rng(&rng) % 16), &rng, false));
    p = w->bytes + w->used;
    put_made(w, 2, letters(p, 20 + (uint32_t)(next_rng(&rng) % 41), &rng, true));
    int64_t initial = pick_price(&rng, next_rng(&rng) % 6);
    put_i64(w, 3, initial);
    put_i64(w, 4, initial + pick_price(&rng, next_rng(&rng) % 6));
    put_i64(w, 5, t);
    /* Open for about as long as the in-flight auctions take to be made (0.5x to 1.5x). */
    uint64_t span = (uint64_t)NX_IN_FLIGHT_AUCTIONS * NX_DENOM / NX_AUCTION_PROP;
    uint64_t events = span / 2 + next_rng(&rng) % span;
    put_i64(w, 6, (int64_t)((uint64_t)t + events * o->event_interval_ns));
    int64_t seller = next_rng(&rng) % NX_HOT_SELLER_RATIO > 0
                         ? last_person(n) / NX_HOT_SPACING * NX_HOT_SPACING
                         : pick_person(n, &rng);
    put_i64(w, 7, seller + NX_FIRST_PERSON_ID);
    put_i64(w, 8, NX_FIRST_CATEGORY_ID + (int64_t)(next_rng(&rng) % NX_CATEGORIES));
}

_Static_assert(NX_HOT_AUCTION_RATIO == 2 && NX_HOT_BIDDER_RATIO == 4,
               "make_bid takes the hot choices from bits of one draw");

static void make_bid(const struct spate_generator_opts *o, uint64_t n, int64_t t, struct out *w) {
    uint64_t rng = event_rng(o, n);
    /* One draw for the small choices: hot auction (1 bit), hot bidder (2 bits), hot channel
     * (1 bit) and which (2 bits), the price's decade (16 bits) and the channel number (24). */
    uint64_t bits = next_rng(&rng);
    int64_t auction = (bits & (NX_HOT_AUCTION_RATIO - 1)) != 0
                          ? last_auction(n) / NX_HOT_SPACING * NX_HOT_SPACING
                          : pick_auction(n, &rng);
    put_i64(w, 0, auction + NX_FIRST_AUCTION_ID);
    /* Beam's hot bidders are 100k + 1: kept, but never a person not yet made. */
    int64_t bidder =
        (bits >> 1 & (NX_HOT_BIDDER_RATIO - 1)) != 0
            ? SP_MIN(last_person(n) / NX_HOT_SPACING * NX_HOT_SPACING + 1, last_person(n))
            : pick_person(n, &rng);
    put_i64(w, 1, bidder + NX_FIRST_PERSON_ID);
    put_i64(w, 2, pick_price(&rng, (bits >> 8 & 0xffff) % 6));
    if ((bits >> 3 & 1) != 0) {
        put_static(w, 3, &hot_channels[bits >> 4 & 3]);
    } else {
        char name[16] = "channel-"; /* "channel-%u", without snprintf's cost */
        uint32_t len = 8, id = (uint32_t)((bits >> 24 & 0xffffff) % NX_CHANNELS), div = 1;
        while (div * 10 <= id)
            div *= 10;
        for (; div > 0; div /= 10)
            name[len++] = (char)('0' + id / div % 10);
        put_view(w, 3, name, len);
    }
    put_i64(w, 4, t);
}

static void make_ysb(const struct spate_generator_opts *o, uint64_t n, int64_t t, struct out *w) {
    uint64_t rng = event_rng(o, n);
    put_i64(w, 0, (int64_t)(next_rng(&rng) % YSB_USERS));
    put_i64(w, 1, (int64_t)(next_rng(&rng) % YSB_PAGES));
    put_i64(w, 2, (int64_t)(next_rng(&rng) % o->keys));
    put_static(w, 3, &ad_types[next_rng(&rng) % COUNT_OF(ad_types)]);
    put_static(w, 4, &event_types[next_rng(&rng) % COUNT_OF(event_types)]);
    put_i64(w, 5, t);
    put_i64(w, 6, (int64_t)(next_rng(&rng) & 0xffffffffu));
}

/* Make the rows of events [*next, end), at most max_rows; *next moves past the events used. */
static uint64_t fill_upto(const struct spate_generator_opts *o, uint64_t *next, uint64_t end,
                          uint64_t max_rows, struct out *w) {
    uint64_t lo, prop, n = *next;
    kind_span(o->kind, &lo, &prop);
    for (; n < end && w->row < max_rows; n++) {
        uint64_t off = n % NX_DENOM;
        if (off < lo || off >= lo + prop)
            continue;
        /* Unsigned: times past 2262 wrap instead of overflowing. */
        int64_t t = (int64_t)((uint64_t)o->first_event_ns + n * o->event_interval_ns);
        switch (o->kind) {
        case SPATE_GENERATOR_KEYED: {
            uint64_t rng = event_rng(o, n);
            put_i64(w, 0, (int64_t)(next_rng(&rng) % o->keys));
            put_i64(w, 1, (int64_t)(next_rng(&rng) % 100));
            break;
        }
        case SPATE_GENERATOR_YSB:
            make_ysb(o, n, t, w);
            break;
        case SPATE_GENERATOR_NEXMARK_PERSON:
            make_person(o, n, t, w);
            break;
        case SPATE_GENERATOR_NEXMARK_AUCTION:
            make_auction(o, n, t, w);
            break;
        default:
            make_bid(o, n, t, w);
            break;
        }
        w->row++;
    }
    *next = n;
    return w->row;
}

/* ---- Public, pure functions ---- */

static bool typed_kind(const struct spate_generator_opts *o) {
    return o != NULL && o->kind >= SPATE_GENERATOR_KEYED && o->kind <= SPATE_GENERATOR_NEXMARK_BID;
}

static spate_status check_typed(const struct spate_generator_opts *o, const char *what,
                                struct spate_error *err) {
    if (!typed_kind(o))
        return sp_error_set(err, EINVAL,
                            "%s: a typed generator kind (KEYED, YSB, NEXMARK_*) "
                            "is needed",
                            what);
    if ((o->kind == SPATE_GENERATOR_KEYED || o->kind == SPATE_GENERATOR_YSB) && o->keys == 0)
        return sp_error_set(err, EINVAL, "%s: keys must be at least 1", what);
    return SPATE_OK;
}

spate_status spate_generator_columns(const struct spate_generator_opts *opts,
                                     const struct spate_column_def **columns, uint32_t *num_columns,
                                     struct spate_error *err) {
    if (opts == NULL || columns == NULL || num_columns == NULL)
        return sp_error_set(err, EINVAL, "generator_columns: NULL argument");
    static const struct spate_column_def text_cols[] = {{"value", SPATE_TYPE_STRING}};
    switch (opts->kind) {
    case SPATE_GENERATOR_TEXT:
        *columns = text_cols, *num_columns = 1;
        return SPATE_OK;
    case SPATE_GENERATOR_KEYED:
        *columns = keyed_cols, *num_columns = COUNT_OF(keyed_cols);
        return SPATE_OK;
    case SPATE_GENERATOR_YSB:
        *columns = ysb_cols, *num_columns = COUNT_OF(ysb_cols);
        return SPATE_OK;
    case SPATE_GENERATOR_NEXMARK_PERSON:
        *columns = person_cols, *num_columns = COUNT_OF(person_cols);
        return SPATE_OK;
    case SPATE_GENERATOR_NEXMARK_AUCTION:
        *columns = auction_cols, *num_columns = COUNT_OF(auction_cols);
        return SPATE_OK;
    case SPATE_GENERATOR_NEXMARK_BID:
        *columns = bid_cols, *num_columns = COUNT_OF(bid_cols);
        return SPATE_OK;
    }
    return sp_error_set(err, EINVAL, "generator_columns: unknown kind %d", (int)opts->kind);
}

uint64_t spate_generator_rows(const struct spate_generator_opts *opts, uint64_t first,
                              uint64_t count) {
    if (!typed_kind(opts) || count > UINT64_MAX - first)
        return 0;
    if (!is_nexmark(opts->kind))
        return count;
    return rows_below(opts->kind, first + count) - rows_below(opts->kind, first);
}

/* String bytes one row of kind k may need. */
static uint64_t row_string_bytes(enum spate_generator_kind k) {
    return k == SPATE_GENERATOR_NEXMARK_PERSON    ? NX_PERSON_BYTES
           : k == SPATE_GENERATOR_NEXMARK_AUCTION ? NX_AUCTION_BYTES
                                                  : 0;
}

uint64_t spate_generator_bytes(const struct spate_generator_opts *opts, uint64_t count) {
    if (!typed_kind(opts))
        return 0;
    uint64_t lo, prop;
    kind_span(opts->kind, &lo, &prop);
    return (count / NX_DENOM + 1) * prop * row_string_bytes(opts->kind);
}

spate_status spate_generator_fill(const struct spate_generator_opts *opts, uint64_t first,
                                  uint64_t count, struct spate_column_data *columns, char *bytes,
                                  uint64_t bytes_cap, uint64_t *rows, struct spate_error *err) {
    SPATE_RETURN_NOT_OK(check_typed(opts, "generator_fill", err));
    if (rows == NULL || (columns == NULL && count > 0) || count > UINT64_MAX - first)
        return sp_error_set(err, EINVAL,
                            "generator_fill: NULL columns or rows, or a range "
                            "past 2^64");
    uint64_t need = spate_generator_bytes(opts, count);
    if (need > 0 && (bytes == NULL || bytes_cap < need))
        return sp_error_set(err, EINVAL,
                            "generator_fill: %" PRIu64 " bytes of string data are needed", need);
    const struct spate_column_def *defs;
    uint32_t ncols;
    SPATE_RETURN_NOT_OK(spate_generator_columns(opts, &defs, &ncols, err));
    void *cols[SP_MAX_COLUMNS];
    for (uint32_t c = 0; c < ncols && count > 0; c++) {
        if (columns[c].data == NULL)
            return sp_error_set(err, EINVAL, "generator_fill: column %u has no data", c);
        cols[c] = (void *)(uintptr_t)columns[c].data;
        columns[c].validity = NULL;
    }
    struct out w = {cols, 0, bytes, 0};
    uint64_t next = first;
    *rows = count > 0 ? fill_upto(opts, &next, first + count, UINT64_MAX, &w) : 0;
    return SPATE_OK;
}

/* ---- The stream: a thread that makes queue items ---- */

enum {
    ITEM_EVENTS = 16384,    /* events per item (a partition): 8 chunks of keyed rows at the default
                               chunk size, enough to amortize its region; persons and auctions
                               of as many events, so that streams of one sequence keep pace
                               and a person stream does not come in lumps of thousands */
    ITEM_BLOCK = 64u << 10, /* first block of an item's region (the item, small strings) */
    ITEM_WAIT_NS = 5000000  /* rate limit: an item at least every 5 ms (a partial one) */
};

struct sp_tgen {
    struct spate_generator_opts o;
    struct sp_input *in;
    uint64_t col_bytes; /* column bytes of a row */
    pthread_t thread;
    bool started, joined;
    _Atomic bool stop;
    _Atomic uint64_t outstanding; /* memory of the items made and not yet released */
    _Atomic uint64_t bytes, blocked_ns;
};

static void nap(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* An item with the rows of events [*next, end); NULL on ENOMEM. */
static struct sp_queue_item *make_item(struct sp_tgen *g, uint64_t *next, uint64_t end) {
    const struct sp_schema *s = &g->in->ds->schema;
    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, ITEM_BLOCK); /* chunks: blocks of their own */
    struct sp_queue_item *item = sp_region_alloc(&r, sizeof(*item), 64);
    if (item == NULL)
        goto oom;
    memset(item, 0, sizeof(*item));
    item->arrival_ns = sp_now_ns(); /* before its first row: its records' latency errs long */
    item->batch = sp_batch_new(&r, s, 1, 0);
    if (item->batch == NULL)
        goto oom;
    uint64_t string_bytes = row_string_bytes(g->o.kind) * SPATE_CHUNK_ROWS;
    while (*next < end) {
        struct sp_chunk *ch = sp_chunk_new(&r, s);
        char *bytes = string_bytes > 0 ? sp_region_alloc(&r, string_bytes, 8) : NULL;
        if (ch == NULL || (string_bytes > 0 && bytes == NULL))
            goto oom;
        void *cols[SP_MAX_COLUMNS];
        for (uint32_t c = 0; c < s->ncols; c++)
            cols[c] = sp_col_data(ch, c);
        struct out w = {cols, 0, bytes, 0};
        uint64_t rows = fill_upto(&g->o, next, end, SPATE_CHUNK_ROWS, &w);
        if (rows == 0)
            break;
        ch->view.rows = (uint32_t)rows;
        if (sp_part_append(&r, &item->batch->parts[0], ch) != SPATE_OK)
            goto oom;
        item->rows += rows;
        atomic_fetch_add_explicit(&g->bytes, rows * g->col_bytes + w.used, memory_order_relaxed);
    }
    item->bytes = r.used + ITEM_BLOCK; /* what the item holds, at most */
    item->region = r;
    return item;
oom:
    sp_region_destroy(&r);
    return NULL;
}

static void *tgen_main(void *arg) {
    struct sp_tgen *g = arg;
    pthread_setname_np(pthread_self(), "spate-gen");
    const struct spate_generator_opts *o = &g->o;
    int64_t start = sp_now_ns();
    uint64_t made = 0, last_bytes = ITEM_BLOCK;
    int64_t last_item = start; /* rate limit: when the last item was made */
    while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
        if (o->max_lines > 0 && made >= o->max_lines)
            break;
        uint64_t burst = ITEM_EVENTS;
        if (o->lines_per_second > 0) { /* open loop: what the schedule says is due by now */
            int64_t now = sp_now_ns();
            uint64_t due =
                (uint64_t)((double)(now - start) * 1e-9 * (double)o->lines_per_second) + 1;
            if (o->max_lines > 0)
                due = SP_MIN(due, o->max_lines);
            /* Wait for a full item, ITEM_WAIT_NS at most: an item per event would cost a
             * region and a chunk each at low rates. */
            bool full = due - SP_MIN(due, made) >= ITEM_EVENTS || due == o->max_lines;
            if (due <= made || (!full && now - last_item < ITEM_WAIT_NS)) {
                nap(200000);
                continue;
            }
            burst = SP_MIN(burst, due - made);
            last_item = now;
        }
        if (o->max_lines > 0)
            burst = SP_MIN(burst, o->max_lines - made);
        /* Room under the bound, or wait (one item always goes when nothing is outstanding). */
        uint64_t need = last_bytes; /* the next item is about as big as the last */
        int64_t t0 = 0;
        long backoff = 20000;
        while (atomic_load(&g->outstanding) > 0 &&
               atomic_load(&g->outstanding) + need > o->ring_bytes && !atomic_load(&g->stop)) {
            if (t0 == 0)
                t0 = sp_now_ns();
            nap(backoff);
            backoff = backoff < 1000000 ? backoff * 2 : backoff;
        }
        if (t0 != 0)
            atomic_fetch_add_explicit(&g->blocked_ns, (uint64_t)(sp_now_ns() - t0),
                                      memory_order_relaxed);
        if (atomic_load(&g->stop))
            break;
        uint64_t next = made;
        struct sp_queue_item *item = make_item(g, &next, made + burst);
        if (item == NULL) {
            nap(1000000); /* out of memory: try again (the stream's rows stay exact) */
            continue;
        }
        if (o->lines_per_second > 0) { /* open loop: dated when its first event was due, so
                                        * that the gathering and any wait count as latency */
            int64_t due_ns = start + (int64_t)((double)made * 1e9 / (double)o->lines_per_second);
            item->arrival_ns = SP_MIN(item->arrival_ns, due_ns);
        }
        made = next;
        if (item->rows == 0) {
            sp_queue_item_free(item);
            continue;
        }
        last_bytes = item->bytes;
        atomic_fetch_add(&g->outstanding, last_bytes);
        if (sp_input_put_item(g->in, item) != SPATE_OK) { /* stopped: freed there */
            atomic_fetch_sub(&g->outstanding, last_bytes);
            break;
        }
    }
    return NULL;
}

static spate_status tgen_start(void *user, spate_receiver *receiver, struct spate_error *err) {
    (void)receiver;
    struct sp_tgen *g = user;
    int e = pthread_create(&g->thread, NULL, tgen_main, g);
    if (e != 0)
        return sp_error_set(err, EIO, "generator: cannot start its thread: %s", strerror(e));
    g->started = true;
    return SPATE_OK;
}

static void tgen_stop(void *user) {
    struct sp_tgen *g = user;
    if (!g->started || g->joined)
        return;
    atomic_store(&g->stop, true);
    pthread_join(g->thread, NULL);
    g->joined = true;
}

struct spate_dstream *sp_tgen_stream(spate_context *ctx, const struct spate_generator_opts *opts,
                                     struct spate_error *err) {
    if (check_typed(opts, "generator_stream", err) != SPATE_OK)
        return NULL;
    if (opts->ring_bytes < 65536 || opts->ring_bytes > (1u << 30)) {
        sp_error_set(err, EINVAL, "generator_stream: ring_bytes 64 KiB..1 GiB");
        return NULL;
    }
    const struct spate_column_def *defs;
    uint32_t ncols;
    if (spate_generator_columns(opts, &defs, &ncols, err) != SPATE_OK)
        return NULL;
    struct sp_tgen *g = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*g), 64);
    if (g == NULL) {
        sp_error_set(err, ENOMEM, "generator_stream: out of memory");
        return NULL;
    }
    g->o = *opts;
    for (uint32_t c = 0; c < ncols; c++)
        g->col_bytes += sp_type_width(defs[c].type);
    struct spate_receiver_ops ops = {tgen_start, tgen_stop, g};
    spate_dstream *ds = spate_context_receiver_stream(ctx, defs, ncols, &ops, err);
    if (ds == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, g, sizeof(*g));
        return NULL;
    }
    g->in = ds->input;
    ds->input->tgen = g;
    return ds;
}

void sp_tgen_release(struct sp_tgen *g, uint64_t bytes) {
    atomic_fetch_sub(&g->outstanding, bytes);
}

void sp_tgen_stats(const struct sp_tgen *g, uint64_t *bytes, uint64_t *blocked_ns) {
    *bytes = atomic_load(&g->bytes);
    *blocked_ns = atomic_load(&g->blocked_ns);
}

void sp_tgen_destroy(struct sp_tgen *g) {
    if (g == NULL)
        return;
    tgen_stop(g);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, g, sizeof(*g));
}
