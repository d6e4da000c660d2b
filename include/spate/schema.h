/*
 * spate/schema.h - column types and the 16-byte string view.
 *
 * A stream has a schema: named, typed columns. Strings are 16-byte views:
 * length, a 4-byte prefix, then either the remaining inline bytes (length up
 * to 12) or a pointer to the bytes, so that comparisons and hashing of short
 * keys need not chase pointers.
 */
#ifndef SPATE_SCHEMA_H
#define SPATE_SCHEMA_H

#include "spate/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum spate_type {
    SPATE_TYPE_I64 = 1,       /* int64_t */
    SPATE_TYPE_F64 = 2,       /* double */
    SPATE_TYPE_BOOL = 3,      /* uint8_t, 0 or 1 */
    SPATE_TYPE_TIMESTAMP = 4, /* int64_t nanoseconds since the epoch */
    SPATE_TYPE_STRING = 5,    /* struct spate_string */
    /* struct spate_list of values of one scalar type (what group_by_key makes) */
    SPATE_TYPE_LIST_I64 = 17,
    SPATE_TYPE_LIST_F64 = 18,
    SPATE_TYPE_LIST_BOOL = 19,
    SPATE_TYPE_LIST_TIMESTAMP = 20,
    SPATE_TYPE_LIST_STRING = 21
};

/* Whether t is a list type; the item type of list type t; the list type of scalar type t. */
#define SPATE_TYPE_IS_LIST(t) ((((int)(t)) & 16) != 0)
#define SPATE_LIST_ELEM(t) ((enum spate_type)(((int)(t)) & 15))
#define SPATE_LIST_OF(t) ((enum spate_type)(((int)(t)) | 16))

#define SPATE_STRING_INLINE 12 /* strings up to this length are stored in the view */

/* A string view. Use spate_string_data() to reach the bytes. */
struct spate_string {
    uint32_t len;   /* length in bytes; NUL bytes are allowed inside */
    char prefix[4]; /* first bytes (zero padded) */
    union {
        const char *ptr; /* len > 12: all len bytes, borrowed from the batch */
        char inlined[8]; /* len <= 12: bytes 4..11 */
    } u;
};

/*
 * A list of values of one scalar type (SPATE_LIST_ELEM of the column's type): what group_by_key
 * and cogroup produce, Spark's Iterable[V]. items points at len values
 * (int64_t, double, uint8_t or struct spate_string); bit i of validity (NULL
 * = no nulls) says whether item i is valid. Borrowed from the batch. Lists
 * are made by the engine only: queue pushes, writers and builders take none.
 */
struct spate_list {
    uint32_t len;
    uint32_t null_count;
    const void *items;
    const uint64_t *validity;
};

/* The bytes of s (not NUL-terminated); valid as long as s and its batch. */
SPATE_API const char *spate_string_data(const struct spate_string *s);

/* Name of a type ("i64", "f64", "bool", "timestamp", "string"). Static. */
SPATE_API const char *spate_type_name(enum spate_type type);

/* A column declaration. */
struct spate_column_def {
    const char *name;
    enum spate_type type;
};

#ifdef __cplusplus
}
#endif

#endif /* SPATE_SCHEMA_H */
