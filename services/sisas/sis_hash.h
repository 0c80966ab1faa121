/*  sis_hash — the hash SISAS's tables use (sources, fusion groups, types).

    A 64-bit multiply-mix hash over 8-byte words (wyhash's mixing step),
    fast on short keys and well spread. Not cryptographic: a hostile
    publisher can collide keys, which costs probe length, never
    correctness (every table compares the key bytes exactly after the
    hash matches) and never memory (every table is bounded).
*/
#ifndef SIS_HASH_H_INCLUDED
#define SIS_HASH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t
sis_hash_mix (uint64_t a, uint64_t b)
{
    __uint128_t product = (__uint128_t) a * b;
    return (uint64_t) product ^ (uint64_t) (product >> 64);
}

//  Hashes size bytes at data, continuing from seed (chain calls to hash
//  several fields: the seed of the next is the result of the previous).
static inline uint64_t
sis_hash_bytes (const void *data, size_t size, uint64_t seed)
{
    const uint8_t *bytes = (const uint8_t *) data;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL ^ ((uint64_t) size * 0xa0761d6478bd642fULL);
    while (size >= 8) {
        uint64_t word;
        memcpy (&word, bytes, 8);
        h = sis_hash_mix (h ^ word ^ 0xe7037ed1a0b428dbULL, 0x8ebc6af09c88c6e3ULL);
        bytes += 8;
        size -= 8;
    }
    uint64_t tail = 0;
    if (size > 0)
        memcpy (&tail, bytes, size);
    h = sis_hash_mix (h ^ tail ^ 0x589965cc75374cc3ULL, 0x1d8e4e27c47d124fULL);
    return h ^ (h >> 29);
}

#endif
