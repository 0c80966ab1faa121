/*  orc_document — turns what a client submitted into the run's text.

    A document arrives as bytes or as a path the orchestrator can read;
    text is taken as it is (it must be UTF-8), a PDF (by media type or by
    its "%PDF-" signature) goes through poppler's pdftotext (-layout,
    UTF-8), run by the event loop like any external program (fac_exec): the
    loop keeps serving while a 78-page plan converts, and a converter that
    hangs, fails or prints garbage ends the run's P00 with the reason.
    The result is the text and its digest ("sha256:<hex>", the same digest
    the factories compute).
*/
#ifndef ORC_DOCUMENT_H_INCLUDED
#define ORC_DOCUMENT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orc_document orc_document_t;

//  Called once from the loop. On success text (size bytes, NUL-terminated)
//  and digest are handed over (callee frees text); on failure text is NULL
//  and reason says why.
typedef void (orc_document_done_fn) (void *arg, char *text, size_t size, const char *digest,
                                     const char *reason);

typedef struct {
    const char *pdftotext;      // converter program, absolute path
    uint32_t timeout_ms;        // conversion time limit
    size_t max_bytes;           // largest document (input and text)
} orc_document_options_t;

//  Turns the submission into text: data/size (borrowed for the call) or
//  path; media_type "text/plain", "application/pdf" or "" (by content).
//  Returns
//    1   text: done was called before returning;
//    0   PDF: the conversion runs, *handle set, done comes later from the loop;
//   -1   nothing could start (unreadable path, too large...): reason in
//        err, no callback.
int
    orc_document_start (zloop_t *loop, const orc_document_options_t *options,
                        const void *data, size_t size, const char *path,
                        const char *media_type, orc_document_done_fn *done, void *arg,
                        orc_document_t **handle, char *err, size_t err_size);

//  Stops a conversion (kills the converter); no callback. Nulls *self_p.
void
    orc_document_cancel (orc_document_t **self_p);

//  "sha256:<64 hex>" of data into digest (≥ 72 bytes).
void
    orc_document_digest (const void *data, size_t size, char *digest);

#endif
