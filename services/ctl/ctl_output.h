/*  ctl_output — farfanctl's machine output: protobuf replies as JSON.

    Any decoded protobuf-c message becomes a jansson object by walking its
    descriptor, so --json carries every field of a reply exactly as the
    service sent it, including zeros and empty lists (a stable shape for
    scripts). The mapping is proto3's JSON mapping with these choices:
      - field names as written in the .proto (snake_case), not lowerCamel;
      - 64-bit integers as JSON numbers, not strings (every figure a
        service sends fits a double's exact range in practice; a uint64
        above 2^63 - 1 becomes a real);
      - enums by value name ("RESULT_OK");
      - bytes as base64; a double that is NaN or infinite as null;
      - a string that is not valid UTF-8 gets '?' for each bad byte.
*/
#ifndef CTL_OUTPUT_H_INCLUDED
#define CTL_OUTPUT_H_INCLUDED

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

//  The message as a new JSON object (caller json_decref's). A NULL
//  message gives JSON null. Never NULL (aborts on out of memory).
json_t *
    ctl_output_json (const ProtobufCMessage *message);

//  A string as a JSON string, with the UTF-8 repair above. Never NULL.
json_t *
    ctl_output_string (const char *text);

//  Prints value as one line of compact JSON and flushes out (JSON Lines:
//  a consumer can read each line as it comes). Returns 0, or -1 when it
//  could not be written.
int
    ctl_output_json_line (FILE *out, const json_t *value);

//  Writes size bytes at data to path (--out), replacing it. Returns 0, or
//  -1 after printing "<prefix>: --out <path>: <reason>" on stderr and
//  removing a partly written file.
int
    ctl_output_write_file (const char *prefix, const char *path, const void *data, size_t size);

#endif
