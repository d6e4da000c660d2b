/*
 * tests/fuzz/driver.c - runs a libFuzzer target without libFuzzer, so that
 * every build tree (release, ASan+UBSan, TSan, tiny chunks) replays it under
 * CTest: each file of the seed corpus directory, then a fixed number of
 * pseudo-random inputs (deterministic: the same inputs every run), some
 * made by mutating corpus files. Built with -DSPATE_FUZZ=ON and clang, the
 * targets link libFuzzer instead and this file is not used.
 *
 *   fuzz_<name> <corpus-dir> [random-inputs]
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

enum { FUZZ_MAX_INPUT = 1 << 16, FUZZ_MAX_SEEDS = 64 };

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <corpus-dir> [random-inputs]\n", argv[0]);
        return 2;
    }
    long randoms = argc > 2 ? atol(argv[2]) : 2000;
    static uint8_t seeds[FUZZ_MAX_SEEDS][4096];
    static size_t seed_len[FUZZ_MAX_SEEDS];
    int nseeds = 0, files = 0;
    DIR *d = opendir(argv[1]);
    if (d == NULL) {
        fprintf(stderr, "%s: cannot open corpus %s\n", argv[0], argv[1]);
        return 2;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        static uint8_t buf[FUZZ_MAX_INPUT];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        files++;
        if (nseeds < FUZZ_MAX_SEEDS) {
            seed_len[nseeds] = n < sizeof(seeds[0]) ? n : sizeof(seeds[0]);
            memcpy(seeds[nseeds], buf, seed_len[nseeds]);
            nseeds++;
        }
    }
    closedir(d);
    uint64_t s = 12345;
    static uint8_t in[FUZZ_MAX_INPUT];
    /* Bytes drawn mostly from the characters that matter to text parsers. */
    static const uint8_t alphabet[] = {' ', '\n', '\r', '\t', '\v', '\f', 'a', 'b',
                                       'z', '0',  0,    0x80, 0xff, '\n', ' ', 'x'};
    for (long i = 0; i < randoms; i++) {
        size_t n;
        if (nseeds > 0 && i % 2 == 0) { /* mutate a seed */
            int k = (int)(rng(&s) % (uint64_t)nseeds);
            n = seed_len[k];
            memcpy(in, seeds[k], n);
            for (int m = 0; m < 1 + (int)(rng(&s) % 8) && n > 0; m++)
                in[rng(&s) % n] = alphabet[rng(&s) % sizeof(alphabet)];
        } else {
            n = (size_t)(rng(&s) % 3000);
            for (size_t j = 0; j < n; j++)
                in[j] = rng(&s) % 4 == 0 ? (uint8_t)rng(&s) : alphabet[rng(&s) % sizeof(alphabet)];
        }
        LLVMFuzzerTestOneInput(in, n);
    }
    printf("%s: %d corpus files and %ld generated inputs, no failure\n", argv[0], files, randoms);
    return 0;
}
