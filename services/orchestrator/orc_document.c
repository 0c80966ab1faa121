/*  orc_document — see orc_document.h. */
#include "orc_document.h"
#include "fac_exec.h"
#include "ff_utf8.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct orc_document {
    fac_exec_t *exec;               // the converter
    char temp_path [64];            // PDF bytes written here for it; "" = none
    orc_document_done_fn *done;
    void *arg;
    size_t max_bytes;
};

void
orc_document_digest (const void *data, size_t size, char *digest)
{
    static const char hex [] = "0123456789abcdef";
    uint8_t hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const uint8_t *) data, size);
    memcpy (digest, "sha256:", 7);
    for (size_t i = 0; i < sizeof hash; i++) {
        digest [7 + 2 * i] = hex [hash [i] >> 4];
        digest [8 + 2 * i] = hex [hash [i] & 15];
    }
    digest [7 + 2 * sizeof hash] = '\0';
}

static bool
s_is_pdf (const void *data, size_t size, const char *media_type)
{
    if (media_type && *media_type)
        return strcmp (media_type, "application/pdf") == 0;
    return size >= 5 && memcmp (data, "%PDF-", 5) == 0;
}

//  Reads a whole file (at most max_bytes). NULL with the reason in err.
static char *
s_read_file (const char *path, size_t max_bytes, size_t *size, char *err, size_t err_size)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (err, err_size, "document %s: %s", path, strerror (errno));
        return NULL;
    }
    char *data = NULL;
    if (fseek (file, 0, SEEK_END) == 0) {
        long length = ftell (file);
        if (length < 0)
            snprintf (err, err_size, "document %s: %s", path, strerror (errno));
        else
        if ((size_t) length > max_bytes)
            snprintf (err, err_size, "document %s: %ld bytes exceeds the limit of %zu", path,
                      length, max_bytes);
        else {
            rewind (file);
            data = (char *) malloc ((size_t) length + 1);
            *size = data ? fread (data, 1, (size_t) length, file) : 0;
            if (data)
                data [*size] = '\0';
            else
                snprintf (err, err_size, "document %s: out of memory", path);
        }
    }
    fclose (file);
    return data;
}

//  Hands text to done if it is acceptable; the reason otherwise.
static void
s_deliver (orc_document_done_fn *done, void *arg, char *text, size_t size, size_t max_bytes)
{
    char reason [160] = "";
    if (size == 0)
        snprintf (reason, sizeof reason, "the document has no text");
    else
    if (size > max_bytes)
        snprintf (reason, sizeof reason, "the document's text is %zu bytes, over the limit of %zu",
                  size, max_bytes);
    else {
        size_t bad = ff_utf8_check ((const uint8_t *) text, size, true);
        if (bad)
            snprintf (reason, sizeof reason, "the document is not UTF-8 text (byte %zu); "
                      "submit text or a PDF", bad - 1);
    }
    if (*reason) {
        free (text);
        done (arg, NULL, 0, NULL, reason);
        return;
    }
    char digest [72];
    orc_document_digest (text, size, digest);
    done (arg, text, size, digest, NULL);
}

static void
s_converted (void *arg, fac_exec_status_t status, json_t *output, const char *reason,
             uint64_t duration_us)
{
    (void) duration_us;
    orc_document_t *self = (orc_document_t *) arg;
    self->exec = NULL;
    if (*self->temp_path)
        unlink (self->temp_path);
    if (status != FAC_EXEC_OK) {
        char why [320];
        snprintf (why, sizeof why, "pdftotext: %s", reason ? reason : "failed");
        self->done (self->arg, NULL, 0, NULL, why);
    }
    else {
        size_t size = json_string_length (output);
        char *text = (char *) malloc (size + 1);
        if (text) {
            memcpy (text, json_string_value (output), size);
            text [size] = '\0';
            s_deliver (self->done, self->arg, text, size, self->max_bytes);
        }
        else
            self->done (self->arg, NULL, 0, NULL, "out of memory converting the document");
    }
    json_decref (output);
    free (self);
}

int
orc_document_start (zloop_t *loop, const orc_document_options_t *options,
                    const void *data, size_t size, const char *path, const char *media_type,
                    orc_document_done_fn *done, void *arg, orc_document_t **handle,
                    char *err, size_t err_size)
{
    *handle = NULL;
    char *owned = NULL;
    if (!data || size == 0) {
        if (!path || !*path) {
            snprintf (err, err_size, "no document: send its bytes or a path");
            return -1;
        }
        owned = s_read_file (path, options->max_bytes, &size, err, err_size);
        if (!owned)
            return -1;
        data = owned;
    }
    if (size > options->max_bytes) {
        snprintf (err, err_size, "document of %zu bytes exceeds the limit of %zu",
                  size, options->max_bytes);
        free (owned);
        return -1;
    }
    if (!s_is_pdf (data, size, media_type)) {
        char *text = owned ? owned : (char *) malloc (size + 1);
        if (!text) {
            snprintf (err, err_size, "out of memory");
            return -1;
        }
        if (!owned) {
            memcpy (text, data, size);
            text [size] = '\0';
        }
        s_deliver (done, arg, text, size, options->max_bytes);
        return 1;
    }

    orc_document_t *self = (orc_document_t *) calloc (1, sizeof (orc_document_t));
    if (!self) {
        snprintf (err, err_size, "out of memory");
        free (owned);
        return -1;
    }
    self->done = done;
    self->arg = arg;
    self->max_bytes = options->max_bytes;
    //  pdftotext reads a file: the given path as it is, bytes through a
    //  temporary one.
    const char *input = path && *path && owned ? path : NULL;
    if (!input) {
        snprintf (self->temp_path, sizeof self->temp_path, "/tmp/farfan-document-XXXXXX");
        int fd = mkstemp (self->temp_path);
        bool written = fd >= 0 && write (fd, data, size) == (ssize_t) size;
        if (fd >= 0)
            close (fd);
        if (!written) {
            snprintf (err, err_size, "cannot write the PDF for pdftotext: %s", strerror (errno));
            if (fd >= 0)
                unlink (self->temp_path);
            free (self);
            free (owned);
            return -1;
        }
        input = self->temp_path;
    }
    const char *argv [] = { options->pdftotext, "-layout", "-enc", "UTF-8", input, "-", NULL };
    fac_exec_options_t exec = {
        .argv = argv,
        .timeout_ms = options->timeout_ms,
        .output_cap = options->max_bytes,
        .raw_output = true,
    };
    self->exec = fac_exec_start (loop, &exec, s_converted, self, err, err_size);
    free (owned);
    if (!self->exec) {
        if (*self->temp_path)
            unlink (self->temp_path);
        free (self);
        return -1;
    }
    *handle = self;
    return 0;
}

void
orc_document_cancel (orc_document_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    orc_document_t *self = *self_p;
    fac_exec_cancel (&self->exec);
    if (*self->temp_path)
        unlink (self->temp_path);
    free (self);
    *self_p = NULL;
}
